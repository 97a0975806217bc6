// The kernel interface the layers compute with, and its plain TypeScript implementation.
//
// Every product the recurrent layers need goes through a `Kernels` object, so the same layer
// code runs on the portable TypeScript kernels (this file, always available) or on the
// WebAssembly SIMD kernels (src/wasm/, selected automatically where WebAssembly SIMD exists).
// Both must give the same results up to float32 rounding; tests run both and compare.
//
// Conventions: row-major; every matrix is addressed as (array, offset); `accumulate` = false
// overwrites the output, true adds into it. Event kernels return the number of multiply-
// accumulates they executed, so layers can report executed against dense work.

import { addInto, type FloatArray } from "../core/buffer.js";
import type { EventFunction } from "./activations.js";
import { egruCellBackward, egruCellForward, type CellBackwardArgs, type CellForwardArgs } from "./cell-pointwise.js";
import type { EgruStepArgs } from "./egru-step.js";
import type { EgruSeqBackwardArgs, EgruSeqForwardArgs } from "./egru-seq.js";
import type { GruSeqBackwardArgs, GruSeqForwardArgs } from "./gru-seq.js";
import { gemmNN, gemmNT, gemmTN } from "./gemm.js";
import { gruCellBackward, gruCellForward, type GruCellBackwardArgs, type GruCellForwardArgs } from "./gru-cell.js";
import { gemmNNi8, type Int8Product } from "./int8.js";
import { lstmCellBackward, lstmCellForward, type LstmCellBackwardArgs, type LstmCellForwardArgs } from "./lstm-cell.js";
import { softmaxRows, type SoftmaxRows } from "./softmax.js";
import {
  adamUpdate,
  countNonzero,
  countOutside,
  firstNonFinite,
  sgdUpdate,
  sumSquares,
  type AdamUpdate,
  type SgdUpdate,
} from "./train-ops.js";

export interface Kernels {
  /** "js" or "wasm-simd". */
  readonly name: string;
  /**
   * Event density (fraction of nonzero inputs) up to which the event product is faster than the
   * dense one, from the kernel benchmark (bench/kernels.bench.ts); layers choose per step.
   */
  readonly eventCrossover: number;

  /**
   * Optional: an array inside the kernels' own memory (WebAssembly linear memory), which kernel
   * calls then read and write in place instead of copying. Kernels without one copy as needed.
   * Zeroed unless `zeroed` is false (for an array the caller overwrites whole before reading it).
   */
  alloc?(n: number, zeroed?: boolean): Float32Array;
  /** Optional: an int8 array inside the kernels' memory (int8 weights kept resident), as alloc(). */
  allocInt8?(n: number): Int8Array;
  /** Return an array from alloc() or allocInt8() to the kernels' memory. */
  free?(a: Float32Array | Int8Array): void;
  /** Optional: whether `a` is a view into the kernels' memory (kernel calls read it in place). */
  inMemory?(a: FloatArray | Int8Array): boolean;

  /** C[M,N] (+)= A[M,K] · B[K,N] */
  gemmNN(
    M: number,
    N: number,
    K: number,
    A: FloatArray,
    aOff: number,
    B: FloatArray,
    bOff: number,
    C: FloatArray,
    cOff: number,
    accumulate: boolean,
  ): void;
  /** C[M,N] (+)= A[M,K] · B[N,K]ᵀ */
  gemmNT(
    M: number,
    N: number,
    K: number,
    A: FloatArray,
    aOff: number,
    B: FloatArray,
    bOff: number,
    C: FloatArray,
    cOff: number,
    accumulate: boolean,
  ): void;
  /** C[M,N] (+)= A[K,M]ᵀ · B[K,N] */
  gemmTN(
    M: number,
    N: number,
    K: number,
    A: FloatArray,
    aOff: number,
    B: FloatArray,
    bOff: number,
    C: FloatArray,
    cOff: number,
    accumulate: boolean,
  ): void;

  /**
   * Event-driven product, the forward recurrent product over active units only:
   *   q[b, :] (+)= Σ_{j : y[b, j] ≠ 0} y[b, j] · R[j, :]      y [B, H], R [H, N], q [B, N]
   * Gathers one contiguous row of R per event. Returns the MACs executed (events · N).
   */
  eventGemmNN(
    B: number,
    N: number,
    H: number,
    y: FloatArray,
    yOff: number,
    R: FloatArray,
    rOff: number,
    q: FloatArray,
    qOff: number,
    accumulate: boolean,
  ): number;

  /**
   * Event-driven weight gradient, accumulating only rows of presynaptic units that were active:
   *   dR[j, :] += Σ_{b : y[b, j] ≠ 0} y[b, j] · dq[b, :]      y [B, H], dq [B, N], dR [H, N]
   * Always accumulates. Returns the MACs executed.
   */
  eventGemmTN(
    H: number,
    N: number,
    B: number,
    y: FloatArray,
    yOff: number,
    dq: FloatArray,
    dqOff: number,
    dR: FloatArray,
    dROff: number,
  ): number;

