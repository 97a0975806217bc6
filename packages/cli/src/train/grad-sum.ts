// The gradients of a step's row blocks summed in block order, flat over the model's parameters
// (isomorphic). Every block's gradients start from zero, whether the block ran on this thread
// (addParams: read from the model's gradients) or in a replica (addFlat: its flat copy), and the
// sum is taken in the same order either way, so a step gives the same bits on any number of threads.

import { countParams, type Param } from "egru";

/** The parameters' values (or gradients) laid end to end in params order: [Σ sizes]. */
export function flatten(params: Param[], of: "value" | "grad", into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(countParams(params));
  let off = 0;
  for (const p of params) {
    out.set(p[of], off);
    off += p[of].length;
  }
  return out;
}

/** Copy a flat array (flatten's layout) into the parameters' values (or gradients). */
export function unflatten(params: Param[], of: "value" | "grad", flat: Float32Array): void {
  let off = 0;
  for (const p of params) {
    p[of].set(flat.subarray(off, off + p[of].length));
    off += p[of].length;
  }
}

export class GradSum {
  private readonly params: Param[];
  private readonly sum: Float32Array;
  private blocks = 0;

  constructor(params: Param[]) {
    this.params = params;
    this.sum = new Float32Array(countParams(params));
  }

  /** Add one block's gradients as they stand in the model's parameters. */
  addParams(): void {
    let off = 0;
    for (const p of this.params) {
      this.addAt(p.grad, off);
      off += p.grad.length;
    }
    this.blocks++;
  }

  /** Add one block's gradients from a flat copy (flatten's layout). */
  addFlat(flat: Float32Array): void {
    this.addAt(flat, 0);
    this.blocks++;
  }

  /** Write the sum into the parameters' gradients. */
  writeTo(): void {
    unflatten(this.params, "grad", this.sum);
  }

  private addAt(g: Float32Array, off: number): void {
    const s = this.sum;
    if (this.blocks === 0) s.set(g, off);
    else for (let i = 0; i < g.length; i++) s[off + i] += g[i];
  }
}
