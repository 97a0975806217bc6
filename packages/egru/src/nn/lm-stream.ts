// Token-by-token inference with a trained language model (isomorphic), for sampling text.
//
// A stream feeds one token at a time (batch 1, evaluation mode: no dropout, no DropConnect) through
// the embedding, each cell's one-step forward and the tied decoder, and returns the next-token
// logits [V]. The cells keep their whole state between tokens. EGRU's internal state h and trace
// restart at 0 every `segment` tokens while its output y is carried, exactly as evaluation walks a
// text in bptt-long segments (docs/paper-setups.md#initial-state-and-carried-state), so the stream's logits equal those of
// LanguageModel.forward over such segments; segment 0 never restarts (a true stream, which the
// model never saw in training). GRU and LSTM carry their states throughout either way.

import { ValueError } from "../core/errors.js";
import { checkPositiveInt } from "../core/validate.js";
import type { MacCount } from "../kernels/gated-cell.js";
import type { EgruState } from "../layers/egru.js";
import type { EGRU } from "../layers/egru.js";
import type { GRU } from "../layers/gru.js";
import type { LSTM } from "../layers/lstm.js";
import type { LanguageModel } from "./language-model.js";

type CellState =
  | { y: Float32Array; h: Float32Array; tr: Float32Array }
  | { h: Float32Array }
  | { h: Float32Array; c: Float32Array };

export interface LmStreamOptions {
  /** EGRU: restart the internal state every so many tokens (the run's bptt); 0 = never. */
  segment: number;
}

export class LmStream {
  readonly model: LanguageModel;
  readonly segment: number;
  /** Tokens fed so far. */
  position = 0;
  /** Per layer: outputs that were 0 / all outputs (EGRU activity sparsity). */
  readonly zeros: number[];
  readonly outputs: number[];
  /** Multiply-accumulates of the decoder (executed vs dense). */
  readonly decoderMacs: MacCount = { executed: 0, dense: 0 };
  private states: (CellState | null)[];

  constructor(model: LanguageModel, opts: LmStreamOptions) {
    if (!Number.isInteger(opts.segment) || opts.segment < 0)
      throw new ValueError("segment", "an integer ≥ 0", String(opts.segment));
    this.model = model;
    this.segment = opts.segment;
    this.states = model.cells.map(() => null);
    this.zeros = model.cells.map(() => 0);
    this.outputs = model.cells.map(() => 0);
  }

  /** Feed one token id; returns the logits [V] of the next token. */
  feed(token: number): Float32Array {
    const m = this.model;
    m.eval();
    if (this.segment > 0 && this.position > 0 && this.position % this.segment === 0) this.restartSegment();
    let x = m.embedding.forward([token]).out; // [1, E]
    m.cells.forEach((c, l) => {
      let out: Float32Array;
      if (c.kind === "egru") {
        const r = (c.layer as EGRU).step(x, 1, this.states[l] as EgruState | null);
        this.states[l] = r.state;
        out = r.y;
      } else if (c.kind === "gru") {
        const r = (c.layer as GRU).step(x, 1, this.states[l] as { h: Float32Array } | null);
        this.states[l] = r.state;
        out = r.h;
      } else {
        const r = (c.layer as LSTM).step(x, 1, this.states[l] as { h: Float32Array; c: Float32Array } | null);
        this.states[l] = r.state;
        out = r.h;
      }
      let z = 0;
      for (let i = 0; i < out.length; i++) if (out[i] === 0) z++;
      this.zeros[l] += z;
      this.outputs[l] += out.length;
      x = out;
    });
    const d = m.decoder.forward(x, 1);
    this.decoderMacs.executed += d.macs.executed;
    this.decoderMacs.dense += d.macs.dense;
    this.position++;
    return d.logits;
  }

  /** Feed several tokens; returns the logits after the last one. */
  feedAll(tokens: ArrayLike<number>): Float32Array {
    if (tokens.length === 0) throw new ValueError("tokens", "at least one token", "none");
    let logits: Float32Array = new Float32Array(0);
    for (let i = 0; i < tokens.length; i++) logits = this.feed(tokens[i]);
    return logits;
  }

  /** EGRU activity sparsity of each layer over the tokens fed so far. */
  layerSparsity(): number[] {
    return this.zeros.map((z, l) => (this.outputs[l] > 0 ? z / this.outputs[l] : 0));
  }

  /** A segment boundary: EGRU layers keep y and restart h and the trace at 0. */
  private restartSegment(): void {
    this.states = this.states.map((s, l) => {
      if (s === null || this.model.cells[l].kind !== "egru") return s;
      const e = s as EgruState;
      return { y: e.y, h: new Float32Array(e.h.length), tr: new Float32Array(e.tr.length) };
    });
  }
}

/**
 * The index of a sample from softmax(logits / temperature), drawn with `uniform` ∈ [0, 1);
 * temperature 0 takes the most likely token. topK > 0 keeps only the K most likely tokens.
 */
export function sampleToken(logits: Float32Array, temperature: number, uniform: number, topK = 0): number {
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new ValueError("temperature", "a finite number ≥ 0", String(temperature));
  if (topK !== 0) checkPositiveInt("topK", topK);
  const V = logits.length;
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
  if (temperature === 0) return best;
  let floor = -Infinity; // logits below it are excluded (top-K)
  if (topK > 0 && topK < V) floor = Float64Array.from(logits).sort()[V - topK];
  const max = logits[best];
  const p = new Float64Array(V);
  let sum = 0;
  for (let v = 0; v < V; v++) {
    const e = logits[v] >= floor ? Math.exp((logits[v] - max) / temperature) : 0;
    p[v] = e;
    sum += e;
  }
  let r = uniform * sum;
  let last = best;
  for (let v = 0; v < V; v++) {
    if (p[v] === 0) continue;
    last = v;
    r -= p[v];
    if (r < 0) return v;
  }
  return last; // rounding: the last token with mass
}