  /**
   * Masked back-product, the recurrent adjoint only where it can be used:
   *   out[b, j] = mask[b, j] ≠ 0 ? Σ_k dq[b, k] · R[j, k] : 0      dq [B, N], R [H, N], mask/out [B, H]
   * Overwrites out. Returns the MACs executed (active entries · N).
   */
  maskedGemmNT(
    B: number,
    H: number,
    N: number,
    dq: FloatArray,
    dqOff: number,
    R: FloatArray,
    rOff: number,
    mask: FloatArray,
    maskOff: number,
    out: FloatArray,
    outOff: number,
  ): number;

  /**
   * The dense product on int8 weights (kernels/int8.ts: one float32 scale per input or output unit):
   *   C[M,N] (+)= A[M,K] · W      W int8 [K, N] with its scales
   * The operations and their order are fixed (int8.ts), so every kernel set gives the same bits.
   */
  gemmNNi8: Int8Product;

  /**
   * The event-row gather on int8 weights: q[b, :] (+)= Σ_{j : y[b, j] ≠ 0} y[b, j] · W[j, :], one int8
   * row of W [H, N] per event (a per-input scale folds into y[b, j], a per-output one is applied once
   * at the end): (B, N, H, y, yOff, W, q, qOff, accumulate). The same bits as gemmNNi8 of the same
   * operands. Both return the MACs executed (events · N).
   */
  eventGemmNNi8: Int8Product;

  /** The EGRU cell's pointwise forward for one step of B rows (cell-pointwise.ts). */
  egruCellForward<A extends FloatArray>(args: CellForwardArgs<A>): void;

  /**
   * Optional: one EGRU streaming step at B = 1 in one call (egru-step.ts): both products, their
   * biases and the Heaviside cell, with the bits of the separate calls. Returns the MACs executed,
   * or −1 when it does not apply (an array outside the kernels' memory): then make the separate calls.
   */
  egruStep?(s: EgruStepArgs): number;
  /** Its backward for one step of B rows (cell-pointwise.ts). */
  egruCellBackward<A extends FloatArray>(args: CellBackwardArgs<A>): void;
  /**
   * Optional: the EGRU's whole time loop in one call (egru-seq.ts), the forward from zero state and
   * its backward, with the bits of the step loop's calls (kernels/egru.ts). Each returns the
   * recurrent products' MACs executed, or −1 where it does not apply (then run the step loop).
   */
  egruSeqForward?<A extends FloatArray>(s: EgruSeqForwardArgs<A>): number;
  egruSeqBackward?<A extends FloatArray>(s: EgruSeqBackwardArgs<A>): number;
  /**
   * Optional: the GRU's whole time loop in one call (gru-seq.ts), with the bits of kernels/gru.ts's
   * step loop. Each returns false where it does not apply (then run the step loop).
   */
  gruSeqForward?<A extends FloatArray>(s: GruSeqForwardArgs<A>): boolean;
  gruSeqBackward?<A extends FloatArray>(s: GruSeqBackwardArgs<A>): boolean;
  /** The GRU cell's pointwise forward for one step of B rows: gates and zoneout (gru-cell.ts). */
  gruCellForward<A extends FloatArray>(args: GruCellForwardArgs<A>): void;
  /** Its backward for one step of B rows (gru-cell.ts). */
  gruCellBackward<A extends FloatArray>(args: GruCellBackwardArgs<A>): void;
  /** The LSTM cell's pointwise forward for one step of B rows: gates and states (lstm-cell.ts). */
  lstmCellForward<A extends FloatArray>(args: LstmCellForwardArgs<A>): void;
  /** Its backward for one step of B rows (lstm-cell.ts). */
  lstmCellBackward<A extends FloatArray>(args: LstmCellBackwardArgs<A>): void;

  /**
   * Softmax of each row, for the cross-entropy loss (softmax.ts):
   *   logZ[n] = log Σ_v exp x[n, v]      and, when out is given,  out[n, v] = scale · exp(x[n, v] − logZ[n])
   */
  softmaxRows: SoftmaxRows;

  // Optional row-wise helpers (kernels/row-ops.ts calls them, or their TypeScript twins where a
  // kernel set has none): the same bits as the twins, so that threaded kernels can split them.

  /** out[rows, cols] += bias[cols] on every row (kernels/gemm.ts: addBiasRows). */
  addBiasRows?(out: FloatArray, outOff: number, rows: number, cols: number, bias: FloatArray): void;
  /** acc[cols] += Σ_rows m[rows, cols] (kernels/gemm.ts: sumRowsInto). */
  sumRowsInto?(acc: FloatArray, m: FloatArray, mOff: number, rows: number, cols: number): void;
  /**
   * The EGRU receive mask of `rows` rows of H units at off (kernels/egru.ts: receiveMask) into out at
   * outOff; returns the number of ones, or −1 where it does not apply (then nothing was written).
   */
  egruReceiveMask?(args: ReceiveMaskArgs): number;

