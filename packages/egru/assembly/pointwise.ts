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
  let count = 0;
  for (let b = 0; b < rows; b++) {
    const base = <usize>b * <usize>H;
    for (let j = 0; j < H; j++) {
      const k = base + <usize>j;
      const v = 1.0 - support * Math.abs(<f64>load<f32>(at(c, k)) - <f64>load<f32>(at(thr, <usize>j)));
      const df = v > 0 ? gamma * v : 0.0;
      const on = load<f32>(at(o, k)) != 0 || df != 0;
      if (out != 0) store<f32>(at(out, k), on ? 1 : 0);
      if (on) count++;
    }
  }
  return count;
}
