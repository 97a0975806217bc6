// The transpose of a matrix, overwriting or added into its destination: the tied decoder's Embᵀ
// [E, V] from the embedding [V, E] once per training step, and its weight gradient, accumulated as
// [E, V] by the event product, added into the embedding's [V, E]. In square tiles, so that reads and
// writes both stay within a few cache lines; each element is one float32 store or add, as in the
// TypeScript twin (src/kernels/row-ops.ts: transposeRowsTs), so both give the same bits.

import { at } from "./common";

const TILE = 16;

/** dst[cols, rows] (+)= src[rows, cols]ᵀ: dst[c·rows + r] = (dst[c·rows + r] +) src[r·cols + c]. */
export function transposeRows(rows: i32, cols: i32, src: usize, dst: usize, accumulate: i32): void {
  transposeRowsBlock(rows, cols, src, dst, accumulate, 0, rows);
}

/**
 * Rows [ra, rb) of src of transposeRows (the columns [ra, rb) of dst): each element as transposeRows
 * writes it, so blocks on different threads give the bits of one call.
 */
export function transposeRowsBlock(rows: i32, cols: i32, src: usize, dst: usize, accumulate: i32, ra: i32, rb: i32): void {
  for (let r0 = ra; r0 < rb; r0 += TILE) {
    const r1 = min(rb, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const c1 = min(cols, c0 + TILE);
      for (let r = r0; r < r1; r++) {
        const s = at(src, <usize>r * <usize>cols);
        for (let c = c0; c < c1; c++) {
          const d = at(dst, <usize>c * <usize>rows + <usize>r);
          const v = load<f32>(at(s, <usize>c));
          store<f32>(d, accumulate ? load<f32>(d) + v : v);
        }
      }
    }
  }
}
