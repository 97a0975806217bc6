// The base class of every layer with parameters: named weights with zero-filled gradient twins, the
// kernels it computes with, the train/eval switch, copies in and out, and zeroing the gradients.

import { allocateFloat32 } from "../core/buffer.js";
import type { Rng } from "../core/rng.js";
import type { Kernels } from "../kernels/backend.js";
import { defaultKernels } from "../wasm/select.js";
import { assignWeights, checkWeightsFinite, copyWeights, type NamedWeights } from "./common.js";

/** The options every layer with parameters takes. */
export interface LayerKernelsOption {
  /**
   * The kernels to compute with. Default: the library's default kernels at each call (the
   * WebAssembly SIMD kernels where the host has them, see wasm/select.ts).
   */
  kernels?: Kernels;
}

/**
 * What the EGRU, GRU, LSTM, Linear and Conv2d layers share: named weights with zero-filled
 * gradient twins, the kernels, the train/eval switch, copies in and out, and zeroing the gradients.
 */
export abstract class WeightedLayer {
  /** Training mode draws the DropConnect (and zoneout) masks; evaluation uses the stored weights as is. */
  training = true;
  /** The parameters, by name. */
  readonly weights: NamedWeights;
  /** Accumulated gradients, same names and shapes as weights. */
  readonly grads: NamedWeights;
  /** Random stream for the masks (init has already drawn from it). */
  protected readonly rng: Rng;
  /** "EGRU", "GRU" or "LSTM", for error messages. */
  private readonly layerName: string;
  /** The kernels given at construction, if any. */
  private readonly fixedKernels: Kernels | null;

  protected constructor(layerName: string, rng: Rng, weights: NamedWeights, kernels?: Kernels) {
    this.layerName = layerName;
    this.fixedKernels = kernels ?? null;
    this.rng = rng;
    this.weights = weights;
    this.grads = {};
    for (const [k, w] of Object.entries(weights))
      this.grads[k] = allocateFloat32(w.length, `gradients ${k} (${w.length} values)`);
  }

  /** The kernels of the next call: the ones given at construction, else the library's default. */
  get kernels(): Kernels {
    return this.fixedKernels ?? defaultKernels();
  }

  /** Switch to training mode (masks drawn per forward). */
  train(): this {
    this.training = true;
    return this;
  }

  /** Switch to evaluation mode (no DropConnect; zoneout, where configured, as the expected mix). */
  eval(): this {
    this.training = false;
    return this;
  }

  /** Copies of the parameters in the layer's own layout. */
  getWeights(): NamedWeights {
    return copyWeights(this.weights);
  }

  /** Set some or all parameters (the layer's own names and layout); names, lengths and finiteness are checked first. */
  setWeights(w: Record<string, ArrayLike<number>>): void {
    assignWeights(this.weights, w, this.layerName);
  }

  /** Set every accumulated gradient to 0. */
  zeroGrad(): void {
    for (const g of Object.values(this.grads)) g.fill(0);
  }

  /** Throw a NonFiniteError naming the first parameter holding NaN or ±Infinity. */
  protected checkWeights(): void {
    checkWeightsFinite(this.weights, this.layerName);
  }
}
