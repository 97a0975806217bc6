// Int8 weight matrices for inference: symmetric quantisation with one float32 scale per input unit
// or per output unit, and the portable TypeScript product on them.
//
// A matrix W [K, N] of a product out[M, N] = x[M, K] · W (K inputs, N outputs; the layers' own
// layouts vary, the int8 copy is always [K, N]) is stored as
//   values [K, N] int8 in −127 … 127    scales [K] ("input") or [N] ("output"), each ≥ 0
//   W[k, n] ≈ values[k, n] · scales[k]   or   values[k, n] · scales[n]
// with the scale of a row or column = max |W| over it / 127, so |W − dequantised| ≤ scale / 2.
//
// The product (gemmNNi8, the same for the dense and the event path) runs in integers. For each row
// i of x:
//   coef_k = f32(x[i, k] · scales[k]) ("input": the scale folds into the activation) or x[i, k]
//   over the nonzero coef_k (count of them): m = max |coef_k|, lim = min(32767, ⌊(2^31 − 1) /
//     (127 · count)⌋), and each coef_k becomes the integer a_k = round-half-even(coef_k · (lim / m))
//     (float64 arithmetic), so |a_k| ≤ lim: the activations to at least 15 bits (count ≤ 516; 12
//     bits up to 4,128 nonzeros), per row and product, far finer than the weights' 8
//   sum_n  = Σ_k a_k · values[k, n]   exact in int32 (|sum_n| ≤ count · 127 · lim < 2^31)
//   out    = f32(f32(f32(sum_n) · sx) · scales[n]) ("output") or f32(f32(sum_n) · sx) ("input"),
//            sx = f32(m / lim)
// then out[i, n] is written (or added, with `accumulate`: one float32 add). A row with a
// coefficient that is not finite gives NaN in all its outputs. Integer sums do not depend on their
// order, so skipping zeros (the event gather: one int8 row of W per nonzero input), splitting the
// columns over threads and the WebAssembly kernels (assembly/int8.ts, integer dot products on int16
// pairs) all give the same bits, with or without relaxed SIMD.

import type { FloatArray } from "../core/buffer.js";
import { ShapeError, ValueError } from "../core/errors.js";

/** Which units a matrix's scales belong to: its K inputs (rows of [K, N]) or its N outputs (columns). */
export type ScaleAxis = "input" | "output";

/** The scale axes, the default first (chosen by measurement: docs in README.md, "int8 weights"). */
export const SCALE_AXES: readonly ScaleAxis[] = ["output", "input"];

/** The largest magnitude of a quantised value (symmetric: −128 is never produced). */
export const INT8_MAX = 127;

/** An int8 weight matrix [K, N] with its scales (see the header). */
export interface Int8Matrix {
  /** Inputs (rows). */
  readonly K: number;
  /** Outputs (columns). */
  readonly N: number;
  /** [K, N] row-major. */
  readonly values: Int8Array;
  /** [K] ("input") or [N] ("output"). */
  readonly scales: Float32Array;
  readonly axis: ScaleAxis;
}

/** Whether a product operand is an int8 matrix (rather than a float array). */
export function isInt8Matrix(w: unknown): w is Int8Matrix {
  return typeof w === "object" && w !== null && (w as Int8Matrix).values instanceof Int8Array;
}

/** Throw a ValueError naming `name` unless axis is one of SCALE_AXES. */
export function checkScaleAxis(name: string, axis: unknown): asserts axis is ScaleAxis {
  if (!SCALE_AXES.includes(axis as ScaleAxis))
    throw new ValueError(name, SCALE_AXES.map((a) => `"${a}"`).join(" or "), JSON.stringify(axis));
}

/**
 * Check a matrix's parts: K·N values, one scale per unit of its axis, every scale finite and ≥ 0
 * (ShapeError / ValueError naming `name`).
 */
export function checkInt8Matrix(name: string, m: Int8Matrix): void {
  checkScaleAxis(`${name}: axis`, m.axis);
  if (m.values.length !== m.K * m.N)
    throw new ShapeError(`${name}: values`, `K·N = ${m.K}·${m.N} int8 values`, String(m.values.length));
  const units = m.axis === "input" ? m.K : m.N;
  if (m.scales.length !== units)
    throw new ShapeError(`${name}: scales`, `${units} scales (one per ${m.axis} unit)`, String(m.scales.length));
  for (let i = 0; i < units; i++) {
    const s = m.scales[i];
    if (!(Number.isFinite(s) && s >= 0)) throw new ValueError(`${name}: scales`, "finite numbers ≥ 0", `${s} at ${i}`);
  }
}

/** Round half away from zero (symmetric, so W and −W quantise to opposite values). */
const roundHalfAway = (v: number): number => (v < 0 ? -Math.round(-v) : Math.round(v));

