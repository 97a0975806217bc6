// Working arrays kept in the kernels' own memory (WebAssembly memory, where they have one) so that
// kernel calls use them in place instead of copying, handed back together by release().

import { zerosLike, type FloatArray } from "../core/buffer.js";
import type { Kernels } from "./backend.js";

export class KernelScratch {
  private readonly held: Float32Array[] = [];

  constructor(private readonly kernels: Kernels) {}

  /** A zeroed float32 array in the kernels' memory, or an ordinary one where they have none. */
  zeros32(n: number): Float32Array {
    if (!this.kernels.alloc) return zerosLike(new Float32Array(0), n);
    const a = this.kernels.alloc(n);
    this.held.push(a);
    return a;
  }

  /** A zeroed array of like's kind: float32 as zeros32, float64 (the reference checks) an ordinary one. */
  zerosLike<A extends FloatArray>(like: A, n: number): A {
    return (like instanceof Float32Array ? this.zeros32(n) : zerosLike(like, n)) as A;
  }

  /** Return every array from zeros32 to the kernels' memory; they must not be used afterwards. */
  release(): void {
    if (this.kernels.free) for (const a of this.held) this.kernels.free(a);
    this.held.length = 0;
  }
}
