// The elementwise work of a training step around the layers, in plain TypeScript: the twins of
// assembly/train-ops.ts (same operations, same order, so the same bits), used by the TypeScript
// kernels and wherever a kernel set has none. The optimizer updates compute in float64 (JavaScript
// numbers) and store float32; their formulas are PyTorch's (optim/optimizer.ts).
//   countNonzero / firstNonFinite   a[off, off + n)
//   adamUpdate / sgdUpdate          w, g and each moment buffer [n]

import type { FloatArray } from "../core/buffer.js";

export { countNonzero } from "../core/buffer.js";

/** Index (from off) of the first NaN or ±Infinity in a[off, off + n), or −1 when all are finite. */
export function firstNonFinite(a: FloatArray, off: number, n: number): number {
  for (let i = 0; i < n; i++) {
    const x = a[off + i];
    if (x - x !== 0) return i; // NaN for NaN and ±Infinity, 0 for every finite x
  }
  return -1;
}

/**
 * One Adam / AdamW update of n parameters. The scalars are the optimizer's at step t:
 * stepSize = lr / (1 − b1^t), bc2 = √(1 − b2^t), shrink = 1 − lr·wd (AdamW) or 1; wd is added to
 * the gradient unless decoupled.
 */
export interface AdamUpdate {
  w: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
  b1: number;
  b2: number;
  eps: number;
  stepSize: number;
  bc2: number;
  shrink: number;
  wd: number;
  decoupled: boolean;
}

/** One SGD update of n parameters: momentum mu into buf (null: none; `first` starts it at d), coupled decay wd. */
export interface SgdUpdate {
  w: Float32Array;
  g: Float32Array;
  buf: Float32Array | null;
  first: boolean;
  lr: number;
  wd: number;
  mu: number;
}

/** Adam / AdamW (PyTorch's rule), in float64, stored float32. */
export function adamUpdate(u: AdamUpdate): void {
  const { w, g, m, v, b1, b2, eps, stepSize, bc2, shrink, wd, decoupled } = u;
  for (let i = 0; i < w.length; i++) {
    const gi = decoupled ? g[i] : g[i] + wd * w[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    w[i] = w[i] * shrink - (stepSize * m[i]) / (Math.sqrt(v[i]) / bc2 + eps);
  }
}

/** SGD with momentum (PyTorch's rule), in float64, stored float32 (d itself stays float64). */
export function sgdUpdate(u: SgdUpdate): void {
  const { w, g, buf, first, lr, wd, mu } = u;
  for (let i = 0; i < w.length; i++) {
    let d = g[i] + wd * w[i];
    if (buf) d = buf[i] = first ? d : mu * buf[i] + d;
    w[i] -= lr * d;
  }
}

/** Elements per chunk of sumSquares (SQUARES_CHUNK in assembly/train-ops.ts). */
export const SQUARES_CHUNK = 4096;

/**
 * Σ a_i² over a[off, off + n) in float64, in a fixed order that threads can share: chunks of
 * SQUARES_CHUNK elements from off, each summed as four running sums s0…s3 (elements 4k … 4k + 3)
 * combined as (s0 + s1) + (s2 + s3), then its last n mod 4 squares one by one; the chunks' sums then
 * added in order. (The squares of float32 values are exact in float64.)
 */
export function sumSquares(a: FloatArray, off: number, n: number): number {
  let total = 0;
  for (let c0 = 0; c0 < n; c0 += SQUARES_CHUNK) total += chunkSquares(a, off + c0, Math.min(SQUARES_CHUNK, n - c0));
  return total;
}

/** One chunk of sumSquares: a[off, off + len). */
export function chunkSquares(a: FloatArray, off: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = off;
  const end = off + len;
  for (; i + 4 <= end; i += 4) {
    s0 += a[i] * a[i];
    s1 += a[i + 1] * a[i + 1];
    s2 += a[i + 2] * a[i + 2];
    s3 += a[i + 3] * a[i + 3];
  }
  let s = s0 + s1 + (s2 + s3);
  for (; i < end; i++) s += a[i] * a[i];
  return s;
}

/**
 * The number of entries of x [rows, H] (at off) outside the surrogate window of their unit's
 * threshold: |x[r, j] − thr[j]| > support, in float64 (the EGRU layer's backward sparsity).
 */
export function countOutside(
  rows: number,
  H: number,
  x: FloatArray,
  off: number,
  thr: FloatArray,
  support: number,
): number {
  let c = 0;
  for (let r = 0; r < rows; r++) {
    const base = off + r * H;
    // without branches: on events the test goes either way at random
    for (let j = 0; j < H; j++) c += +(Math.abs(x[base + j] - thr[j]) > support);
  }
  return c;
}
