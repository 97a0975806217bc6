// The word-level language model of the paper's LM experiments (docs/paper-setups.md#language-model-setup, derived from AWD-LSTM):
//   tokens [T, B] → embedding (uniform ±0.1, word dropout) → dropout(emb) → cell 0 (E→H)
//   → dropout(between) → … → cell L−1 (H→E) → dropout(output, p = 0.5 officially) → decoder tied to
//   the embedding (+ bias) → logits [T·B, V]
// with EGRU, GRU or LSTM cells and DropConnect on their recurrent weights (GRU, LSTM: an element or
// a row mask, AWD's WeightDrop). The dropout masks are "step" by default (one mask per time step
// shared by the batch: the official code's quirk 13 in
// docs/paper-setups.md#quirks-of-the-official-code-reproduce-or-fix) or "locked" (AWD's one mask per sequence).
// GRU and LSTM models can add AWD's AR and TAR on the last layer's output [T, B, E] to the loss
// (training forwards only; nn/activation-reg.ts): AR = α·mean(d²) on the output after the output
// dropout (AWD-LSTM's; arOutput "raw": before it, as EvNN's LM code), TAR = β·mean((h_{t+1} − h_t)²)
// on the raw output; their gradients enter the backward with the decoder's.
//
// State is carried between segments: EGRU through its last output y (fed back as y0), GRU through
// h, LSTM through h and c; the carried state is a copy (detached: no gradient flows back into the
// previous segment). Stacked EGRU layers and the decoder read events: silent units cost nothing in
// their products, and input gradients are computed only where a unit can take them.

import { ValueError } from "../core/errors.js";
import { recycle } from "../core/pool.js";
import { Rng } from "../core/rng.js";
import { checkPositiveInt, checkProbability, checkRange } from "../core/validate.js";
import type { Kernels } from "../kernels/backend.js";
import type { MacCount } from "../kernels/gated-cell.js";
import type { CellKind, CellOptions, CellRun, LayerReport } from "./cells.js";
import { layerReports, SequenceCell } from "./cells.js";
import { addArGrad, addTarGrad, arTerm, tarTerm } from "./activation-reg.js";
import { dropoutBackward, dropoutForward, type DropoutResult } from "./dropout.js";
import { Embedding, type EmbeddingResult } from "./embedding.js";
import { layerParams, type Param } from "./params.js";
import { TiedDecoder, type DecoderResult } from "./tied-decoder.js";

export type DropoutMaskMode = "step" | "locked";

/** The output AR reads: "dropped" (after the output dropout: salesforce AWD-LSTM) or "raw" (before it: EvNN). */
export type ArOutput = "dropped" | "raw";

export interface LanguageModelOptions extends CellOptions {
  cell: CellKind;
  /** V: vocabulary size. */
  vocab: number;
  /** E: embedding size (also the last layer's size, for the tied decoder). */
  embedding: number;
  /** H: units of the inner layers. */
  hidden: number;
  /** L ≥ 1 layers: E→H, H→H, …, H→E (one layer: E→E). */
  layers: number;
  /** Word-level embedding dropout (whole vocabulary rows). Default 0. */
  dropoutWords?: number;
  /** Dropout on the embeddings, between layers, and on the last layer's output (official: 0.5). */
  dropoutEmbedding?: number;
  dropoutForward?: number;
  dropoutOutput?: number;
  /** "step" (official) or "locked" (AWD). Default "step". */
  dropoutMask?: DropoutMaskMode;
  /**
   * GRU, LSTM: the weights α of AR α·mean(h²) and β of TAR β·mean((h_{t+1} − h_t)²) on the last
   * layer's output (AWD-LSTM: 2 and 1), ≥ 0; default 0 (off). An EGRU model refuses them (ValueError).
   */
  arWeight?: number;
  tarWeight?: number;
  /** Which output AR reads; default "dropped". TAR always reads the raw output. */
  arOutput?: ArOutput;
  seed: number;
}

/** The state carried between segments: per layer, EGRU [y], GRU [h], LSTM [h, c], each [B, size]. */
export type LmState = Float32Array[][];

export interface LmRun {
  T: number;
  B: number;
  /** [T·B, V]; in training in the kernels' memory (where they have one), until backward(run) or release(run). */
  logits: Float32Array;
  /**
   * Where the loss may write ∂loss/∂logits [T·B, V] (softmaxCrossEntropy's `into`): in training, a
   * buffer in the kernels' memory beside the logits, so neither is copied; null otherwise. Both are
   * then valid until backward(run) or release(run), which hand them back to the kernels' memory.
   */
  dlogitsInto: Float32Array | null;
  /** The AR and TAR terms of the loss (0 when off or in evaluation; for a block of a batch, its share). */
  ar: number;
  tar: number;
  /** The weight of the AR/TAR terms and of their gradients: the rows' share of the batch (1: all of it; 0 in evaluation). */
  regScale: number;
  /** The state after the segment (fresh copies: detached). */
  state: LmState;
  layers: LayerReport[];
  decoderMacs: MacCount;
  readonly saved: {
    emb: EmbeddingResult;
    drops: DropoutResult[]; // [embedding, between 0…L−2, output]
    runs: CellRun[];
    decoder: DecoderResult;
  };
}

