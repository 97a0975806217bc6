// EvNN's gradient clip inside the EGRU backward (its grad_clip; docs/egru-math.md §3.7): the
// parameter and initial-state gradients of ONE backward call, scaled together by
//   clamp(maxNorm / (‖(dy0, dW, dR, dbx, dbr, dϑ)‖ + 1e-6), 0, 1)
// before they are added to the layer's accumulated gradients; dx is never scaled. The norm is over
// exactly these six (EvNN's buffer has a seventh, uninitialised entry: not reproduced), taken on what
// the kernel returns, the gradients of the effective R (after DropConnect) and of the effective ϑ,
// as in EvNN, where the chain rule through the mask and the threshold parameterisation runs after
// the clip. A group gathers several calls (the row blocks of one batch) and clips their sum once.

import { addInto, clipFactor, sumSquares } from "../core/buffer.js";
import { recycle, takeZeroed } from "../core/pool.js";
import type { EgruGrads } from "../kernels/egru.js";
import type { NamedWeights } from "./common.js";

/** One call's parameter gradients as the kernel returns them (of the effective R and ϑ). */
export type KernelParamGrads = Pick<EgruGrads<Float32Array>, "dW" | "dR" | "dbx" | "dbr" | "dthr">;

/** The clip's factor for gradients whose parts are `parts` (plus `squares`, a sum of squares already taken). */
export function clipFactorOf(maxNorm: number, parts: ArrayLike<number>[], squares = 0): number {
  let sq = squares;
  for (const p of parts) sq += sumSquares(p);
  return clipFactor(maxNorm, Math.sqrt(sq));
}

/**
 * A gradient group's sums taken out of it (ClipGroup.take): what a replica of the layer on another
 * thread sends back for its row blocks, to be merged into the group on the trainer's thread.
 */
export interface ClipGroupSums {
  stored: NamedWeights;
  dR: Float32Array;
  dthr: Float32Array;
  dy0Squares: number;
}

/**
 * The summed gradients of a group of backward calls, not yet in the layer's gradients: `stored` by
 * the layer's parameter names (carried through each call's DropConnect mask and thresholds), and the
 * effective R's and ϑ's sums and the dy0 squares the norm needs besides (W, bx and br are the same
 * in both terms). The dy0 of the calls are rows of one batch, so their squares add up.
 */
export class ClipGroup {
  readonly stored: NamedWeights = {};
  private readonly dR: Float32Array;
  private readonly dthr: Float32Array;
  private dy0Squares = 0;

  constructor(like: NamedWeights) {
    for (const [k, v] of Object.entries(like)) this.stored[k] = takeZeroed(v.length);
    this.dR = takeZeroed(like.recurrent_kernel.length);
    this.dthr = takeZeroed(like.thr.length);
  }

  /** Gather one call's norm terms (its stored-parameter gradients are added to `stored` by the layer). */
  add(g: KernelParamGrads, dy0: Float32Array): void {
    addInto(this.dR, g.dR);
    addInto(this.dthr, g.dthr);
    this.dy0Squares += sumSquares(dy0);
  }

  /**
   * Add another group's sums (ClipGroup.take, of later row blocks of the same batch): the same bits
   * as if its calls had been made in this group, each call's terms having been added to zeros there.
   */
  merge(other: ClipGroupSums): void {
    for (const [k, v] of Object.entries(this.stored)) addInto(v, other.stored[k]);
    addInto(this.dR, other.dR);
    addInto(this.dthr, other.dthr);
    this.dy0Squares += other.dy0Squares;
  }

  /** The group's sums, unclipped, in fresh arrays. The group is unusable afterwards. */
  take(): ClipGroupSums {
    const out: ClipGroupSums = {
      stored: Object.fromEntries(Object.entries(this.stored).map(([k, v]) => [k, v.slice()])),
      dR: this.dR.slice(),
      dthr: this.dthr.slice(),
      dy0Squares: this.dy0Squares,
    };
    recycle(this.dR, this.dthr, ...Object.values(this.stored));
    return out;
  }

  /** Clip the group's sum and add it to `grads`; returns the factor. The group is unusable afterwards. */
  finish(maxNorm: number, grads: NamedWeights): number {
    const { kernel, bias, recurrent_bias } = this.stored;
    const f = clipFactorOf(maxNorm, [kernel, this.dR, bias, recurrent_bias, this.dthr], this.dy0Squares);
    for (const [k, v] of Object.entries(this.stored)) addInto(grads[k], v, f);
    recycle(this.dR, this.dthr, ...Object.values(this.stored));
    return f;
  }
}
