// A token embedding: a [V, E] table whose rows are looked up by token id, with the word-level
// embedding dropout of AWD-LSTM / the EGRU language model (docs/paper-setups.md#regularisers-and-dropouts-around-the-layer): in training, whole vocabulary
// rows are dropped with probability p (one mask per forward) and the kept rows scaled by 1/(1 − p).
// Backward scatter-adds the output gradient into the rows used (the same mask applied).
// The table can be int8 (quantize(): its int8 copy is [E, V], the tied decoder's product; lookups
// read the float table, which then holds the values the int8 one stands for); inference only.

import { allocateFloat32 } from "../core/buffer.js";
import { ShapeError, ValueError } from "../core/errors.js";
import type { Rng } from "../core/rng.js";
import { checkPositiveInt, checkProbability } from "../core/validate.js";
import { uniformInit, type NamedWeights } from "../layers/common.js";
import type { Int8Slot } from "../layers/int8-weights.js";
import { WeightedLayer } from "../layers/weighted-layer.js";

export interface EmbeddingOptions {
  vocab: number;
  dim: number;
  /** Word-level dropout probability (training only). Default 0. */
  wordDropout?: number;
  /** Init range: uniform in ±initRange (the language model's 0.1). Default 0.1. */
  initRange?: number;
  rng: Rng;
}

export interface EmbeddingResult {
  out: Float32Array; // [N, E]
  readonly saved: { tokens: Int32Array; scale: Float32Array | null };
}

export class Embedding extends WeightedLayer {
  readonly vocab: number;
  readonly dim: number;
  readonly wordDropout: number;

  constructor(opts: EmbeddingOptions) {
    checkPositiveInt("vocab", opts.vocab);
    checkPositiveInt("dim", opts.dim);
    checkProbability("wordDropout", opts.wordDropout ?? 0);
    const weights: NamedWeights = {
      weight: allocateFloat32(opts.vocab * opts.dim, `embedding weight (${opts.vocab}·${opts.dim} values)`),
    };
    uniformInit(opts.rng, weights.weight, opts.initRange ?? 0.1);
    super("Embedding", opts.rng, weights);
    this.vocab = opts.vocab;
    this.dim = opts.dim;
    this.wordDropout = opts.wordDropout ?? 0;
  }

  /** weight [V, E] can be int8, as the tied decoder's [E, V] (per output unit = per token). */
  override int8Slots(): Record<string, Int8Slot> {
    return { weight: { K: this.dim, N: this.vocab, transposed: true } };
  }

  /** out [N, E]: the rows of `tokens` (N ids in 0 … V − 1), after word dropout in training. */
  forward(tokens: ArrayLike<number>): EmbeddingResult {
    const N = tokens.length;
    const E = this.dim;
    const ids = Int32Array.from(tokens, (t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= this.vocab)
        throw new ValueError(`tokens[${i}]`, `an id in 0…${this.vocab - 1}`, String(t));
      return t;
    });
    if (this.training) this.checkFloat32("forward in training mode (int8 weights run in evaluation mode: eval())");
    const p = this.training ? this.wordDropout : 0;
    let scale: Float32Array | null = null;
    if (p > 0) {
      scale = new Float32Array(this.vocab);
      for (let v = 0; v < this.vocab; v++) scale[v] = this.rng.bernoulli(1 - p) / (1 - p);
    }
    const w = this.weights.weight;
    const out = new Float32Array(N * E);
    for (let n = 0; n < N; n++) {
      const row = ids[n] * E;
      const s = scale ? scale[ids[n]] : 1;
      for (let e = 0; e < E; e++) out[n * E + e] = s * w[row + e];
    }
    return { out, saved: { tokens: ids, scale } };
  }

  /** Accumulate dW from dOut [N, E]. */
  backward(result: EmbeddingResult, dOut: Float32Array): void {
    const { tokens, scale } = result.saved;
    this.checkFloat32("backward");
    const E = this.dim;
    if (dOut.length !== tokens.length * E)
      throw new ShapeError("dOut", `N·E = ${tokens.length}·${E} values`, String(dOut.length));
    const g = this.grads.weight;
    for (let n = 0; n < tokens.length; n++) {
      const row = tokens[n] * E;
      const s = scale ? scale[tokens[n]] : 1;
      if (s === 0) continue;
      for (let e = 0; e < E; e++) g[row + e] += s * dOut[n * E + e];
    }
  }
}