export class LanguageModel {
  readonly options: Required<
    Omit<LanguageModelOptions, "egru" | "dropConnect" | "dropConnectShape" | "zoneout" | "kernels">
  > &
    CellOptions;
  readonly embedding: Embedding;
  readonly cells: SequenceCell[];
  readonly decoder: TiedDecoder;
  /** The one random stream of init and masks (its state goes into checkpoints). */
  readonly rng: Rng;
  /** True in training mode (train()), false in evaluation mode (eval()). */
  training = true;

  /** The kernels the model computes with (the optimizer's updates run on them too). */
  get kernels(): Kernels {
    return this.decoder.kernels;
  }

  constructor(opts: LanguageModelOptions) {
    checkPositiveInt("vocab", opts.vocab);
    checkPositiveInt("embedding", opts.embedding);
    checkPositiveInt("hidden", opts.hidden);
    checkPositiveInt("layers", opts.layers);
    for (const k of ["dropoutWords", "dropoutEmbedding", "dropoutForward", "dropoutOutput"] as const)
      checkProbability(k, opts[k] ?? 0);
    const mode = opts.dropoutMask ?? "step";
    if (mode !== "step" && mode !== "locked")
      throw new ValueError("dropoutMask", '"step" or "locked"', JSON.stringify(mode));
    checkActivityTerms(opts);
    this.options = {
      dropoutWords: 0,
      dropoutEmbedding: 0,
      dropoutForward: 0,
      dropoutOutput: 0,
      dropoutMask: "step",
      ...opts,
      arWeight: opts.arWeight ?? 0,
      tarWeight: opts.tarWeight ?? 0,
      arOutput: opts.arOutput ?? "dropped",
    };
    this.rng = new Rng(opts.seed);
    this.embedding = new Embedding({
      vocab: opts.vocab,
      dim: opts.embedding,
      wordDropout: opts.dropoutWords ?? 0,
      rng: this.rng,
    });
    const events = opts.cell === "egru";
    this.cells = [];
    for (let l = 0; l < opts.layers; l++) {
      const I = l === 0 ? opts.embedding : opts.hidden;
      const H = l === opts.layers - 1 ? opts.embedding : opts.hidden;
      this.cells.push(new SequenceCell(opts.cell, I, H, this.rng, { ...opts, inputEvents: l > 0 && events }));
    }
    this.decoder = new TiedDecoder(this.embedding, { inputEvents: events, kernels: opts.kernels });
  }

  /** Every parameter, named, with its gradient and group (the embedding is also the decoder's weight). */
  params(): Param[] {
    return [
      ...layerParams("embedding", this.embedding),
      ...this.cells.flatMap((c, l) => layerParams(`cells.${l}`, c.layer)),
      { name: "decoder.bias", value: this.decoder.bias, grad: this.decoder.biasGrad, group: "default" },
    ];
  }

  /**
   * Keep every weight and gradient in the memory of `kernels` (WeightedLayer.placeIn; the decoder's
   * bias, V floats, stays an ordinary array): a trainer does this before its first step.
   */
  placeIn(kernels: Kernels): void {
    this.embedding.placeIn(kernels);
    for (const c of this.cells) c.layer.placeIn(kernels);
    this.decoder.markStale();
  }

  train(): this {
    this.training = true;
    this.embedding.train();
    for (const c of this.cells) c.layer.train();
    return this;
  }

  eval(): this {
    this.training = false;
    this.embedding.eval();
    for (const c of this.cells) c.layer.eval();
    return this;
  }

  zeroGrad(): void {
    for (const p of this.params()) p.grad.fill(0);
  }

  /** Say the weights changed (after an optimizer step or a load): the decoder's transposed copy is refreshed. */
  weightsChanged(): void {
    this.decoder.markStale();
  }

  /** Zero state for a batch of B streams. */
  zeroState(B: number): LmState {
    return this.cells.map((c) => (c.kind === "lstm" ? [0, 1] : [0]).map(() => new Float32Array(B * c.hiddenSize)));
  }

