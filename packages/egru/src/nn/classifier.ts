// A sequence classifier: a stack of recurrent cells (EGRU, GRU or LSTM) and a linear readout,
// as the paper's classification tasks use it (sMNIST, DVS Gesture). The readout reads
//   "trace"  the last layer's EGRU output trace at the last step (the sMNIST recipe),
//   "last"   the last layer's output at the last step (EGRU: its events),
//   "mean"   the mean over time of the per-step logits — computed as the readout of the mean
//            output, which is the same by linearity and costs one readout instead of T;
//   "trace-mean"  the same from the EGRU trace (the DVS Gesture recipe: logits of the trace at
//            every step, averaged over time).
// Optional around the stack (the DVS Gesture ICLR setup): a per-frame CNN front-end (FrameCnn) on
// each step's input, dropout on the stack's input, and dropout on the sequence the readout reads.
// Stacked EGRU layers pass events on: the upper layer skips silent inputs in its products
// (inputEvents) and computes input gradients only for units that can take them (receive masks).
// Optional activity regularisers on EGRU layers (docs/paper-setups.md#regularisers-and-dropouts-around-the-layer): λa·(mean(o) − target)², through the
// surrogate gradient, and λv·mean((h − v)²) on the internal state.

import { ValueError } from "../core/errors.js";
import { Rng } from "../core/rng.js";
import { recycle, takeZeroed } from "../core/pool.js";
import { checkPositiveInt } from "../core/validate.js";
import type { Kernels } from "../kernels/backend.js";
import type { MacCount } from "../kernels/gated-cell.js";
import { Linear, type LinearResult } from "../layers/linear.js";
import {
  type CellKind,
  type CellOptions,
  type CellRun,
  type LayerReport,
  layerReports,
  SequenceCell,
} from "./cells.js";
import { dropoutBackward, dropoutForward, type DropoutResult } from "./dropout.js";
import { FrameCnn, type CnnLayerSpec, type FrameCnnRun } from "./frame-cnn.js";
import { layerParams, type Param } from "./params.js";

export type Readout = "trace" | "last" | "mean" | "trace-mean";
const READOUTS: Readout[] = ["trace", "last", "mean", "trace-mean"];

export interface ClassifierOptions extends CellOptions {
  cell: CellKind;
  inputSize: number;
  hiddenSize: number;
  layers: number;
  classes: number;
  readout: Readout;
  seed: number;
  /** The input is mostly zeros (event-camera frames): the first EGRU layer's input product skips them. */
  sparseInput?: boolean;
  /** A CNN applied to each step's input, seen as an image [channels, height, width]. */
  frontEnd?: { layers: CnnLayerSpec[]; channels: number; height: number; width: number } | null;
  /** Dropout on the recurrent stack's input and on the sequence the readout reads. Default 0. */
  inputDropout?: number;
  outputDropout?: number;
  /** Activity regulariser weight λa and target rate (EGRU layers). Default 0 (off). */
  activityWeight?: number;
  activityTarget?: number;
  /** State regulariser weight λv and target v (EGRU layers). Default 0 (off). */
  stateWeight?: number;
  stateTarget?: number;
  /** λ·mean(h) over EGRU layers (the ICLR DVS code's regulariser in effect). Default 0 (off). */
  stateMeanWeight?: number;
}

/**
 * A forward of some rows of a larger batch (a micro-batch): its regularisers and their gradients are
 * weighted by `scale` (its rows / the batch's), and the activity regulariser, not linear in the
 * batch, uses the whole batch's mean event rate per layer (`activityMeans`, from a forward pass over
 * every block), so the blocks' losses and gradients add up to the whole batch's.
 */
export interface BatchPart {
  scale: number;
  activityMeans?: number[];
}

export type { LayerReport } from "./cells.js";

export interface ClassifierRun {
  T: number;
  B: number;
  logits: Float32Array; // [B, C]
  runs: CellRun[];
  /** The front-end's run (absent without one) and its forward MACs (zero without one). */
  frontEnd: FrameCnnRun | null;
  frontEndMacs: MacCount;
  /** Dropout on the stack's input and on the read sequence (masks for the backward). */
  drops: { input: DropoutResult | null; output: DropoutResult | null };
  head: LinearResult;
  /** The regularisers' value (0 when off; for a part of a batch, its share). */
  regLoss: number;
  layers: LayerReport[];
  part: BatchPart;
}

export class SequenceClassifier {
  readonly options: Required<
    Omit<ClassifierOptions, "egru" | "dropConnect" | "dropConnectShape" | "zoneout" | "kernels">
  > &
    CellOptions;
  readonly cells: SequenceCell[];
  readonly head: Linear;
  readonly frontEnd: FrameCnn | null;

  /** The kernels the model computes with (the optimizer's updates run on them too). */
  get kernels(): Kernels {
    return this.head.kernels;
  }
  /** The one random stream of init and masks (its state goes into checkpoints). */
  readonly rng: Rng;
  /** True in training mode (train()), false in evaluation mode (eval()). */
  training = true;

