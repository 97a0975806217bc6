// Loads and stores of the cell kernels (cells.ts, lstm.ts): scalar ones in float64 (every value
// read widened exactly, every value stored rounded to float32; stFlush stores tiny adjoints as
// zero) and four-lane float32 ones that handle a row's partly filled last vector. Addresses are
// byte offsets; an address of 0 means "absent" (read as zeros) where the Or0 / load4 forms say so.

import { at } from "./common";

@inline export function ld(base: usize, i: i32): f64 {
  return <f64>load<f32>(at(base, <usize>i));
}

@inline export function st(base: usize, i: i32, v: f64): void {
  store<f32>(at(base, <usize>i), <f32>v);
}

/** st, with |v| < 2^−100 stored as 0 (src/kernels/f32-math.ts: flushTiny, the same rule). */
@inline export function stFlush(base: usize, i: i32, v: f64): void {
  store<f32>(at(base, <usize>i), <f32>(Math.abs(v) < 7.888609052210118e-31 ? 0.0 : v));
}

@inline export function ldOr0(base: usize, i: i32): f64 {
  return base == 0 ? 0.0 : ld(base, i);
}

/** Lanes [i, i + n) of a float array (n ≤ 4; missing lanes 0); base 0 gives zeros. */
@inline export function load4(base: usize, i: i32, n: i32): v128 {
  if (base == 0) return f32x4.splat(0);
  const p = at(base, <usize>i);
  if (n == 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Store the first n ≤ 4 lanes of v at element i. */
@inline export function store4(base: usize, i: i32, v: v128, n: i32): void {
  const p = at(base, <usize>i);
  if (n == 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

@inline export function mul(a: v128, b: v128): v128 {
  return f32x4.mul(a, b);
}
@inline export function add(a: v128, b: v128): v128 {
  return f32x4.add(a, b);
}
@inline export function sub(a: v128, b: v128): v128 {
  return f32x4.sub(a, b);
}
