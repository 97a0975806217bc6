// The data the model API takes, and how it is cut into batches:
//   sequences  { x [N, T, I] example-major, labels [N], T } → time-major batches x [T, b, I]
//   tokens     { tokens [N] one id stream } → batchSize parallel streams [L, B] (⌊N/B⌋ tokens each,
//              the rest dropped), read in segments of bptt steps: inputs rows i … i+T−1, targets
//              rows i+1 … i+T (as AWD-LSTM and the EGRU LM serve a corpus)

import { ShapeError, ValueError } from "../core/errors.js";
import { checkPositiveInt } from "../core/validate.js";

export interface SequenceData {
  /** [N, T, I]: example n's step t at (n·T + t)·I. */
  x: ArrayLike<number>;
  /** [N] class ids. */
  labels: ArrayLike<number>;
  /** Steps per example. */
  T: number;
}

export interface TokenData {
  /** One stream of token ids. */
  tokens: ArrayLike<number>;
}

/** Check a SequenceData against the input size; returns N. */
export function checkSequenceData(d: SequenceData, I: number): number {
  checkPositiveInt("data.T", d.T);
  const N = d.labels.length;
  if (N === 0) throw new ShapeError("data.labels", "at least one example", "none");
  if (d.x.length !== N * d.T * I)
    throw new ShapeError("data.x", `N·T·I = ${N}·${d.T}·${I} values (example-major)`, String(d.x.length));
  return N;
}

/** Examples `idx` of x [N, T, I] as a time-major batch [T, b, I]. */
export function gatherBatch(x: ArrayLike<number>, T: number, I: number, idx: ArrayLike<number>): Float32Array {
  const b = idx.length;
  const out = new Float32Array(T * b * I);
  for (let j = 0; j < b; j++) {
    for (let t = 0; t < T; t++) {
      const src = (idx[j] * T + t) * I;
      const dst = (t * b + j) * I;
      for (let i = 0; i < I; i++) out[dst + i] = x[src + i];
    }
  }
  return out;
}

/** Labels of `idx`. */
export function gatherLabels(labels: ArrayLike<number>, idx: ArrayLike<number>): Int32Array {
  return Int32Array.from(idx, (k) => labels[k]);
}

/** B parallel streams, time-major [L, B]: stream b holds tokens b·L … (b+1)·L − 1. */
export interface TokenStreams {
  data: Int32Array;
  L: number;
  B: number;
}

export function tokenStreams(tokens: ArrayLike<number>, B: number): TokenStreams {
  checkPositiveInt("batchSize", B);
  const L = Math.floor(tokens.length / B);
  if (L < 2)
    throw new ValueError(
      "batchSize",
      `at most ${Math.floor(tokens.length / 2)} streams for ${tokens.length} tokens`,
      String(B),
    );
  const data = new Int32Array(L * B);
  for (let t = 0; t < L; t++) for (let b = 0; b < B; b++) data[t * B + b] = tokens[b * L + t];
  return { data, L, B };
}

/** The segments of at most `bptt` steps that cover the streams: [start row, T] pairs. */
export function segments(s: TokenStreams, bptt: number): [number, number][] {
  checkPositiveInt("bptt", bptt);
  const out: [number, number][] = [];
  for (let i = 0; i < s.L - 1; i += bptt) out.push([i, Math.min(bptt, s.L - 1 - i)]);
  return out;
}

/** Inputs [T, B] and targets [T, B] of the segment at row i. */
export function segmentAt(s: TokenStreams, i: number, T: number): { input: Int32Array; target: Int32Array } {
  return { input: s.data.subarray(i * s.B, (i + T) * s.B), target: s.data.subarray((i + 1) * s.B, (i + 1 + T) * s.B) };
}
