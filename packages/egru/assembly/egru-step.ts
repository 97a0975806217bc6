// The products of one streaming step of an EGRU layer for one stream (B = 1), fused: the input
// and the recurrent product with their biases, for a block of columns, in one call. The stepper
// (src/layers/stepper.ts) otherwise makes four calls (input product, bias, recurrent product,
// bias), the products each a dispatch to the threads and the biases in TypeScript; with this, a
// layer's step is one dispatch (each thread a contiguous block of the 3H columns of both
// products) and then the cell (egruCellForwardUnits) on the calling thread. Every operation is
// the one the separate calls make (vecMatList is vecMatColumns' body), so the result has their
// bits on any number of threads. Also the end of the int8 step (its parts' finish and the cell)
// for a block of units (i8StepEndUnits), which two threads split.

import { egruCellForwardUnits } from "./cells";
import { align16 } from "./common";
import { denseList, eventList, vecMatList } from "./events";
import { i8StepFinishUnits } from "./int8";

/** Scratch of egruStepColumns for a block of n columns: the two entry lists and n sums. */
export function egruStepScratch(I: i32, H: i32, n: i32): usize {
  return align16(<usize>I << 3) + align16(<usize>H << 3) + (<usize>n << 2);
}

/**
 * The entry list of x [K] at ent, as eventOrDenseNN chooses the product: the nonzeros (mode 1,
 * when there are at most crossover·K of them) or all K entries (mode 0, or mode 1 above the
 * crossover). Returns the count, negative for a dense list.
 */
function productList(mode: i32, crossover: f64, x: usize, K: i32, ent: usize): i32 {
  if (mode != 0) {
    const count = eventList(x, K, ent);
    if (<f64>count <= crossover * <f64>K) return count;
  }
  return -denseList(x, K, ent);
}

/**
 * Columns [n0, n1) of a = x·W + bx and q = y·R + br for one step at B = 1 (W [I, 3H], R [H, 3H];
 * each product over the events of its operand or dense, as productList chooses: xMode for x,
 * mode 1 for y). Returns the multiply-accumulates of the whole step (the same from every block).
 */
export function egruStepColumns(
  I: i32, H: i32, xMode: i32, crossover: f64, x: usize, W: usize, y: usize, R: usize, bx: usize, br: usize,
  a: usize, q: usize, n0: i32, n1: i32, scratch: usize,
): f64 {
  const G = 3 * H;
  const entX = scratch;
  const entY = entX + align16(<usize>I << 3);
  const sum = entY + align16(<usize>H << 3);
  const cx = productList(xMode, crossover, x, I, entX);
  const cy = productList(1, crossover, y, H, entY);
  const nx = cx < 0 ? -cx : cx;
  const ny = cy < 0 ? -cy : cy;
  vecMatList(cx < 0, I, G, entX, nx, W, a, n0, n1, false, sum);
  vecMatList(cy < 0, H, G, entY, ny, R, q, n0, n1, false, sum);
  for (let j = n0; j < n1; j++) {
    const p = <usize>j << 2;
    store<f32>(a + p, load<f32>(a + p) + load<f32>(bx + p));
    store<f32>(q + p, load<f32>(q + p) + load<f32>(br + p));
  }
  return (<f64>nx + <f64>ny) * <f64>G;
}

/**
 * The end of an int8 step for units [j0, j1), after its parts (i8StepPart): i8StepFinishUnits, then
 * the cell of those units (egruCellForwardUnits, B = 1). Threads that split the units between them
 * give the bits of i8StepFinish and one cell call.
 */
export function i8StepEndUnits(I: i32, H: i32, j0: i32, j1: i32, scratch1: usize, scratch2: usize, Ws: usize,
  wPerInput: bool, Rs: usize, rPerInput: bool, bx: usize, br: usize, a: usize, q: usize, hPrev: usize, trPrev: usize,
  thr: usize, keep: usize, keepConst: f32, alpha: f32, y: usize, h: usize, o: usize, tr: usize, c: usize, z: usize,
  r: usize, g: usize, hr: usize): void {
  i8StepFinishUnits(I, H, j0, j1, scratch1, scratch2, Ws, wPerInput, Rs, rPerInput, bx, br, a, q);
  egruCellForwardUnits(1, H, j0, j1, a, q, hPrev, trPrev, thr, keep, keepConst, alpha, y, h, o, tr, c, z, r, g, hr);
}
