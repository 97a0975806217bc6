// The forward products of the layers on either kind of weight: a float matrix in the layer's own
// layout, or an int8 matrix [K, N] (kernels/int8.ts; inference only), which is always laid out for
// out = x · W whatever the float layout was. Also the choice between the event product and the dense
// one. The backward products stay on float weights (int8 layers refuse training).

import type { FloatArray } from "../core/buffer.js";
import type { Kernels } from "./backend.js";
import { sparseEnough } from "./gated-cell.js";
import { isInt8Matrix, type Int8Matrix } from "./int8.js";

/** A product's weight: float in the layer's layout, or int8 [K, N]. */
export type Weight<A extends FloatArray> = A | Int8Matrix;

/**
 * out[M,N] (+)= x[M,K] · W: gemmNN on a float W [K, N], or with `floatNK` x · Wᵀ on a float W stored
 * [N, K] (gemmNT: the LSTM's PyTorch layout); gemmNNi8 on an int8 W, whose [K, N] needs neither.
 */
export function productNN<A extends FloatArray>(
  kernels: Kernels,
  M: number,
  N: number,
  K: number,
  x: A,
  xOff: number,
  W: Weight<A>,
  out: A,
  outOff: number,
  accumulate: boolean,
  floatNK = false,
): void {
  if (isInt8Matrix(W)) kernels.gemmNNi8(M, N, K, x, xOff, W, out, outOff, accumulate);
  else kernels[floatNK ? "gemmNT" : "gemmNN"](M, N, K, x, xOff, W, 0, out, outOff, accumulate);
}

/**
 * out[M, N] = x[M, K] · W (x at xOff, W and out at 0) on either kind of weight: the event product
 * when `events` is "always", or true and the density of x is below the kernels' crossover; else the
 * dense one. Returns the multiply-accumulates executed.
 */
export function eventOrDenseNN<A extends FloatArray>(
  kernels: Kernels,
  events: boolean | "always",
  M: number,
  N: number,
  K: number,
  x: A,
  xOff: number,
  W: Weight<A>,
  out: A,
): number {
  if (events === "always" || (events && sparseEnough(kernels, x, xOff, M * K))) {
    return isInt8Matrix(W)
      ? kernels.eventGemmNNi8(M, N, K, x, xOff, W, out, 0, false)
      : kernels.eventGemmNN(M, N, K, x, xOff, W, 0, out, 0, false);
  }
  productNN(kernels, M, N, K, x, xOff, W, out, 0, false);
  return M * N * K;
}
