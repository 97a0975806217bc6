// Entry point of the WebAssembly kernels (compiled by scripts/build-wasm.mjs; loaded by
// src/wasm/wasm-kernels.ts). Every address is a byte offset into the imported memory, every
// size an element count; `scratch` is a region of at least scratchBytes(kind, …) bytes that the
// call may overwrite. Arrays of one call must not overlap, except inputs with inputs.

import { gemmScratch } from "./dense";
import { eventNN as evNN, eventNNScratch, eventTN as evTN, eventTNUnits, eventTNScratch, maskedNT as mNT, maskedNTScratch,
  vecMatColumnsScratch } from "./events";
import { gemmPacked } from "./gemm";
import { i8Rows, i8Scratch } from "./int8";

export { gemmNN, gemmNT, gemmTN } from "./dense";
export { vecMatColumns } from "./events";
export { egruSeqBackward, egruSeqBackwardScratch, egruSeqForward, egruSeqForwardScratch } from "./egru-seq";
export { gruSeqBackward, gruSeqBackwardScratch, gruSeqForward, gruSeqForwardScratch } from "./gru-seq";

export { i8FinishParts, i8StepFinish, i8StepPart, i8StepScratch, i8VecMatColumns, i8VecMatEvents } from "./int8";

export { egruCellBackward, egruCellBackwardUnits, egruCellForward, egruCellForwardUnits, gruCellBackward, gruCellForward }
  from "./cells";
export { egruStepColumns, egruStepScratch, i8StepEndUnits } from "./egru-step";
export { addBiasRows, egruReceiveMask, sumRowsColumns } from "./pointwise";
export { lstmCellBackward, lstmCellForward } from "./lstm";
export { softmaxRows } from "./softmax";
export { adamUpdate, addScaled, countNonzero, countOutside, firstNonFinite, sgdUpdate, sumSquaresChunks } from "./train-ops";
export { transposeRows, transposeRowsBlock } from "./transpose";

/** First byte after the module's static data: the JavaScript allocator starts above it. */
export function heapBase(): usize {
  return __heap_base;
}

/** Scratch kinds for scratchBytes (the loader uses the same numbers). */
const KIND_GEMM: i32 = 0;
const KIND_EVENT_NN: i32 = 1;
const KIND_EVENT_TN: i32 = 2;
const KIND_VEC_COLUMNS: i32 = 4;
const KIND_I8: i32 = 5;

/**
 * Bytes of scratch a call needs: gemm (d0, d1, d2 = M, N, K); event NN, event TN and masked NT
 * (d0 = rows of y or mask, d1 = H); vecMatColumns (d0 = K, d1 = columns of the block); the int8
 * products gemmNNi8 and i8VecMatColumns (d0 = K, d1 = N or the columns of the block).
 */
export function scratchBytes(kind: i32, d0: i32, d1: i32, d2: i32): usize {
  if (kind == KIND_GEMM) return gemmScratch(d0, d1, d2);
  if (kind == KIND_EVENT_NN) return eventNNScratch(d0, d1);
  if (kind == KIND_EVENT_TN) return eventTNScratch(d0, d1);
  if (kind == KIND_VEC_COLUMNS) return vecMatColumnsScratch(d0, d1);
  if (kind == KIND_I8) return i8Scratch(d0, d1);
  return maskedNTScratch(d0, d1);
}

/**
 * Columns [n0, n1) of gemmTN (the packed path: M and K at least 8), every element with the bits of
 * the whole product: the weight gradients split over threads by columns.
 */
export function gemmTNColumns(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize, n0: i32, n1: i32, acc: bool,
  scratch: usize): void {
  const col = <usize>n0 << 2;
  gemmPacked(true, false, M, n1 - n0, K, a, b + col, c + col, acc, scratch, N);
}

/** Units [j0, j1) (rows of dR) of eventGemmTN, with the bits of the whole product; returns their events. */
export function eventGemmTNUnits(H: i32, N: i32, B: i32, y: usize, dq: usize, dR: usize, j0: i32, j1: i32,
  scratch: usize): i32 {
  return eventTNUnits(H, N, B, y, dq, dR, j0, j1, scratch);
}

/** q[B,N] (+)= events of y[B,H] · R[H,N]; returns the number of events. */
export function eventGemmNN(B: i32, N: i32, H: i32, y: usize, R: usize, q: usize, acc: bool, scratch: usize): i32 {
  return evNN(B, N, H, y, R, q, acc, scratch);
}

/** dR[H,N] += events of y[B,H]ᵀ · dq[B,N]; returns the number of events. */
export function eventGemmTN(H: i32, N: i32, B: i32, y: usize, dq: usize, dR: usize, scratch: usize): i32 {
  return evTN(H, N, B, y, dq, dR, scratch);
}

/** out[B,H] = mask ? dq[B,N]·R[H,N]ᵀ : 0; returns the number of active entries. */
export function maskedGemmNT(B: i32, H: i32, N: i32, dq: usize, R: usize, mask: usize, out: usize, scratch: usize): i32 {
  return mNT(B, H, N, dq, R, mask, out, scratch);
}

/**
 * C[M,N] (+)= A[M,K]·W, W int8 [K,N] (Q) with scales ([K] when perInput, else [N]); the dense
 * product and the event gather alike (assembly/int8.ts). Returns the number of nonzeros of A.
 */
export function gemmNNi8(M: i32, N: i32, K: i32, a: usize, Q: usize, scales: usize, perInput: bool, c: usize, acc: bool,
  scratch: usize): i32 {
  return i8Rows(M, N, K, a, Q, scales, perInput, c, acc, scratch);
}
