// The language model's decoder, tied to its embedding (docs/paper-setups.md#language-model-setup): logits = x · Embᵀ + bias, with
// Emb the embedding's [V, E] table and its own bias [V] (initialised to 0). Forward and backward
// side by side; gradients for Emb accumulate into the embedding's gradient.
//
// When the input holds events (the top EGRU layer's output), the forward gathers one row of Embᵀ
// per nonzero input, so a decoder costs what the events require; its weight gradient accumulates
// only those rows, and dx is computed only where the layer below can take it (its receive mask).
// Each of the three chooses per call between that and the dense product by the density of its
// operand (x, or the mask), against the kernels' eventCrossover, as the layers' products do.
// Embᵀ [E, V] is kept as a transposed copy in the kernels' memory (where they have one), refreshed
// before every training forward and whenever markStale() says the weights changed (evaluation
// forwards reuse it); the products read it in place. An int8 embedding (quantize()) is read as its
// int8 copy [E, V] instead, which is laid out as the product takes it; inference only.
//
// A `resident` forward (the language model's training forwards) writes the logits [N, V] into a
// buffer of the kernels' memory and hands out a second one for the loss to write ∂loss/∂logits into,
// so the softmax, the bias add, the bias gradient and the products use them in place instead of
// copying 4·N·V bytes in and out per call. The pair belongs to the result until release(r) hands it
// back to the kernels' memory (as the layers' working arrays of a run).

import { ShapeError, StateError } from "../core/errors.js";
import { checkPositiveInt } from "../core/validate.js";
import type { Kernels } from "../kernels/backend.js";
import { defaultKernels } from "../wasm/select.js";
import { type MacCount, sparseEnough } from "../kernels/gated-cell.js";
import { biasRows, columnSums, transposeMatrix } from "../kernels/row-ops.js";
import { eventOrDenseNN } from "../kernels/products.js";
import type { Embedding } from "./embedding.js";

export interface DecoderResult {
  logits: Float32Array; // [N, V]
  /** Where the loss may write ∂loss/∂logits [N, V] (the kernels' memory, reused), or null (allocate one). */
  dlogitsInto: Float32Array | null;
  macs: MacCount;
  readonly saved: { x: Float32Array; N: number; kernels: Kernels; owned: Float32Array[] };
}

/** Named arrays per kernel set (Embᵀ, the weight gradient's [E, V]), in its memory where it has one; grown when needed, kept. */
class ResidentArrays {
  private readonly sets = new WeakMap<Kernels, Map<string, Float32Array>>();

  /** The array `name` of n floats (old contents, or zeros when zeroed) for `kernels`. */
  get(kernels: Kernels, name: string, n: number, zeroed: boolean): Float32Array {
    let held = this.sets.get(kernels);
    if (!held) this.sets.set(kernels, (held = new Map()));
    let a = held.get(name);
    if (!a || a.length < n) {
      if (a) kernels.free?.(a);
      a = kernels.alloc ? kernels.alloc(n, false) : new Float32Array(n);
      held.set(name, a);
    }
    const view = a.length === n ? a : a.subarray(0, n);
    if (zeroed) view.fill(0);
    return view;
  }
}

export class TiedDecoder {
  readonly embedding: Embedding;
  readonly inputEvents: boolean;
  /** bias [V] and its gradient. */
  readonly bias: Float32Array;
  readonly biasGrad: Float32Array;
  private wTKernels: Kernels | null = null; // whose memory holds the current Embᵀ [E, V] (resident "wT")
  private stale = true;
  private readonly fixedKernels: Kernels | null;
  private readonly resident = new ResidentArrays();

  /** kernels: what to compute with (default: the library's default kernels at each call). */
  constructor(embedding: Embedding, opts: { inputEvents?: boolean; kernels?: Kernels } = {}) {
    this.embedding = embedding;
    this.fixedKernels = opts.kernels ?? null;
    this.inputEvents = opts.inputEvents ?? false;
    this.bias = new Float32Array(embedding.vocab);
    this.biasGrad = new Float32Array(embedding.vocab);
  }

