// Row-wise helpers of the layers around the products, in WebAssembly so that the threaded kernels
// can split them (src/node/threaded-kernels.ts): the bias added to pre-activations, the bias
// gradients' column sums, and the EGRU receive mask. Each mirrors its TypeScript twin operation
// for operation (src/kernels/gemm.ts: addBiasRows, sumRowsInto; src/kernels/egru.ts: receiveMask),
// so both give the same bits, and every output element is computed by one call in a fixed order,
// so blocks of rows (or of columns) on several threads give the bits of one call.

import { at } from "./common";

/** out[rows, cols] += bias[cols] on every row (float32 adds). */
export function addBiasRows(rows: i32, cols: i32, out: usize, bias: usize): void {
  const nv = cols & ~3;
  for (let i = 0; i < rows; i++) {
    const o = at(out, <usize>i * <usize>cols);
    let j = 0;
    for (; j < nv; j += 4) v128.store(at(o, j), f32x4.add(v128.load(at(o, j)), v128.load(at(bias, j))));
    for (; j < cols; j++) store<f32>(at(o, j), load<f32>(at(o, j)) + load<f32>(at(bias, j)));
  }
}

/**
 * Columns [c0, c1) of acc[cols] += Σ_rows m[rows, cols], as the TypeScript sumRowsInto adds them
 * (in float64, stored to float32): four rows at a time as (m0 + m1) + (m2 + m3) into acc, then the
 * rows left one by one.
 */
export function sumRowsColumns(acc: usize, m: usize, rows: i32, cols: i32, c0: i32, c1: i32): void {
  const ld = <usize>cols;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const r0 = at(m, <usize>i * ld);
    const r1 = at(r0, ld);
    const r2 = at(r1, ld);
    const r3 = at(r2, ld);
    for (let j = c0; j < c1; j++) {
      const s = (<f64>load<f32>(at(r0, j)) + <f64>load<f32>(at(r1, j))) + (<f64>load<f32>(at(r2, j)) + <f64>load<f32>(at(r3, j)));
      store<f32>(at(acc, j), <f32>(<f64>load<f32>(at(acc, j)) + s));
    }
  }
  for (; i < rows; i++) {
    const r = at(m, <usize>i * ld);
    for (let j = c0; j < c1; j++) store<f32>(at(acc, j), <f32>(<f64>load<f32>(at(acc, j)) + <f64>load<f32>(at(r, j))));
  }
}

/**
 * The EGRU receive mask of `rows` rows of H units: out = 1 where the unit fired (o ≠ 0) or its
 * surrogate γ·max(0, 1 − s·|c − ϑ|) (in float64) is nonzero, else 0. Returns the number of ones
 * (out 0: only counts them).
 */
export function egruReceiveMask(rows: i32, H: i32, o: usize, c: usize, thr: usize, gamma: f64, support: f64,
  out: usize): i32 {
  // four units at a time, the surrogate's float64 operations two lanes at a time (the same
  // operations in the same order as the scalar lines, so the same ones)
  const nv = H & ~3;
  const s2 = f64x2.splat(support);
  const g2 = f64x2.splat(gamma);
  const one = f64x2.splat(1.0);
  const zero = f64x2.splat(0.0);
  const ones = f32x4.splat(1.0);
  let counts = i32x4.splat(0);
  let count = 0;
  for (let b = 0; b < rows; b++) {
    const base = <usize>b * <usize>H;
    let j = 0;
    for (; j < nv; j += 4) {
      const k = base + <usize>j;
      const cv = v128.load(at(c, k));
      const tv = v128.load(at(thr, <usize>j));
      const on = v128.or(f32x4.ne(v128.load(at(o, k)), f32x4.splat(0)),
        i32x4.shuffle(surrogateOn(cv, tv, s2, g2, one, zero), surrogateOn(i32x4.shuffle(cv, cv, 2, 3, 0, 1),
          i32x4.shuffle(tv, tv, 2, 3, 0, 1), s2, g2, one, zero), 0, 2, 4, 6));
      if (out != 0) v128.store(at(out, k), v128.and(on, ones));
      counts = i32x4.sub(counts, on);
    }
    for (; j < H; j++) {
      const k = base + <usize>j;
      const v = 1.0 - support * Math.abs(<f64>load<f32>(at(c, k)) - <f64>load<f32>(at(thr, <usize>j)));
      const df = v > 0 ? gamma * v : 0.0;
      const on = load<f32>(at(o, k)) != 0 || df != 0;
      if (out != 0) store<f32>(at(out, k), on ? 1 : 0);
      if (on) count++;
    }
  }
  return count + i32x4.extract_lane(counts, 0) + i32x4.extract_lane(counts, 1) + i32x4.extract_lane(counts, 2) +
    i32x4.extract_lane(counts, 3);
}

/**
 * Lanes 0 and 1 of c and thr: all ones (as two i64 lanes) where γ·max(0, 1 − s·|c − ϑ|) ≠ 0, computed
 * in float64 as the scalar lines of egruReceiveMask compute it.
 */
@inline function surrogateOn(c: v128, thr: v128, s: v128, gamma: v128, one: v128, zero: v128): v128 {
  const v = f64x2.sub(one, f64x2.mul(s, f64x2.abs(f64x2.sub(f64x2.promote_low_f32x4(c), f64x2.promote_low_f32x4(thr)))));
  const df = v128.and(f64x2.mul(gamma, v), f64x2.gt(v, zero));
  return f64x2.ne(df, zero);
}
