// The layers' row-wise work around the products (bias rows, bias-gradient column sums, the EGRU
// receive mask) on a kernel set: its own implementation where it has one (WebAssembly, split over
// threads by the threaded kernels), else the TypeScript functions. Both give the same bits.

import { countNonzero, type FloatArray } from "../core/buffer.js";
import type { EventFunction } from "./activations.js";
import type { Kernels } from "./backend.js";
import { addBiasRows, sumRowsInto } from "./gemm.js";

/** out[rows, cols] += bias[cols] on every row, from outOff. */
export function biasRows(
  kernels: Kernels,
  out: FloatArray,
  outOff: number,
  rows: number,
  cols: number,
  bias: FloatArray,
): void {
  if (kernels.addBiasRows) kernels.addBiasRows(out, outOff, rows, cols, bias);
  else addBiasRows(out, outOff, rows, cols, bias);
}

/** acc[cols] += Σ_rows m[rows, cols] (column sums of m from mOff: bias gradients). */
export function columnSums(
  kernels: Kernels,
  acc: FloatArray,
  m: FloatArray,
  mOff: number,
  rows: number,
  cols: number,
): void {
  if (kernels.sumRowsInto) kernels.sumRowsInto(acc, m, mOff, rows, cols);
  else sumRowsInto(acc, m, mOff, rows, cols);
}

/** dst[cols, rows] (+)= src[rows, cols]ᵀ (the kernels' own transpose where they have one). */
export function transposeMatrix(
  kernels: Kernels,
  rows: number,
  cols: number,
  src: FloatArray,
  dst: FloatArray,
  accumulate: boolean,
): void {
  if (kernels.transposeRows) kernels.transposeRows(rows, cols, src, dst, accumulate);
  else transposeRowsTs(rows, cols, src, dst, accumulate);
}

/** The TypeScript transpose: dst[c·rows + r] = (dst[c·rows + r] +) src[r·cols + c], in 16 × 16 tiles. */
export function transposeRowsTs(
  rows: number,
  cols: number,
  src: FloatArray,
  dst: FloatArray,
  accumulate: boolean,
): void {
  const S = 16;
  for (let r0 = 0; r0 < rows; r0 += S) {
    const r1 = Math.min(rows, r0 + S);
    for (let c0 = 0; c0 < cols; c0 += S) {
      const c1 = Math.min(cols, c0 + S);
      for (let r = r0; r < r1; r++) {
        const s = r * cols;
        if (accumulate) for (let c = c0; c < c1; c++) dst[c * rows + r] += src[s + c];
        else for (let c = c0; c < c1; c++) dst[c * rows + r] = src[s + c];
      }
    }
  }
}

/**
 * 1 where a unit's event output can pass gradient back into the unit, else 0: ∂y/∂c = o + c·df(c − ϑ)
 * is nonzero only for units that fired or lie inside the surrogate window. Writes entries
 * [from, from + n) of the [T·B, H] sequence (o, c) into out from outOff; returns the number of ones.
 */
export function receiveMaskCount<A extends FloatArray>(
  kernels: Kernels,
  o: A,
  c: A,
  thr: A,
  event: EventFunction,
  H: number,
  from: number,
  n: number,
  out: A,
  outOff: number,
): number {
  if (kernels.egruReceiveMask && from % H === 0 && n % H === 0) {
    const ones = kernels.egruReceiveMask({ rows: n / H, H, o, c, off: from, thr, event, out, outOff });
    if (ones >= 0) return ones;
  }
  receiveMaskRows(o, c, thr, event, H, from, n, out, outOff);
  return countNonzero(out, outOff, n);
}

/** The TypeScript receive mask: entries [from, from + n) of (o, c) into out from outOff. */
export function receiveMaskRows<A extends FloatArray>(
  o: A,
  c: A,
  thr: A,
  event: EventFunction,
  H: number,
  from: number,
  n: number,
  out: A,
  outOff: number,
): void {
  const d = outOff - from;
  for (let k = from; k < from + n; k++) out[d + k] = o[k] !== 0 || event.df(c[k] - thr[k % H]) !== 0 ? 1 : 0;
}