  // Optional elementwise work of a training step (kernels/train-ops.ts, the twins): the same bits
  // as the twins, so that threaded kernels can split them by element ranges.

  /** Number of nonzero entries of a[off, off + n) (NaN counts, −0 does not). */
  countNonzero?(a: FloatArray, off: number, n: number): number;
  /** Index (from off) of the first NaN or ±Infinity in a[off, off + n), or −1. */
  firstNonFinite?(a: FloatArray, off: number, n: number): number;
  /** One Adam / AdamW update (train-ops.ts: adamUpdate). */
  adamUpdate?(u: AdamUpdate): void;
  /** One SGD-with-momentum update (train-ops.ts: sgdUpdate). */
  sgdUpdate?(u: SgdUpdate): void;
  /** a += scale·b over a's length, in float64 stored float32 (the twin: core/buffer.ts addInto). */
  addScaled?(a: FloatArray, b: FloatArray, scale: number): void;
  /** Σ a_i² over a[off, off + n) in float64, in fixed chunks (train-ops.ts: sumSquares). */
  sumSquares?(a: FloatArray, off: number, n: number): number;
  /** dst[cols, rows] (+)= src[rows, cols]ᵀ, both whole arrays (kernels/row-ops.ts: transposeRowsTs). */
  transposeRows?(rows: number, cols: number, src: FloatArray, dst: FloatArray, accumulate: boolean): void;
  /** Entries of x [rows, H] at off with |x[r, j] − thr[j]| > support, in float64 (train-ops.ts: countOutside). */
  countOutside?(rows: number, H: number, x: FloatArray, off: number, thr: FloatArray, support: number): number;
}

/** What an EGRU receive mask reads: o and the tape's c [rows, H] at off, the thresholds ϑ [H], the event function. */
export interface ReceiveMaskArgs {
  rows: number;
  H: number;
  o: FloatArray;
  c: FloatArray;
  off: number;
  thr: FloatArray;
  event: EventFunction;
  out: FloatArray;
  outOff: number;
}

/** The portable kernels: plain TypeScript, any FloatArray. */
export const jsKernels: Kernels = {
  name: "js",
  // the TypeScript gemmNN already skips zero entries of A, so the event product never loses
  eventCrossover: 1,
  gemmNN,
  gemmNT,
  gemmTN,
  egruCellForward,
  egruCellBackward,
  gruCellForward,
  gruCellBackward,
  lstmCellForward,
  lstmCellBackward,
  softmaxRows,
  countNonzero,
  countOutside,
  firstNonFinite,
  adamUpdate,
  sgdUpdate,
  addScaled: addInto,
  sumSquares,

  gemmNNi8,
  eventGemmNNi8: gemmNNi8,

  eventGemmNN(B, N, H, y, yOff, R, rOff, q, qOff, accumulate) {
    let macs = 0;
    for (let b = 0; b < B; b++) {
      const qRow = qOff + b * N;
      if (!accumulate) q.fill(0, qRow, qRow + N);
      const yRow = yOff + b * H;
      for (let j = 0; j < H; j++) {
        const v = y[yRow + j];
        if (v === 0) continue;
        const rRow = rOff + j * N;
        for (let k = 0; k < N; k++) q[qRow + k] += v * R[rRow + k];
        macs += N;
      }
    }
    return macs;
  },

  eventGemmTN(H, N, B, y, yOff, dq, dqOff, dR, dROff) {
    let macs = 0;
    for (let b = 0; b < B; b++) {
      const yRow = yOff + b * H;
      const dqRow = dqOff + b * N;
      for (let j = 0; j < H; j++) {
        const v = y[yRow + j];
        if (v === 0) continue;
        const dRow = dROff + j * N;
        for (let k = 0; k < N; k++) dR[dRow + k] += v * dq[dqRow + k];
        macs += N;
      }
    }
    return macs;
  },

  maskedGemmNT(B, H, N, dq, dqOff, R, rOff, mask, maskOff, out, outOff) {
    let macs = 0;
    for (let b = 0; b < B; b++) {
      const dqRow = dqOff + b * N;
      for (let j = 0; j < H; j++) {
        const o = outOff + b * H + j;
        if (mask[maskOff + b * H + j] === 0) {
          out[o] = 0;
          continue;
        }
        const rRow = rOff + j * N;
        let s = 0;
        for (let k = 0; k < N; k++) s += dq[dqRow + k] * R[rRow + k];
        out[o] = s;
        macs += N;
      }
    }
    return macs;
  },
};