/** Quantise w [K, N] (row-major float) with one scale per unit of `axis` (see the header). */
export function quantizeMatrix(w: ArrayLike<number>, K: number, N: number, axis: ScaleAxis): Int8Matrix {
  checkScaleAxis("axis", axis);
  if (w.length !== K * N) throw new ShapeError("w", `K·N = ${K}·${N} values`, String(w.length));
  const perInput = axis === "input";
  const scales = new Float32Array(perInput ? K : N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const a = Math.abs(w[k * N + n]);
      if (!Number.isFinite(a)) throw new ValueError("w", "finite numbers", `${w[k * N + n]} at [${k}, ${n}]`);
      const u = perInput ? k : n;
      if (a > scales[u]) scales[u] = a;
    }
  }
  for (let u = 0; u < scales.length; u++) scales[u] = scales[u] / INT8_MAX;
  const values = new Int8Array(K * N);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const s = scales[perInput ? k : n];
      const q = s > 0 ? roundHalfAway(w[k * N + n] / s) : 0;
      values[k * N + n] = Math.max(-INT8_MAX, Math.min(INT8_MAX, q));
    }
  }
  return { K, N, values, scales, axis };
}

/** The float32 values an int8 matrix stands for, [K, N]: values · scale, rounded to float32. */
export function dequantizeMatrix(m: Int8Matrix): Float32Array {
  const { K, N, values, scales } = m;
  const out = new Float32Array(K * N);
  const perInput = m.axis === "input";
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) out[k * N + n] = values[k * N + n] * scales[perInput ? k : n];
  }
  return out;
}

/** Throw a ShapeError unless `w` is the [K, N] matrix of a product of that shape. */
export function checkProductShape(w: Int8Matrix, K: number, N: number): void {
  if (w.K !== K || w.N !== N) throw new ShapeError("W", `an int8 matrix [K, N] = [${K}, ${N}]`, `[${w.K}, ${w.N}]`);
}

const f = Math.fround;

/**
 * C[M, N] (+)= A[M, K] · W (W int8 [K, N] with its scales, A at aOff, C at cOff), written or added
 * (accumulate): the product of every kernel set on int8 weights. Returns the multiply-accumulates
 * executed, N per nonzero entry of A.
 */
export type Int8Product = (
  M: number,
  N: number,
  K: number,
  A: FloatArray,
  aOff: number,
  W: Int8Matrix,
  C: FloatArray,
  cOff: number,
  accumulate: boolean,
) => number;

/** round-half-even, as WebAssembly's f64.nearest. */
function roundHalfEven(v: number): number {
  const r = Math.round(v); // half up
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The largest integer an activation becomes, and the int32 bound the sums stay within. */
const LIM_MAX = 32767;
const SUM_MAX = 2147483647;

/**
 * Step 2 of the header for one row's nonzero coefficients: writes their integers to `ints` and
 * returns sx (NaN when a coefficient is not finite, 0 when all are 0 or there are none).
 */
function quantiseActivations(coefs: ArrayLike<number>, count: number, ints: Int32Array): number {
  let m = 0;
  for (let e = 0; e < count; e++) m = Math.max(m, Math.abs(coefs[e]));
  if (!(m < Number.POSITIVE_INFINITY)) return Number.NaN;
  if (m === 0) return 0;
  const lim = Math.min(LIM_MAX, Math.floor(SUM_MAX / (127 * count)));
  const inv = lim / m;
  for (let e = 0; e < count; e++) ints[e] = roundHalfEven(coefs[e] * inv);
  return f(m / lim);
}

/** The TypeScript int8 product, as the header describes. */
export const gemmNNi8: Int8Product = (M, N, K, A, aOff, W, C, cOff, accumulate) => {
  checkProductShape(W, K, N);
  const { values: Q, scales } = W;
  const perInput = W.axis === "input";
  const rows = new Int32Array(K);
  const coefs = new Float32Array(K);
  const ints = new Int32Array(K);
  const sum = new Int32Array(N);
  let nonzeros = 0;
  for (let i = 0; i < M; i++) {
    const aRow = aOff + i * K;
    let count = 0;
    for (let k = 0; k < K; k++) {
      const a = A[aRow + k];
      if (a === 0) continue;
      rows[count] = k;
      coefs[count++] = perInput ? a * scales[k] : a;
    }
    nonzeros += count;
    const sx = quantiseActivations(coefs, count, ints);
    sum.fill(0);
    for (let e = 0; e < count; e++) {
      const a = ints[e];
      const qRow = rows[e] * N;
      for (let n = 0; n < N; n++) sum[n] += a * Q[qRow + n];
    }
    const cRow = cOff + i * N;
    for (let n = 0; n < N; n++) {
      let v = f(f(sum[n]) * sx); // (NaN for the whole row when sx is: a non-finite coefficient)
      if (!perInput) v = f(v * scales[n]);
      C[cRow + n] = accumulate ? f(C[cRow + n] + v) : v;
    }
  }
  return nonzeros * N;
};
