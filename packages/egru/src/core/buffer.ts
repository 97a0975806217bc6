// Typed-array helpers shared by kernels, the float64 reference and the layers.
// egru stores every tensor as a flat row-major Float32Array (the fast path) or
// Float64Array (the reference and the finite-difference tests); shapes live in comments
// and in the dims objects passed alongside.

import { StateError } from "./errors.js";
import { takeZeroed } from "./pool.js";

/** A flat, row-major tensor. */
export type FloatArray = Float32Array | Float64Array;

/** Whether every given array (nulls ignored) is float32, the kind the WebAssembly kernels take. */
export function allFloat32(...arrays: (FloatArray | null)[]): boolean {
  return arrays.every((a) => a === null || a instanceof Float32Array);
}

/**
 * New zero-filled array of the same element type as `like` (float32 ones come from the array pool
 * of core/pool.ts when it has one of that length).
 */
export function zerosLike<A extends FloatArray>(like: A, length: number): A {
  return (like instanceof Float64Array ? new Float64Array(length) : takeZeroed(length)) as A;
}

/** A copy of `src` as the element type of `like` (rounds to float32 when `like` is float32). */
export function copyAs<A extends FloatArray>(like: A, src: ArrayLike<number>): A {
  const out = zerosLike(like, src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i];
  return out;
}

/** Transpose a row-major [rows, cols] matrix into a new [cols, rows] matrix. */
export function transpose<A extends FloatArray>(a: A, rows: number, cols: number): A {
  const out = zerosLike(a, rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  }
  return out;
}

/**
 * Swap the first two axes of a [D0, D1, D2] tensor, giving [D1, D0, D2].
 * Used to turn batch-first [B, T, F] into time-major [T, B, F] and back.
 */
export function swapAxes01<A extends FloatArray>(a: A, d0: number, d1: number, d2: number): A {
  const out = zerosLike(a, d0 * d1 * d2);
  for (let i = 0; i < d0; i++) {
    for (let j = 0; j < d1; j++) {
      const src = (i * d1 + j) * d2;
      const dst = (j * d0 + i) * d2;
      for (let k = 0; k < d2; k++) out[dst + k] = a[src + k];
    }
  }
  return out;
}

/** Elementwise a += scale·b (same length); scale 1 by default (a multiplication by 1 is exact). */
export function addInto(a: FloatArray, b: ArrayLike<number>, scale = 1): void {
  for (let i = 0; i < a.length; i++) a[i] += scale * b[i];
}

/** Σ a_i², summed in double precision. */
export function sumSquares(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}

/**
 * The factor of gradient-norm clipping, as torch.nn.utils.clip_grad_norm_ and EvNN's clip inside
 * the EGRU backward compute it: clamp(maxNorm / (norm + 1e-6), 0, 1), and 1 when maxNorm is 0
 * (off) or the norm is not finite (the gradients are then left as they are, for the caller's check).
 */
export function clipFactor(maxNorm: number, norm: number): number {
  if (!(maxNorm > 0)) return 1;
  const f = maxNorm / (norm + 1e-6);
  return f < 1 ? Math.max(0, f) : 1;
}

/** Number of nonzero entries in a[off, off + n) (the whole array when off and n are omitted). */
export function countNonzero(a: ArrayLike<number>, off = 0, n = a.length - off): number {
  let c = 0;
  for (let i = off; i < off + n; i++) c += +(a[i] !== 0); // (no branch: event data is zero at random)
  return c;
}

/**
 * A new Float32Array of n zeros, or a StateError naming `what` with the bytes asked for when the
 * engine cannot make one (a length past its limit, or no memory): never a bare RangeError.
 */
export function allocateFloat32(n: number, what: string): Float32Array {
  try {
    return new Float32Array(n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const gib = (4 * n) / 2 ** 30;
    throw new StateError(
      what,
      "an array this engine can allocate",
      `${n} float32 values (${gib >= 0.1 ? `${gib.toFixed(1)} GiB` : `${4 * n} bytes`}): ${e.message}`,
    );
  }
}
