// A fully connected layer, y = x·W + b, whose input may be the events of an EGRU layer: then the
// forward gathers one row of W per nonzero input (a readout or decoder costs what the events
// require), and the weight gradient accumulates only those rows.
//
// Parameters (named Float32Arrays): weight [I, O] (rows per input unit, so events read rows),
// bias [O]. PyTorch's nn.Linear stores weight as [O, I]: getTorchWeights/setTorchWeights convert.
// The weight can be int8 (quantize(), layers/weighted-layer.ts: inference only).
//
// Gradients: backward ACCUMULATES into layer.grads and RETURNS a fresh dx.

import { transpose } from "../core/buffer.js";
import { ShapeError } from "../core/errors.js";
import type { Rng } from "../core/rng.js";
import { checkFinite, checkLength, checkPositiveInt } from "../core/validate.js";
import type { Kernels } from "../kernels/backend.js";
import type { MacCount } from "../kernels/gated-cell.js";
import { addBiasRows, sumRowsInto } from "../kernels/gemm.js";
import { eventOrDenseNN } from "../kernels/products.js";
import { assignWeights, checkMask, finiteScan, layerRng, uniformInit, type NamedWeights } from "./common.js";
import type { Int8Slot } from "./int8-weights.js";
import { WeightedLayer } from "./weighted-layer.js";

export interface LinearOptions {
  inputSize: number;
  outputSize: number;
  /** The input holds events (mostly exact zeros): skip them in the products. Default false. */
  inputEvents?: boolean;
  /** Default true. */
  bias?: boolean;
  seed?: number;
  rng?: Rng;
  kernels?: Kernels;
}

export interface LinearResult {
  y: Float32Array; // [N, O]
  macs: MacCount;
  readonly saved: { x: Float32Array; N: number; kernels: Kernels };
}

export class Linear extends WeightedLayer {
  readonly inputSize: number;
  readonly outputSize: number;
  readonly inputEvents: boolean;
  readonly hasBias: boolean;

  constructor(opts: LinearOptions) {
    checkPositiveInt("inputSize", opts.inputSize);
    checkPositiveInt("outputSize", opts.outputSize);
    const rng = layerRng(opts);
    const I = opts.inputSize;
    const O = opts.outputSize;
    const hasBias = opts.bias ?? true;
    // PyTorch's default: uniform in ±1/√I for weight and bias
    const weights: NamedWeights = { weight: new Float32Array(I * O) };
    uniformInit(rng, weights.weight, 1 / Math.sqrt(I));
    if (hasBias) {
      weights.bias = new Float32Array(O);
      uniformInit(rng, weights.bias, 1 / Math.sqrt(I));
    }
    super("Linear", rng, weights, opts.kernels);
    this.inputSize = I;
    this.outputSize = O;
    this.inputEvents = opts.inputEvents ?? false;
    this.hasBias = hasBias;
  }

  /** weight [I, O] can be int8. */
  override int8Slots(): Record<string, Int8Slot> {
    return { weight: { K: this.inputSize, N: this.outputSize, transposed: false } };
  }

  /** y [N, O] = x [N, I] · W + b for N rows (N = T·B for a sequence). */
  forward(x: ArrayLike<number>, N: number): LinearResult {
    checkPositiveInt("N", N);
    const I = this.inputSize;
    const O = this.outputSize;
    checkLength("x", x, N * I, `N·I = ${N}·${I}`);
    checkFinite("x", x, finiteScan(this.kernels));
    this.checkWeights();
    if (this.training) this.checkFloat32("forward in training mode (int8 weights run in evaluation mode: eval())");
    const xs = x instanceof Float32Array ? x : Float32Array.from(x);
    const kernels = this.kernels;
    const y = new Float32Array(N * O);
    const dense = N * I * O;
    const W = this.int8Operand(kernels, "weight") ?? this.weights.weight;
    const executed = eventOrDenseNN(kernels, this.inputEvents && "always", N, O, I, xs, 0, W, y);
    if (this.hasBias) addBiasRows(y, 0, N, O, this.weights.bias);
    return { y, macs: { executed, dense }, saved: { x: xs, N, kernels } };
  }

  /**
   * Accumulates dW, db; returns dx [N, I] (computed only where dxMask is 1, when given) and the
   * MACs of the backward products.
   */
  backward(
    result: LinearResult,
    dy: ArrayLike<number>,
    opts: { dxMask?: ArrayLike<number> | null } = {},
  ): { dx: Float32Array; macs: MacCount } {
    const { x, N, kernels } = result.saved;
    this.checkFloat32("backward");
    const I = this.inputSize;
    const O = this.outputSize;
    checkLength("dy", dy, N * O, `N·O = ${N}·${O}`);
    checkFinite("dy", dy, finiteScan(kernels));
    const g = dy instanceof Float32Array ? dy : Float32Array.from(dy);
    const dense = 2 * N * I * O;
    let executed = 0;
    const dx = new Float32Array(N * I);
    if (opts.dxMask) {
      const mask = checkMask("dxMask", opts.dxMask, N * I, `N·I = ${N}·${I}`);
      executed += kernels.maskedGemmNT(N, I, O, g, 0, this.weights.weight, 0, mask, 0, dx, 0);
    } else {
      kernels.gemmNT(N, I, O, g, 0, this.weights.weight, 0, dx, 0, false);
      executed += N * I * O;
    }
    if (this.inputEvents) executed += kernels.eventGemmTN(I, O, N, x, 0, g, 0, this.grads.weight, 0);
    else {
      kernels.gemmTN(I, O, N, x, 0, g, 0, this.grads.weight, 0, true);
      executed += N * I * O;
    }
    if (this.hasBias) sumRowsInto(this.grads.bias, g, 0, N, O);
    return { dx, macs: { executed, dense } };
  }

  /** weight as PyTorch's nn.Linear holds it, [O, I], and bias. */
  getTorchWeights(): NamedWeights {
    const out: NamedWeights = { weight: transpose(this.weights.weight, this.inputSize, this.outputSize) };
    if (this.hasBias) out.bias = this.weights.bias.slice();
    return out;
  }

  /** Set from PyTorch's nn.Linear layout (weight [O, I], bias [O]); checked before anything changes. */
  setTorchWeights(w: { weight?: ArrayLike<number>; bias?: ArrayLike<number> }): void {
    const theirs: NamedWeights = { weight: new Float32Array(this.inputSize * this.outputSize) };
    if (this.hasBias) theirs.bias = new Float32Array(this.outputSize);
    if (w.bias && !this.hasBias) throw new ShapeError('Linear weight "bias"', "no bias (bias: false)", "a bias");
    assignWeights(theirs, w as Record<string, ArrayLike<number>>, "Linear");
    const ours: Record<string, ArrayLike<number>> = {};
    if (w.weight) ours.weight = transpose(theirs.weight, this.outputSize, this.inputSize);
    if (w.bias) ours.bias = theirs.bias;
    this.setWeights(ours);
  }

  /** Gradients in PyTorch's layout. */
  torchGrads(): NamedWeights {
    const out: NamedWeights = { weight: transpose(this.grads.weight, this.inputSize, this.outputSize) };
    if (this.hasBias) out.bias = this.grads.bias.slice();
    return out;
  }
}
