// A layer's int8 weights (inference only): per weight name, the int8 matrix [K, N] of the product the
// weight enters (kernels/int8.ts), and copies resident in the kernels' memory, made once per kernels
// object and kept (int8 weights never change once set; setting one drops the copies).

import type { Kernels } from "../kernels/backend.js";
import type { Int8Matrix } from "../kernels/int8.js";
import { int8InScratch, KernelScratch } from "../kernels/scratch.js";

/** A layer's weights: all float32, or some of them int8 (then the layer is for inference only). */
export type WeightFormat = "float32" | "int8";

/**
 * Where a weight enters a product out = x · W: its [K, N] (K inputs, N outputs), and whether the
 * layer stores it transposed ([N, K], e.g. the LSTM's PyTorch layout); the int8 copy is always [K, N].
 */
export interface Int8Slot {
  K: number;
  N: number;
  transposed: boolean;
}

export class LayerInt8 {
  private readonly matrices = new Map<string, Int8Matrix>();
  private resident: { kernels: Kernels; scratch: KernelScratch; copies: Map<string, Int8Matrix> } | null = null;

  /** How many weights are int8. */
  get size(): number {
    return this.matrices.size;
  }

  /** The int8 matrix of weight `name`, or null when it is float. */
  get(name: string): Int8Matrix | null {
    return this.matrices.get(name) ?? null;
  }

  set(name: string, m: Int8Matrix): void {
    this.matrices.set(name, m);
    this.release();
  }

  /**
   * Weight `name` as a product operand on `kernels` (null when it is float): a copy whose values and
   * scales live in the kernels' memory where they have memory (made on first use), else the matrix.
   */
  operand(kernels: Kernels, name: string): Int8Matrix | null {
    const m = this.matrices.get(name);
    if (!m || !kernels.allocInt8) return m ?? null;
    if (this.resident?.kernels !== kernels) {
      this.release();
      this.resident = { kernels, scratch: new KernelScratch(kernels), copies: new Map() };
    }
    let copy = this.resident.copies.get(name);
    if (!copy) {
      copy = int8InScratch(this.resident.scratch, m);
      this.resident.copies.set(name, copy);
    }
    return copy;
  }

  /** Hand the resident copies back to the kernels' memory (they are made again when next needed). */
  release(): void {
    this.resident?.scratch.release();
    this.resident = null;
  }
}
