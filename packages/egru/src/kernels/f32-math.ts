// Float32 exp, sigmoid and tanh, one Math.fround per operation: the scalar twins of the
// WebAssembly lanes in assembly/fastmath.ts (same constants, same operations, same order), so the
// TypeScript and WebAssembly kernels give the same bits. About 1 ulp from the exact functions.
// Also the backward passes' flush of tiny adjoints to zero (flushTiny).

const f = Math.fround;

const EXP_LO = f(-87.0);
const EXP_HI = f(88.0);
const LOG2E = f(1.44269504088896341);
const LN2_HI = f(0.693359375);
const LN2_LO = f(-2.1219444e-4);
const P0 = f(1.98756915e-4);
const P1 = f(1.3981999507e-3);
const P2 = f(8.3334519073e-3);
const P3 = f(4.1665795894e-2);
const P4 = f(1.6666665459e-1);
const P5 = f(5.0000001201e-1);
const TANH_SMALL = f(0.25);
const T3 = f(-0.333333333333333333);
const T5 = f(0.133333333333333333);
const T7 = f(-0.053968253968253968);
const T9 = f(0.021869488536155203);

/** Round to the nearest integer, ties to even (WebAssembly's nearest). */
function nearestEven(v: number): number {
  const fl = Math.floor(v);
  const d = v - fl;
  if (d < 0.5) return fl;
  if (d > 0.5) return fl + 1;
  return fl % 2 === 0 ? fl : fl + 1;
}

/** eˣ in float32 arithmetic (x clamped to [−87, 88]). */
export function exp32(x0: number): number {
  const x = Math.min(Math.max(x0, EXP_LO), EXP_HI);
  const n = nearestEven(f(x * LOG2E));
  let r = f(x - f(n * LN2_HI));
  r = f(r - f(n * LN2_LO));
  let p = P0;
  p = f(f(p * r) + P1);
  p = f(f(p * r) + P2);
  p = f(f(p * r) + P3);
  p = f(f(p * r) + P4);
  p = f(f(p * r) + P5);
  let y = f(p * f(r * r));
  y = f(y + r);
  y = f(y + 1);
  return f(y * 2 ** n);
}

/** 1 / (1 + e⁻ˣ) in float32 arithmetic. */
export function sigmoid32(x: number): number {
  return f(1 / f(1 + exp32(-x)));
}

/** tanh x in float32 arithmetic. */
export function tanh32(x: number): number {
  const ax = Math.abs(x);
  if (ax < TANH_SMALL) {
    const x2 = f(x * x);
    let p = T9;
    p = f(f(p * x2) + T7);
    p = f(f(p * x2) + T5);
    p = f(f(p * x2) + T3);
    return f(x + f(f(x * x2) * p));
  }
  const e = exp32(f(ax * -2));
  const t = f(f(1 - e) / f(1 + e));
  return x < 0 ? -t : t;
}

/** Adjoints smaller than this, 2^−100, are stored as zero by the backward passes (flushTiny). */
export const FLUSH_BELOW = 2 ** -100;

/**
 * v, or 0 when |v| < 2^−100. The backward passes store their adjoints through this (so does
 * assembly/cells.ts, with the same rule): gradients carried back over hundreds of steps (sequential
 * MNIST) decay towards the float32 subnormal range (below 2^−126), where x86 SIMD arithmetic, which
 * WebAssembly cannot set to flush-to-zero, runs about seventy times slower (measured: a 25×590×1770
 * product at 0.05 against 3.8 GMAC/s). Flushing at 2^−100 rather than 2^−126 keeps the products of a
 * stored adjoint with any weight of magnitude ≥ 2^−26 out of that range too. The change is below
 * 10⁻³⁰ per value, far under float32 resolution of any gradient it is added to.
 */
export function flushTiny(v: number): number {
  return Math.abs(v) < FLUSH_BELOW ? 0 : v;
}
