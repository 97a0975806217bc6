// The data the model API takes, and how it is cut into batches:
//   sequences  { x [N, T, I] example-major, labels [N], T } → time-major batches x [T, b, I]
//   tokens     { tokens [N] one id stream } → batchSize parallel streams [L, B] (⌊N/B⌋ tokens each,
//              the rest dropped), read in segments of bptt steps: inputs rows i … i+T−1, targets
//              rows i+1 … i+T (as AWD-LSTM and the EGRU LM serve a corpus)

import { ShapeError } from "../core/errors.js";
import { checkPositiveInt } from "../core/validate.js";
import type { Streams } from "./lm-batches.js";

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

/** The segments of at most `bptt` steps that cover the streams: [start row, T] pairs. */
export function segments(s: Streams, bptt: number): [number, number][] {
  checkPositiveInt("bptt", bptt);
  const out: [number, number][] = [];
  for (let i = 0; i < s.length - 1; i += bptt) out.push([i, Math.min(bptt, s.length - 1 - i)]);
  return out;
}
