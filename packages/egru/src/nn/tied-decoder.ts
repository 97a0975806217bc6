// The language model's decoder, tied to its embedding (docs/paper-setups.md#language-model-setup): logits = x · Embᵀ + bias, with
// Emb the embedding's [V, E] table and its own bias [V] (initialised to 0). Forward and backward
// side by side; gradients for Emb accumulate into the embedding's gradient.
//
// When the input holds events (the top EGRU layer's output), the forward gathers one row of Embᵀ
// per nonzero input, so a decoder costs what the events require; its weight gradient accumulates
// only those rows, and dx is computed only where the layer below can take it (its receive mask).
// Embᵀ [E, V] is kept as a transposed copy, refreshed before every training forward and whenever
// markStale() says the weights changed (evaluation forwards reuse it). An int8 embedding (quantize())
// is read as its int8 copy [E, V] instead, which is laid out as the product takes it; inference only.

import { ShapeError, StateError } from "../core/errors.js";
import { checkPositiveInt } from "../core/validate.js";
import type { Kernels } from "../kernels/backend.js";
import { defaultKernels } from "../wasm/select.js";
import { type MacCount, sparseEnough } from "../kernels/gated-cell.js";
import { addBiasRows, sumRowsInto } from "../kernels/gemm.js";
import { eventOrDenseNN } from "../kernels/products.js";
import type { Embedding } from "./embedding.js";

export interface DecoderResult {
  logits: Float32Array; // [N, V]
  macs: MacCount;
  readonly saved: { x: Float32Array; N: number; kernels: Kernels };
}

export class TiedDecoder {
  readonly embedding: Embedding;
  readonly inputEvents: boolean;
  /** bias [V] and its gradient. */
  readonly bias: Float32Array;
  readonly biasGrad: Float32Array;
  private wT: Float32Array; // [E, V]
  private stale = true;
  private readonly fixedKernels: Kernels | null;

  /** kernels: what to compute with (default: the library's default kernels at each call). */
  constructor(embedding: Embedding, opts: { inputEvents?: boolean; kernels?: Kernels } = {}) {
    this.embedding = embedding;
    this.fixedKernels = opts.kernels ?? null;
    this.inputEvents = opts.inputEvents ?? false;
    this.bias = new Float32Array(embedding.vocab);
    this.biasGrad = new Float32Array(embedding.vocab);
    this.wT = new Float32Array(embedding.vocab * embedding.dim);
  }

  /** The kernels of the next call: the ones given at construction, else the library's default. */
  get kernels(): Kernels {
    return this.fixedKernels ?? defaultKernels();
  }

  /** Say that the embedding's weights changed (after an optimizer step or a load). */
  markStale(): void {
    this.stale = true;
  }

  private transposed(): Float32Array {
    if (this.stale || this.embedding.training) {
      const V = this.embedding.vocab;
      const E = this.embedding.dim;
      const w = this.embedding.weights.weight;
      const t = this.wT;
      for (let v = 0; v < V; v++) for (let e = 0; e < E; e++) t[e * V + v] = w[v * E + e];
      this.stale = false;
    }
    return this.wT;
  }

  /** logits [N, V] for x [N, E]. */
  forward(x: Float32Array, N: number): DecoderResult {
    checkPositiveInt("N", N);
    const V = this.embedding.vocab;
    const E = this.embedding.dim;
    if (x.length !== N * E) throw new ShapeError("decoder input", `N·E = ${N}·${E} values`, String(x.length));
    const kernels = this.kernels;
    const wT = this.embedding.int8Operand(kernels, "weight") ?? this.transposed();
    const logits = new Float32Array(N * V);
    const dense = N * E * V;
    const executed = eventOrDenseNN(kernels, this.inputEvents && "always", N, V, E, x, 0, wT, logits);
    addBiasRows(logits, 0, N, V, this.bias);
    return { logits, macs: { executed, dense }, saved: { x, N, kernels } };
  }

  /** Accumulate dEmb and dbias from dlogits [N, V]; return dx [N, E] (only where dxMask is 1, when given). */
  backward(
    r: DecoderResult,
    dlogits: Float32Array,
    dxMask: Float32Array | null = null,
  ): { dx: Float32Array; macs: MacCount } {
    const { x, N, kernels } = r.saved;
    if (this.embedding.weightFormat === "int8")
      throw new StateError("decoder backward", "a float32 embedding", "an int8 one, which is for inference only");
    const V = this.embedding.vocab;
    const E = this.embedding.dim;
    if (dlogits.length !== N * V) throw new ShapeError("dlogits", `N·V = ${N}·${V} values`, String(dlogits.length));
    const g = this.embedding.grads.weight; // [V, E]
    const dense = 2 * N * E * V;
    let executed = 0;
    if (this.inputEvents) {
      // dEmbᵀ [E, V] = xᵀ · dlogits over the nonzero inputs, then added into dEmb transposed
      const gT = new Float32Array(E * V);
      executed += kernels.eventGemmTN(E, V, N, x, 0, dlogits, 0, gT, 0);
      for (let e = 0; e < E; e++) for (let v = 0; v < V; v++) g[v * E + e] += gT[e * V + v];
    } else {
      kernels.gemmTN(V, E, N, dlogits, 0, x, 0, g, 0, true); // dEmb [V, E] += dlogitsᵀ · x
      executed += N * E * V;
    }
    sumRowsInto(this.biasGrad, dlogits, 0, N, V);
    const dx = new Float32Array(N * E);
    // the masked product while the mask is sparse enough to pay (as the layers' dx), else the dense one
    if (dxMask && sparseEnough(kernels, dxMask, 0, N * E)) {
      executed += kernels.maskedGemmNT(N, E, V, dlogits, 0, this.wT, 0, dxMask, 0, dx, 0);
    } else {
      kernels.gemmNN(N, E, V, dlogits, 0, this.embedding.weights.weight, 0, dx, 0, false); // dx = dlogits · Emb
      executed += N * E * V;
      if (dxMask) for (let i = 0; i < dx.length; i++) if (dxMask[i] === 0) dx[i] = 0; // same contract either way
    }
    return { dx, macs: { executed, dense } };
  }
}
