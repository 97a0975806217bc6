// Conversion between haste's GRU layout (egru's: [rows, 3H], gate blocks z, r, g) and PyTorch's
// nn.GRU layout ([3H, rows], blocks r, z, n). The numbers are the same cell (docs/egru-math.md §4.1):
// transpose, and swap the first two gate blocks.

import { zerosLike, type FloatArray } from "../core/buffer.js";

/** Where a flat column (or row) index of a 3H gate axis goes when blocks 0 and 1 swap (z, r ↔ r, z). */
function swapFirstBlocks(c: number, H: number): number {
  return c < H ? c + H : c < 2 * H ? c - H : c;
}

/** haste [rows, 3H] (blocks z, r, g) → PyTorch [3H, rows] (blocks r, z, n): transpose, swap blocks. */
export function gruMatrixToTorch<A extends FloatArray>(m: A, rows: number, H: number): A {
  const G = 3 * H;
  const out = zerosLike(m, rows * G);
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < G; c++) out[swapFirstBlocks(c, H) * rows + i] = m[i * G + c];
  }
  return out;
}

/** PyTorch [3H, rows] (blocks r, z, n) → haste [rows, 3H] (blocks z, r, g); inverse of gruMatrixToTorch. */
export function gruMatrixFromTorch<A extends FloatArray>(m: A, rows: number, H: number): A {
  const G = 3 * H;
  const out = zerosLike(m, rows * G);
  for (let i = 0; i < rows; i++) {
    for (let c = 0; c < G; c++) out[i * G + c] = m[swapFirstBlocks(c, H) * rows + i];
  }
  return out;
}

/** Bias [3H] between the two block orders (swapping the first two blocks is its own inverse). */
export function gruBiasSwap<A extends FloatArray>(b: A, H: number): A {
  const out = zerosLike(b, b.length);
  for (let c = 0; c < b.length; c++) out[swapFirstBlocks(c, H)] = b[c];
  return out;
}
