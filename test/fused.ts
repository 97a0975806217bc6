// Fused multiply-add for the tests of the relaxed-SIMD kernels: fmaf (a·b + c rounded once to
// float32, emulated exactly in float64) and whether a kernel set fuses its multiply-adds on this
// host (the relaxed-SIMD build does where the processor has FMA; the SIMD build never does).

import type { Kernels } from "../packages/egru/src/kernels/backend.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The float32 next to x (a float32 value, finite) towards +∞ (up) or −∞. */
function nextFloat32(x: number, up: boolean): number {
  if (x === 0) return up ? 2 ** -149 : -(2 ** -149);
  f32[0] = x;
  u32[0] += x > 0 === up ? 1 : -1;
  return f32[0];
}

/**
 * a·b + c rounded once to float32 (round to nearest, ties to even) for float32 a, b, c: the product
 * is exact in float64 (48 bits), the sum's float64 rounding error is recovered exactly (TwoSum),
 * and a float64 sum that lies exactly halfway between two float32 values is resolved by that error.
 */
export function fmaf(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  if (!Number.isFinite(s)) return Math.fround(s);
  const bb = s - p;
  const e = p - (s - bb) + (c - bb); // s + e = p + c exactly
  const r = Math.fround(s);
  if (e === 0 || r === s) return r;
  // s is not a float32: the neighbours lo < s < hi; only a tie at their midpoint needs e
  const lo = r < s ? r : nextFloat32(r, false);
  const hi = r > s ? r : nextFloat32(r, true);
  if (s !== (lo + hi) / 2) return r;
  return e > 0 ? hi : lo;
}

/** c + a·b as the SIMD build computes it: a rounded multiply, then a rounded add. */
export function maddf(a: number, b: number, c: number): number {
  return Math.fround(c + Math.fround(a * b));
}

/**
 * Whether kernel set k fuses the multiply-adds of its products: one product of two terms whose
 * second multiply-add, (1 + 2^−12)² − 1, is 2^−11 + 2^−24 fused and 2^−11 when rounded twice.
 */
export function fusesMultiplyAdd(k: Kernels): boolean {
  const x = 1 + 2 ** -12;
  const a = Float32Array.of(-1, x);
  const b = Float32Array.of(1, x);
  const c = new Float32Array(1);
  k.gemmNN(1, 1, 2, a, 0, b, 0, c, 0, false);
  if (c[0] !== 2 ** -11 && c[0] !== 2 ** -11 + 2 ** -24) throw new Error(`fusesMultiplyAdd: unexpected ${c[0]}`);
  return c[0] !== 2 ** -11;
}
