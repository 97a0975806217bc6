// The dense products' entry points: packed panels (gemm.ts) from FEW_ROWS rows, the row-list kernels
// (events.ts) below, so every caller (index.ts's exports, the EGRU time loop of egru-seq.ts) takes
// the same path, and the same bits, for the same sizes.

import { fewRowsNN, fewRowsNNScratch, fewRowsNT, fewRowsNTScratch } from "./events";
import { gemmPacked, PACK_BYTES } from "./gemm";

/**
 * Products with fewer rows than FEW_ROWS go through the row-list kernels, and so do NN and TN
 * products with a shorter reduction than FEW_K (the crossovers measured against packing).
 */
const FEW_ROWS: i32 = 8;
const FEW_K: i32 = 8;

@inline function fewNN(M: i32, K: i32): bool {
  return M < FEW_ROWS || K < FEW_K;
}

/** Bytes of scratch gemmNN, gemmNT and gemmTN of these sizes need. */
export function gemmScratch(M: i32, N: i32, K: i32): usize {
  const nn = fewNN(M, K) ? fewRowsNNScratch(N, K) : PACK_BYTES;
  const nt = M < FEW_ROWS ? fewRowsNTScratch(M, N) : PACK_BYTES;
  return max(nn, nt);
}

/** C[M,N] (+)= A[M,K]·B[K,N] */
export function gemmNN(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize, acc: bool, scratch: usize): void {
  if (fewNN(M, K)) fewRowsNN(false, M, N, K, a, b, c, acc, scratch);
  else gemmPacked(false, false, M, N, K, a, b, c, acc, scratch);
}

/** C[M,N] (+)= A[M,K]·B[N,K]ᵀ */
export function gemmNT(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize, acc: bool, scratch: usize): void {
  if (M < FEW_ROWS) fewRowsNT(M, N, K, a, b, c, acc, scratch);
  else gemmPacked(false, true, M, N, K, a, b, c, acc, scratch);
}

/** C[M,N] (+)= A[K,M]ᵀ·B[K,N] */
export function gemmTN(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize, acc: bool, scratch: usize): void {
  if (fewNN(M, K)) fewRowsNN(true, M, N, K, a, b, c, acc, scratch);
  else gemmPacked(true, false, M, N, K, a, b, c, acc, scratch);
}