  /** The kernels of the next call: the ones given at construction, else the library's default. */
  get kernels(): Kernels {
    return this.fixedKernels ?? defaultKernels();
  }

  /** Say that the embedding's weights changed (after an optimizer step or a load). */
  markStale(): void {
    this.stale = true;
  }

  /** Embᵀ [E, V] in the kernels' memory, transposed again when stale or in training. */
  private transposed(kernels: Kernels): Float32Array {
    const V = this.embedding.vocab;
    const E = this.embedding.dim;
    const t = this.resident.get(kernels, "wT", E * V, false);
    if (this.stale || this.embedding.training || this.wTKernels !== kernels) {
      transposeMatrix(kernels, V, E, this.embedding.weights.weight, t, false);
      this.stale = false;
      this.wTKernels = kernels;
    }
    return t;
  }

  /**
   * logits [N, V] for x [N, E]; with `resident`, in the kernels' memory with a gradient buffer beside
   * them (DecoderResult.dlogitsInto), both valid until release() of this result.
   */
  forward(x: Float32Array, N: number, resident = false): DecoderResult {
    checkPositiveInt("N", N);
    const V = this.embedding.vocab;
    const E = this.embedding.dim;
    if (x.length !== N * E) throw new ShapeError("decoder input", `N·E = ${N}·${E} values`, String(x.length));
    const kernels = this.kernels;
    const wT = this.embedding.int8Operand(kernels, "weight") ?? this.transposed(kernels);
    const logits = resident && kernels.alloc ? kernels.alloc(N * V, false) : new Float32Array(N * V);
    const dlogitsInto = resident && kernels.alloc ? kernels.alloc(N * V, false) : null;
    const dense = N * E * V;
    // the event product over the input's nonzero entries while they are sparse enough to pay
    const executed = eventOrDenseNN(kernels, this.inputEvents, N, V, E, x, 0, wT, logits);
    biasRows(kernels, logits, 0, N, V, this.bias);
    const owned = dlogitsInto ? [logits, dlogitsInto] : [];
    return { logits, dlogitsInto, macs: { executed, dense }, saved: { x, N, kernels, owned } };
  }

  /** Hand r's resident logits and dlogitsInto back to the kernels' memory (they must not be used afterwards). */
  release(r: DecoderResult): void {
    const { kernels, owned } = r.saved;
    if (kernels.free) for (const a of owned) kernels.free(a);
    owned.length = 0;
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
    if (this.inputEvents && sparseEnough(kernels, x, 0, N * E)) {
      // dEmbᵀ [E, V] = xᵀ · dlogits over the nonzero inputs, then added into dEmb transposed
      const gT = this.resident.get(kernels, "gT", E * V, true);
      executed += kernels.eventGemmTN(E, V, N, x, 0, dlogits, 0, gT, 0);
      transposeMatrix(kernels, E, V, gT, g, true);
    } else {
      kernels.gemmTN(V, E, N, dlogits, 0, x, 0, g, 0, true); // dEmb [V, E] += dlogitsᵀ · x
      executed += N * E * V;
    }
    columnSums(kernels, this.biasGrad, dlogits, 0, N, V);
    const dx = new Float32Array(N * E);
    // the masked product while the mask is sparse enough to pay (as the layers' dx), else the dense one
    if (dxMask && sparseEnough(kernels, dxMask, 0, N * E)) {
      executed += kernels.maskedGemmNT(
        N,
        E,
        V,
        dlogits,
        0,
        // the forward's Embᵀ (transposed() would transpose again in training)
        this.wTKernels === kernels ? this.resident.get(kernels, "wT", E * V, false) : this.transposed(kernels),
        0,
        dxMask,
        0,
        dx,
        0,
      );
    } else {
      kernels.gemmNN(N, E, V, dlogits, 0, this.embedding.weights.weight, 0, dx, 0, false); // dx = dlogits · Emb
      executed += N * E * V;
      if (dxMask) for (let i = 0; i < dx.length; i++) if (dxMask[i] === 0) dx[i] = 0; // same contract either way
    }
    return { dx, macs: { executed, dense } };
  }
}