  /**
   * logits [T·B, V] for tokens [T, B] (time-major ids), from `state` (zeros when null); in training,
   * the AR/TAR terms weighted by `regScale` (the B rows' share of a larger batch, when they are a block of one).
   */
  forward(tokens: ArrayLike<number>, T: number, B: number, state: LmState | null = null, regScale = 1): LmRun {
    checkPositiveInt("T", T);
    checkPositiveInt("B", B);
    if (tokens.length !== T * B) throw new ValueError("tokens", `T·B = ${T}·${B} ids`, String(tokens.length));
    if (state && state.length !== this.cells.length)
      throw new ValueError("state", `${this.cells.length} layers`, String(state.length));
    const o = this.options;
    const kind = o.dropoutMask;
    const emb = this.embedding.forward(tokens);
    const drops: DropoutResult[] = [
      dropoutForward(kind, emb.out, T, B, o.embedding, o.dropoutEmbedding, this.rng, this.training),
    ];
    const runs: CellRun[] = [];
    let input = drops[0].out;
    for (let l = 0; l < this.cells.length; l++) {
      const c = this.cells[l];
      const r = c.forward(input, T, B, state ? state[l] : null);
      runs.push(r);
      const p = l === this.cells.length - 1 ? o.dropoutOutput : o.dropoutForward;
      const d = dropoutForward(kind, r.out, T, B, c.hiddenSize, p, this.rng, this.training);
      drops.push(d);
      input = d.out;
    }
    const decoder = this.decoder.forward(input, T * B, this.training);
    const layers = layerReports(runs);
    const top = runs[runs.length - 1].out; // [T, B, E], raw; `input` holds it after the output dropout
    const on = this.training;
    const ar = on && o.arWeight > 0 ? regScale * arTerm(o.arOutput === "raw" ? top : input, o.arWeight) : 0;
    const tar = on && o.tarWeight > 0 ? regScale * tarTerm(top, T, o.tarWeight) : 0;
    return {
      T,
      B,
      logits: decoder.logits,
      dlogitsInto: decoder.dlogitsInto,
      ar,
      tar,
      regScale: on ? regScale : 0,
      state: runs.map((r) => r.state),
      layers,
      decoderMacs: decoder.macs,
      saved: { emb, drops, runs, decoder },
    };
  }

  /** Accumulate every parameter's gradient for ∂loss/∂logits [T·B, V]. Returns the decoder's backward MACs. */
  backward(run: LmRun, dlogits: Float32Array): MacCount {
    const { T, B } = run;
    const { emb, drops, runs, decoder } = run.saved;
    const kind = this.options.dropoutMask;
    const L = this.cells.length;
    const top = this.cells[L - 1];
    const topMask = top.receiveMask(runs[L - 1]);
    const dec = this.decoder.backward(decoder, dlogits, topMask);
    this.decoder.release(decoder); // the resident logits and their gradient are done with: room for the layers'
    recycle(topMask);
    const { arWeight: alpha, tarWeight: beta, arOutput } = this.options;
    const w = run.regScale;
    const raw = runs[L - 1].out;
    if (w > 0 && alpha > 0 && arOutput === "dropped") addArGrad(dec.dx, drops[L].out, alpha, w);
    let dOut = dropoutBackward(kind, dec.dx, drops[L].mask, T, B, top.hiddenSize);
    if (w > 0 && alpha > 0 && arOutput === "raw") addArGrad(dOut, raw, alpha, w);
    if (w > 0 && beta > 0) addTarGrad(dOut, raw, T, beta, w);
    for (let l = L - 1; l >= 0; l--) {
      const mask = l > 0 ? this.cells[l - 1].receiveMask(runs[l - 1]) : null;
      const g = this.cells[l].backward(runs[l], { dOut }, mask);
      run.layers[l].backwardMacs = g.macs;
      run.layers[l].clipScale = g.clipScale;
      recycle(mask);
      const F = this.cells[l].inputSize;
      dOut = dropoutBackward(kind, g.dx, drops[l].mask, T, B, F);
      recycle(g.dx);
    }
    this.embedding.backward(emb, dOut);
    return dec.macs;
  }

  /** Hand a run's arrays back to the pool (and the decoder's resident logits, when the run holds them). */
  release(run: LmRun): void {
    for (const r of run.saved.runs) r.release();
    this.decoder.release(run.saved.decoder);
  }
}

/** The AR/TAR options: weights finite and ≥ 0, off for EGRU, arOutput one of its two values (ValueError naming the field). */
function checkActivityTerms(opts: LanguageModelOptions): void {
  for (const k of ["arWeight", "tarWeight"] as const) {
    const v = opts[k] ?? 0;
    checkRange(k, v, 0, Number.MAX_VALUE);
    if (v > 0 && opts.cell === "egru")
      throw new ValueError(k, "0 for an EGRU model (AWD's AR/TAR is the GRU and LSTM baselines' term)", String(v));
  }
  const out = opts.arOutput ?? "dropped";
  if (out !== "dropped" && out !== "raw") throw new ValueError("arOutput", '"dropped" or "raw"', JSON.stringify(out));
}
