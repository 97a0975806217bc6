// Working arrays kept in the kernels' own memory (WebAssembly memory, where they have one) so that
// kernel calls use them in place instead of copying, handed back together by release(); also int8
// weights (a copy of an int8 matrix there: inMemory()).

import { zerosLike, type FloatArray } from "../core/buffer.js";
import { ShapeError, StateError } from "../core/errors.js";
import type { Kernels } from "./backend.js";
import type { Int8Matrix } from "./int8.js";

export class KernelScratch {
  private readonly held: (Float32Array | Int8Array)[] = [];

  constructor(private readonly kernels: Kernels) {}

  /** A zeroed float32 array in the kernels' memory, or an ordinary one where they have none. */
  zeros32(n: number): Float32Array {
    if (!this.kernels.alloc) return zerosLike(new Float32Array(0), n);
    const a = this.kernels.alloc(n);
    this.held.push(a);
    return a;
  }

  /**
   * As zeros32 where the kernels' memory has room for it without passing its maximum, else an
   * ordinary (pooled) array: for temporaries that are faster there but that the memory estimate
   * (packages/cli/src/train/memory.ts) leaves out.
   */
  zeros32IfRoom(n: number): Float32Array {
    try {
      return this.zeros32(n);
    } catch (e) {
      if (e instanceof StateError) return zerosLike(new Float32Array(0), n);
      throw e;
    }
  }

  /** A zeroed array of like's kind: float32 as zeros32, float64 (the reference checks) an ordinary one. */
  zerosLike<A extends FloatArray>(like: A, n: number): A {
    return (like instanceof Float32Array ? this.zeros32(n) : zerosLike(like, n)) as A;
  }

  /**
   * As zerosLike, for an array the caller overwrites whole before it reads any of it: in the
   * kernels' memory its old contents are left (zeroing megabytes per training step cost 2–3 % of it).
   */
  overwrittenLike<A extends FloatArray>(like: A, n: number): A {
    if (!(like instanceof Float32Array) || !this.kernels.alloc) return this.zerosLike(like, n);
    const a = this.kernels.alloc(n, false);
    this.held.push(a);
    return a as A;
  }

  /** As zerosLike, holding src's values (rounded to like's kind) where src is given. */
  copyLike<A extends FloatArray>(like: A, n: number, src?: ArrayLike<number> | null): A {
    const a = this.zerosLike(like, n);
    if (src) a.set(src);
    return a;
  }

  /** `a` as the caller may keep it past release(): a copy of an array in the kernels' memory, else a itself. */
  kept<A extends FloatArray>(a: A): A {
    return (a instanceof Float32Array && this.held.includes(a) ? a.slice() : a) as A;
  }

  /** A zeroed int8 array in the kernels' memory, or an ordinary one where they have none. */
  int8(n: number): Int8Array {
    if (!this.kernels.allocInt8) return new Int8Array(n);
    const a = this.kernels.allocInt8(n);
    this.held.push(a);
    return a;
  }

  /** Return every array from zeros32 and int8 to the kernels' memory; they must not be used afterwards. */
  release(): void {
    if (this.kernels.free) for (const a of this.held) this.kernels.free(a);
    this.held.length = 0;
  }
}

/**
 * A forward's `count` output arrays of n elements of like's kind: `given` (arrays the caller placed,
 * e.g. in the kernels' memory, which the forward overwrites whole) or fresh zeroed ones.
 */
export function outputArrays<A extends FloatArray>(like: A, n: number, count: number, given?: A[] | null): A[] {
  if (!given) return Array.from({ length: count }, () => zerosLike(like, n));
  if (given.length !== count || given.some((a) => a.length !== n)) {
    throw new ShapeError("outputs", `${count} arrays of ${n} elements`, given.map((a) => a.length).join(", "));
  }
  return given;
}

/** A copy of an int8 matrix whose values and scales live in `scratch`'s memory (kernel calls read it in place). */
export function int8InScratch(scratch: KernelScratch, m: Int8Matrix): Int8Matrix {
  const values = scratch.int8(m.values.length);
  values.set(m.values);
  const scales = scratch.zeros32(m.scales.length);
  scales.set(m.scales);
  return { K: m.K, N: m.N, axis: m.axis, values, scales };
}
