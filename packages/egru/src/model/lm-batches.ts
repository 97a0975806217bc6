// Token streams for language-model training (as AWD-LSTM and the EGRU LM code serve them):
// batchify cuts a split's ids into B parallel streams of ⌊N/B⌋ tokens (the remainder is dropped),
// stored time-major [L, B]; a segment of T steps starting at row i reads inputs rows i … i+T−1 and
// targets rows i+1 … i+T; the AWD random BPTT length draws T around the nominal length.

import { ValueError } from "../core/errors.js";
import type { Rng } from "../core/rng.js";
import { checkPositiveInt } from "../core/validate.js";

export interface Streams {
  /** data[t·B + b] = token t of stream b. */
  data: Int32Array; // [L, B]
  /** L: tokens per stream. */
  length: number;
  B: number;
}

/**
 * B streams of ⌊N/B⌋ consecutive tokens each: stream b holds ids[b·L … (b+1)·L − 1]. `argument`
 * names B in errors.
 */
export function batchify(ids: ArrayLike<number>, B: number, argument = "batch size"): Streams {
  checkPositiveInt(argument, B);
  const L = Math.floor(ids.length / B);
  if (L < 2)
    throw new ValueError(
      argument,
      `at most ${Math.floor(ids.length / 2)} for ${ids.length} tokens (each stream needs 2)`,
      String(B),
    );
  const data = new Int32Array(L * B);
  for (let b = 0; b < B; b++) for (let t = 0; t < L; t++) data[t * B + b] = ids[b * L + t];
  return { data, length: L, B };
}

export interface Segment {
  T: number;
  input: Int32Array; // [T, B]
  target: Int32Array; // [T, B]
}

/** The segment of (at most) T steps starting at row i (the last one is shorter). */
export function segment(s: Streams, i: number, T: number): Segment {
  if (!Number.isInteger(i) || i < 0 || i >= s.length - 1)
    throw new ValueError("segment start", `a row in 0…${s.length - 2}`, String(i));
  checkPositiveInt("segment length", T);
  const n = Math.min(T, s.length - 1 - i);
  const B = s.B;
  return { T: n, input: s.data.subarray(i * B, (i + n) * B), target: s.data.subarray((i + 1) * B, (i + 1 + n) * B) };
}

/**
 * AWD's random BPTT length: the nominal `bptt` with probability 0.95, else bptt/2, then
 * max(5, ⌊N(that, 5)⌋) — truncated toward zero as Python's int() does.
 */
export function randomBpttLength(rng: Rng, bptt: number): number {
  const base = rng.uniform() < 0.95 ? bptt : bptt / 2;
  return Math.max(5, Math.trunc(rng.normal(base, 5)));
}
