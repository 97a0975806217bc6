// The base class of every layer with parameters: named weights with zero-filled gradient twins, the
// kernels it computes with, the train/eval switch, copies in and out, and zeroing the gradients; and
// int8 weights for inference (quantize(), setInt8Weight(): the float weight then holds the values
// the int8 one stands for, and the layer refuses to train or to take new float weights).

import { allocateFloat32, transpose } from "../core/buffer.js";
import { ShapeError, StateError, ValueError } from "../core/errors.js";
import type { Rng } from "../core/rng.js";
import type { Kernels } from "../kernels/backend.js";
import {
  checkInt8Matrix,
  dequantizeMatrix,
  type Int8Matrix,
  quantizeMatrix,
  SCALE_AXES,
  type ScaleAxis,
} from "../kernels/int8.js";
import { defaultKernels } from "../wasm/select.js";
import { assignWeights, checkWeightsFinite, copyWeights, type NamedWeights } from "./common.js";
import { type Int8Slot, LayerInt8, type WeightFormat } from "./int8-weights.js";

/**
 * Returns a placed weight or gradient array to its kernels' memory once the array itself is garbage
 * (not when its layer is: a caller may still hold the array). The held value is a second view of the
 * same block, which does not keep the array alive.
 */
const releasePlaced =
  typeof FinalizationRegistry === "function"
    ? new FinalizationRegistry<{ kernels: Kernels; block: Float32Array }>(({ kernels, block }) => kernels.free?.(block))
    : null;

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
  /** The int8 weights, by name (none: a float32 layer). */
  private readonly int8 = new LayerInt8();
  /** The kernels whose memory placeIn() put the weights and gradients in (null: ordinary arrays). */
  private placedIn: Kernels | null = null;

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
    this.checkFloat32("setWeights");
    assignWeights(this.weights, w, this.layerName);
  }

  /** "int8" once some weight is int8 (inference only), else "float32". */
  get weightFormat(): WeightFormat {
    return this.int8.size > 0 ? "int8" : "float32";
  }

  /** The weights that can be int8, with the [K, N] of the product each enters (none by default). */
  int8Slots(): Record<string, Int8Slot> {
    return {};
  }

  /**
   * Make the layer's weight matrices int8 (every one of int8Slots(), or those named), with one scale
   * per `axis` unit of each (kernels/int8.ts); the float weights become the values the int8 ones stand
   * for. The layer is for inference from then on (a training forward or backward is a StateError).
   */
  quantize(axis: ScaleAxis = SCALE_AXES[0], names?: string[]): this {
    for (const name of names ?? Object.keys(this.int8Slots())) {
      const slot = this.slot(name);
      const w = this.weights[name];
      this.setInt8Weight(
        name,
        quantizeMatrix(slot.transposed ? transpose(w, slot.N, slot.K) : w, slot.K, slot.N, axis),
      );
    }
    return this;
  }

  /** The int8 matrix [K, N] of weight `name`, or null while it is float. */
  int8Weight(name: string): Int8Matrix | null {
    return this.int8.get(name);
  }

  /**
   * Make weight `name` int8: `m` is [K, N] as int8Slots() gives (checked: ShapeError, ValueError), and
   * the float weight becomes the values it stands for, in the layer's layout.
   */
  setInt8Weight(name: string, m: Int8Matrix): void {
    const slot = this.slot(name);
    const where = `${this.layerName} weight "${name}"`;
    if (m.K !== slot.K || m.N !== slot.N)
      throw new ShapeError(where, `an int8 matrix [K, N] = [${slot.K}, ${slot.N}]`, `[${m.K}, ${m.N}]`);
    checkInt8Matrix(where, m);
    const d = dequantizeMatrix(m);
    this.weights[name].set(slot.transposed ? transpose(d, slot.K, slot.N) : d);
    this.int8.set(name, m);
  }

  /** Weight `name` as a product operand: its int8 matrix (in the kernels' memory where they have one), or null while it is float. */
  int8Operand(kernels: Kernels, name: string): Int8Matrix | null {
    return this.int8.operand(kernels, name);
  }

  /** Throw a StateError naming `what` when the layer has int8 weights (they are for inference only). */
  protected checkFloat32(what: string): void {
    if (this.int8.size === 0) return;
    throw new StateError(
      `${this.layerName} ${what}`,
      "a layer with float32 weights",
      "a layer with int8 weights, which are for inference only (train or change the float32 model, then quantize it again)",
    );
  }

  private slot(name: string): Int8Slot {
    const slot = this.int8Slots()[name];
    if (!slot) {
      const names = Object.keys(this.int8Slots());
      throw new ValueError(
        `${this.layerName} weight "${name}"`,
        names.length
          ? `one of ${names.join(", ")} (the weights that can be int8)`
          : "none (this layer has no int8 weights)",
        `"${name}"`,
      );
    }
    return slot;
  }

  /**
   * Keep the weights and their gradients in the memory of `kernels` (when it has one; values kept),
   * so that training's kernel calls (products, optimizer, clipping, finiteness checks) read them in
   * place instead of copying them in at every call. The arrays are new: call this before anything
   * holds the old ones (a model's params() lists the placed ones). Each goes back to that memory
   * once it is garbage itself, so an array a caller still holds stays valid after its layer is gone
   * or placed elsewhere.
   */
  placeIn(kernels: Kernels): void {
    if (!kernels.alloc || this.placedIn === kernels) return;
    for (const named of [this.weights, this.grads]) {
      for (const [k, a] of Object.entries(named)) {
        const b = kernels.alloc(a.length, false);
        b.set(a);
        named[k] = b;
        if (kernels.inMemory?.(b))
          releasePlaced?.register(b, { kernels, block: new Float32Array(b.buffer, b.byteOffset, b.length) });
      }
    }
    this.placedIn = kernels;
  }

  /** Set every accumulated gradient to 0. */
  zeroGrad(): void {
    for (const g of Object.values(this.grads)) g.fill(0);
  }

  /** Throw a NonFiniteError naming the first parameter holding NaN or ±Infinity. */
  protected checkWeights(): void {
    checkWeightsFinite(this.weights, this.layerName, this.kernels);
  }
}
