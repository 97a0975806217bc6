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