  constructor(opts: ClassifierOptions) {
    checkPositiveInt("layers", opts.layers);
    checkPositiveInt("classes", opts.classes);
    if (!READOUTS.includes(opts.readout))
      throw new ValueError("readout", READOUTS.map((r) => `"${r}"`).join(", "), JSON.stringify(opts.readout));
    if (opts.readout.startsWith("trace") && opts.cell !== "egru")
      throw new ValueError(
        "readout",
        '"last" or "mean" for a GRU or LSTM (only EGRU has a trace)',
        JSON.stringify(opts.readout),
      );
    // defaults for options left out or passed as undefined
    this.options = {
      ...opts,
      activityWeight: opts.activityWeight ?? 0,
      activityTarget: opts.activityTarget ?? 0.05,
      stateWeight: opts.stateWeight ?? 0,
      stateTarget: opts.stateTarget ?? 0,
      stateMeanWeight: opts.stateMeanWeight ?? 0,
      sparseInput: opts.sparseInput ?? false,
      frontEnd: opts.frontEnd ?? null,
      inputDropout: opts.inputDropout ?? 0,
      outputDropout: opts.outputDropout ?? 0,
    };
    for (const k of ["inputDropout", "outputDropout"] as const) {
      const p = this.options[k];
      if (!(p >= 0 && p < 1)) throw new ValueError(k, "a probability in [0, 1)", String(p));
    }
    this.rng = new Rng(opts.seed);
    const fe = opts.frontEnd ?? null;
    this.frontEnd = fe ? new FrameCnn(fe.layers, fe, this.rng, opts.kernels) : null;
    if (this.frontEnd && this.frontEnd.inputSize !== opts.inputSize) {
      throw new ValueError(
        "frontEnd",
        `an image of inputSize = ${opts.inputSize} values`,
        `${fe!.channels}×${fe!.height}×${fe!.width} = ${this.frontEnd.inputSize}`,
      );
    }
    this.cells = [];
    for (let l = 0; l < opts.layers; l++) {
      const I = l === 0 ? (this.frontEnd?.outputSize ?? opts.inputSize) : opts.hiddenSize;
      const events = (l > 0 || (opts.sparseInput === true && !this.frontEnd)) && opts.cell === "egru";
      this.cells.push(new SequenceCell(opts.cell, I, opts.hiddenSize, this.rng, { ...opts, inputEvents: events }));
    }
    this.head = new Linear({
      kernels: opts.kernels,
      inputSize: opts.hiddenSize,
      outputSize: opts.classes,
      rng: this.rng,
      inputEvents: opts.readout === "last" && opts.cell === "egru",
    });
  }

  /** Every parameter, named, with its gradient and group. */
  params(): Param[] {
    return [
      ...(this.frontEnd?.params() ?? []),
      ...this.cells.flatMap((c, l) => layerParams(`cells.${l}`, c.layer)),
      ...layerParams("head", this.head),
    ];
  }

  /**
   * Keep every weight and gradient in the memory of `kernels` (WeightedLayer.placeIn): a trainer
   * does this before its first step, so the kernels read them in place.
   */
  placeIn(kernels: Kernels): void {
    this.frontEnd?.placeIn(kernels);
    for (const c of this.cells) c.layer.placeIn(kernels);
    this.head.placeIn(kernels);
  }

  train(): this {
    this.training = true;
    this.frontEnd?.train();
    for (const c of this.cells) c.layer.train();
    this.head.train();
    return this;
  }

  eval(): this {
    this.training = false;
    this.frontEnd?.eval();
    for (const c of this.cells) c.layer.eval();
    this.head.eval();
    return this;
  }

  zeroGrad(): void {
    for (const p of this.params()) p.grad.fill(0);
  }

