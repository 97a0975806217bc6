// Dense matrix products in plain TypeScript, row-major, on Float32Array or Float64Array.
// These are the portable kernels every layer uses; faster WebAssembly kernels must match them.
//
// Naming: gemmXY computes C (+)= op_X(A) · op_Y(B) with X, Y ∈ {N: as stored, T: transposed}.
// Every matrix is addressed by (array, offset) so a time step of a [T, B, F] tensor can be
// used without copying. `accumulate` = false overwrites C; true adds into it.

import type { FloatArray } from "../core/buffer.js";

/**
 * C[M,N] (+)= A[M,K] · B[K,N]
 * i-k-j order: the inner loop runs along contiguous rows of B and C.
 */
export function gemmNN(
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
): void {
  if (!accumulate) C.fill(0, cOff, cOff + M * N);
  for (let i = 0; i < M; i++) {
    const cRow = cOff + i * N;
    const aRow = aOff + i * K;
    for (let k = 0; k < K; k++) {
      const a = A[aRow + k];
      if (a === 0) continue; // exact: adding a·b = 0 changes nothing
      const bRow = bOff + k * N;
      for (let j = 0; j < N; j++) C[cRow + j] += a * B[bRow + j];
    }
  }
}

/**
 * C[M,N] (+)= A[M,K] · B[N,K]ᵀ
 * Each output is a dot product of a row of A with a row of B (both contiguous).
 */
export function gemmNT(
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
): void {
  for (let i = 0; i < M; i++) {
    const aRow = aOff + i * K;
    const cRow = cOff + i * N;
    for (let j = 0; j < N; j++) {
      const bRow = bOff + j * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[aRow + k] * B[bRow + k];
      C[cRow + j] = accumulate ? C[cRow + j] + s : s;
    }
  }
}

/**
 * C[M,N] (+)= A[K,M]ᵀ · B[K,N]
 * k-i-j order: for each shared row k, an outer product of row k of A and row k of B.
 */
export function gemmTN(
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
): void {
  if (!accumulate) C.fill(0, cOff, cOff + M * N);
  for (let k = 0; k < K; k++) {
    const aRow = aOff + k * M;
    const bRow = bOff + k * N;
    for (let i = 0; i < M; i++) {
      const a = A[aRow + i];
      if (a === 0) continue;
      const cRow = cOff + i * N;
      for (let j = 0; j < N; j++) C[cRow + j] += a * B[bRow + j];
    }
  }
}

/** out[rows·cols] (+)= bias[cols] broadcast over rows. */
export function addBiasRows(out: FloatArray, outOff: number, rows: number, cols: number, bias: FloatArray): void {
  for (let i = 0; i < rows; i++) {
    const o = outOff + i * cols;
    for (let j = 0; j < cols; j++) out[o + j] += bias[j];
  }
}

/**
 * acc[cols] += Σ_rows m[rows, cols] (column sums; used for bias gradients). Four rows at a time,
 * (m0 + m1) + (m2 + m3) added into acc, then the rows left one by one: a quarter of the loads and
 * stores of acc (2–4× faster on the decoder's [1,120 × 10,000] gradient of bench/lm-train.ts).
 */
export function sumRowsInto(acc: FloatArray, m: FloatArray, mOff: number, rows: number, cols: number): void {
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    const o0 = mOff + i * cols;
    const o1 = o0 + cols;
    const o2 = o1 + cols;
    const o3 = o2 + cols;
    for (let j = 0; j < cols; j++) acc[j] += m[o0 + j] + m[o1 + j] + (m[o2 + j] + m[o3 + j]);
  }
  for (; i < rows; i++) {
    const o = mOff + i * cols;
    for (let j = 0; j < cols; j++) acc[j] += m[o + j];
  }
}