  /** Logits [B, C] for x [T, B, I] (time-major); `part` when the B rows are a block of a larger batch. */
  forward(x: Float32Array, T: number, B: number, part: BatchPart = { scale: 1 }): ClassifierRun {
    const H = this.options.hiddenSize;
    const o = this.options;
    const fe = this.frontEnd ? this.frontEnd.forward(x, T * B) : null;
    let input = fe ? fe.y : x;
    const inDrop =
      o.inputDropout > 0
        ? dropoutForward("dropout", input, T, B, this.cells[0].inputSize, o.inputDropout, this.rng, this.training)
        : null;
    if (inDrop) input = inDrop.out;
    const runs: CellRun[] = [];
    for (const c of this.cells) {
      const r = c.forward(input, T, B);
      runs.push(r);
      input = r.out;
    }
    const top = runs[runs.length - 1];
    let seq = o.readout.startsWith("trace") ? top.trace! : top.out; // [T, B, H], what the readout reads
    const outDrop =
      o.outputDropout > 0 ? dropoutForward("dropout", seq, T, B, H, o.outputDropout, this.rng, this.training) : null;
    if (outDrop) seq = outDrop.out;
    const feat = new Float32Array(B * H);
    const last = (T - 1) * B * H;
    if (o.readout === "trace" || o.readout === "last") feat.set(seq.subarray(last, last + B * H));
    else {
      for (let t = 0; t < T; t++) for (let k = 0; k < B * H; k++) feat[k] += seq[t * B * H + k];
      for (let k = 0; k < B * H; k++) feat[k] /= T;
    }
    const head = this.head.forward(feat, B);
    let regLoss = 0;
    const {
      activityWeight: la,
      activityTarget: ta,
      stateWeight: lv,
      stateTarget: tv,
      stateMeanWeight: lm,
    } = this.options;
    runs.forEach((r, l) => {
      if (la > 0 && r.o) regLoss += la * ((part.activityMeans?.[l] ?? mean(r.o)) - ta) ** 2 * part.scale;
      if (lv > 0 && r.h) regLoss += lv * meanSquare(r.h, tv) * part.scale;
      if (lm > 0 && r.h) regLoss += lm * mean(r.h) * part.scale;
    });
    const layers = layerReports(runs);
    return {
      T,
      B,
      logits: head.y,
      runs,
      head,
      regLoss,
      layers,
      frontEnd: fe,
      frontEndMacs: fe ? fe.macs : { executed: 0, dense: 0 },
      drops: { input: inDrop, output: outDrop },
      part,
    };
  }

  /**
   * Accumulate every parameter's gradient for ∂loss/∂logits (plus the regularisers'). Returns the
   * head's and the front-end's backward MACs.
   */
  backward(run: ClassifierRun, dlogits: Float32Array): { head: MacCount; frontEnd: MacCount } {
    const { T, B, runs, part } = run;
    const H = this.options.hiddenSize;
    const readout = this.options.readout;
    const n = T * B * H;
    const hb = this.head.backward(run.head, dlogits);
    const dfeat = hb.dx;
    const top = runs.length - 1;
    // the gradient of the read sequence [T, B, H]
    let dSeq: Float32Array = takeZeroed(n);
    const last = (T - 1) * B * H;
    if (readout === "trace" || readout === "last") dSeq.set(dfeat, last);
    else for (let t = 0; t < T; t++) for (let k = 0; k < B * H; k++) dSeq[t * B * H + k] = dfeat[k] / T;
    if (run.drops.output) dSeq = dropoutBackward("dropout", dSeq, run.drops.output.mask, T, B, H);
    let dOut: Float32Array | null = readout.startsWith("trace") ? null : dSeq;
    let dTrace: Float32Array | null = readout.startsWith("trace") ? dSeq : null;
    const {
      activityWeight: la,
      activityTarget: ta,
      stateWeight: lv,
      stateTarget: tv,
      stateMeanWeight: lm,
    } = this.options;
    for (let l = top; l >= 0; l--) {
      const r = runs[l];
      let dO: Float32Array | null = null;
      let dH: Float32Array | null = null;
      if (la > 0 && r.o)
        dO = takeZeroed(n).fill(((2 * la * ((part.activityMeans?.[l] ?? mean(r.o)) - ta)) / n) * part.scale);
      if ((lv > 0 || lm > 0) && r.h) {
        dH = takeZeroed(n);
        for (let k = 0; k < n; k++) dH[k] = ((2 * lv * (r.h[k] - tv) + lm) / n) * part.scale;
      }
      const mask = l > 0 ? this.cells[l - 1].receiveMask(runs[l - 1]) : null;
      // the bottom layer's input gradient only feeds a front-end (data needs none)
      const inputGrad = l > 0 || this.frontEnd !== null;
      const g = this.cells[l].backward(r, { dOut, dTrace: l === top ? dTrace : null, dO, dH }, mask, inputGrad);
      run.layers[l].backwardMacs = g.macs;
      run.layers[l].clipScale = g.clipScale;
      recycle(dOut, dTrace, dO, dH, mask);
      dTrace = null;
      dOut = g.dx;
    }
    let frontEnd: MacCount = { executed: 0, dense: 0 };
    if (this.frontEnd && run.frontEnd) {
      const dIn = run.drops.input
        ? dropoutBackward("dropout", dOut!, run.drops.input.mask, T, B, this.cells[0].inputSize)
        : dOut!;
      frontEnd = this.frontEnd.backward(run.frontEnd, dIn).macs;
    }
    recycle(dOut);
    return { head: hb.macs, frontEnd };
  }

  /** Hand a run's arrays back to the pool (after backward, or after reading an evaluation forward). */
  release(run: ClassifierRun): void {
    for (const r of run.runs) r.release();
  }
}

/** Per layer, the sum of the event gate o over a run (0 for layers without events). */
export function eventSums(run: ClassifierRun): { sums: number[]; entries: number[] } {
  return {
    sums: run.runs.map((r) => (r.o ? mean(r.o) * r.o.length : 0)),
    entries: run.runs.map((r) => r.o?.length ?? 0),
  };
}

function mean(a: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

function meanSquare(a: Float32Array, v: number): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - v) ** 2;
  return s / a.length;
}
