// A stack of recurrent layers as one module, as torch.nn.GRU(input_size, hidden_size, num_layers,
// dropout, batch_first) is one: EGRU, GRU or LSTM layers of hiddenSize units, dropout between the
// layers (training only, none after the last), time-major [T, B, ·] or batch-first [B, T, ·] arrays,
// and one naming scheme for all three cells:
//   forward({ x [T, B, I], T, B, h0?, c0? }) → { output [T, B, H], state { h, c? }, stats, release() }
//   backward(run, { dOutput [T, B, H] })     → { dx [T, B, I], dh0, dc0?, macs }
// h0 / state.h / dh0 hold one [B, H] array per layer: EGRU its last output y (fed back as y0;
// its internal state restarts at 0, docs/paper-setups.md#initial-state-and-carried-state), GRU h, LSTM h (c0 / state.c / dc0 its cell state).
// EGRU stacks wire events internally (unless events: false): upper layers skip silent inputs in
// their products, and each backward computes input gradients only where the layer below can take
// them (its receive mask). The result is the same as without the wiring, with fewer MACs.

import { ShapeError, ValueError } from "../core/errors.js";
import { recycle } from "../core/pool.js";
import { Rng } from "../core/rng.js";
import { checkPositiveInt, checkProbability } from "../core/validate.js";
import type { MacCount } from "../kernels/gated-cell.js";
import {
  fromTimeMajor,
  stateArg,
  toTimeMajor,
  upstreamTimeMajor,
  type LayerStats,
  type SequenceShape,
} from "../layers/common.js";
import { SequenceCell, type CellKind, type CellOptions, type CellRun } from "../nn/cells.js";
import { dropoutBackward, dropoutForward, type DropoutResult } from "../nn/dropout.js";
import { layerParams, type Param } from "../nn/params.js";
import { stackEntries, stateDictOf, loadStateDictInto, type StateDict, type StateEntry } from "./state-dict.js";
import { StackStepper } from "./stack-stepper.js";

export interface RecurrentStackOptions extends CellOptions {
  cell: CellKind;
  /** I: features per input step. */
  inputSize: number;
  /** H: units of every layer. */
  hiddenSize: number;
  /** Layers (default 1). */
  numLayers?: number;
  /** Dropout probability on each layer's output except the last (training only). Default 0. */
  dropout?: number;
  /** Arrays are [B, T, ·] instead of [T, B, ·]. Default false. */
  batchFirst?: boolean;
  /** EGRU: wire events between layers (default true); false gives the plain stack (same numbers, more MACs). */
  events?: boolean;
  /** Seed of init and masks (default 0), or a shared random stream. */
  seed?: number;
  rng?: Rng;
}

/** The state between sequences: per layer [B, H] (see the header). */
export interface StackState {
  h: Float32Array[];
  c?: Float32Array[];
}

export interface StackForwardInput {
  x: ArrayLike<number>;
  T: number;
  B: number;
  h0?: ArrayLike<number>[] | null;
  c0?: ArrayLike<number>[] | null;
}

/** Per-layer statistics and their totals. */
export interface StackStats {
  layers: LayerStats[];
  /** Over the EGRU layers' outputs (0 for GRU/LSTM). */
  activitySparsity: number;
  executedMacs: number;
  denseMacs: number;
}

export interface StackRun {
  output: Float32Array; // [T, B, H] in the caller's layout
  state: StackState;
  stats: StackStats;
  /** Hand the run's arrays back to the pool (after backward); the run is unusable afterwards. */
  release(): void;
  readonly saved: { shape: SequenceShape; runs: CellRun[]; drops: (DropoutResult | null)[] };
}

export interface StackGrads {
  dx: Float32Array; // [T, B, I] in the caller's layout
  dh0: Float32Array[];
  dc0?: Float32Array[];
  macs: MacCount;
}

export class RecurrentStack {
  readonly options: Readonly<
    Required<Omit<RecurrentStackOptions, "rng" | "egru" | "dropConnect" | "dropConnectShape" | "zoneout" | "kernels">>
  >;
  readonly cells: SequenceCell[];
  readonly rng: Rng;
  private training = true;

  constructor(opts: RecurrentStackOptions) {
    checkPositiveInt("inputSize", opts.inputSize);
    checkPositiveInt("hiddenSize", opts.hiddenSize);
    const numLayers = opts.numLayers ?? 1;
    checkPositiveInt("numLayers", numLayers);
    checkProbability("dropout", opts.dropout ?? 0);
    this.options = {
      cell: opts.cell,
      inputSize: opts.inputSize,
      hiddenSize: opts.hiddenSize,
      numLayers,
      dropout: opts.dropout ?? 0,
      batchFirst: opts.batchFirst ?? false,
      events: opts.events ?? true,
      seed: opts.seed ?? 0,
    };
    this.rng = opts.rng ?? new Rng(this.options.seed);
    const wired = this.options.events && opts.cell === "egru";
    this.cells = [];
    for (let l = 0; l < numLayers; l++) {
      const I = l === 0 ? opts.inputSize : opts.hiddenSize;
      this.cells.push(
        new SequenceCell(opts.cell, I, opts.hiddenSize, this.rng, { ...opts, inputEvents: l > 0 && wired }),
      );
    }
  }

  get wired(): boolean {
    return this.options.events && this.options.cell === "egru";
  }

  /** Parameters named `layers.{l}.{name}` in each layer's own layout (for the optimizer). */
  params(): Param[] {
    return this.cells.flatMap((c, l) => layerParams(`layers.${l}`, c.layer));
  }

  /** PyTorch-style entries: nn.GRU / nn.LSTM names for GRU/LSTM, `layers.{l}.` + EvNN names for EGRU. */
  stateEntries(prefix = ""): StateEntry[] {
    return stackEntries(prefix, this.cells);
  }

  stateDict(): StateDict {
    return stateDictOf(this.stateEntries());
  }

  loadStateDict(dict: StateDict): void {
    loadStateDictInto(this.stateEntries(), dict);
  }

  train(): this {
    this.training = true;
    for (const c of this.cells) c.layer.train();
    return this;
  }

  eval(): this {
    this.training = false;
    for (const c of this.cells) c.layer.eval();
    return this;
  }

  zeroGrad(): void {
    for (const c of this.cells) c.layer.zeroGrad();
  }

  /** The initial state of layer l as the cell takes it (checked), or null for zeros. */
  private layerState(
    l: number,
    B: number,
    h0: ArrayLike<number>[] | null | undefined,
    c0: ArrayLike<number>[] | null | undefined,
  ): Float32Array[] | null {
    const L = this.cells.length;
    for (const [name, s] of [
      ["h0", h0],
      ["c0", c0],
    ] as const) {
      if (s && s.length !== L) throw new ShapeError(name, `one [B, H] array per layer (${L})`, `${s.length} arrays`);
    }
    if (c0 && this.options.cell !== "lstm") throw new ValueError("c0", "no c0 (only an LSTM has a cell state)", "c0");
    if (!h0 && !c0) return null;
    const H = this.options.hiddenSize;
    const h = stateArg(`h0[${l}]`, h0?.[l], B, H);
    return this.options.cell === "lstm" ? [h, stateArg(`c0[${l}]`, c0?.[l], B, H)] : [h];
  }

  forward(input: StackForwardInput): StackRun {
    const { T, B } = input;
    const shape: SequenceShape = { T, B, batchFirst: this.options.batchFirst };
    const { inputSize: I, hiddenSize: H, dropout } = this.options;
    // the first cell checks x's length and values; batch-first input is made time-major first
    if (shape.batchFirst && input.x.length !== T * B * I)
      throw new ShapeError("x", `B·T·I = ${B}·${T}·${I} values`, String(input.x.length));
    let x = toTimeMajor(input.x, shape, I);
    const runs: CellRun[] = [];
    const drops: (DropoutResult | null)[] = [];
    for (let l = 0; l < this.cells.length; l++) {
      const r = this.cells[l].forward(x, T, B, this.layerState(l, B, input.h0, input.c0));
      runs.push(r);
      const last = l === this.cells.length - 1;
      const d =
        !last && dropout > 0 && this.training
          ? dropoutForward("dropout", r.out, T, B, H, dropout, this.rng, true)
          : null;
      drops.push(d);
      x = d ? d.out : r.out;
    }
    const state: StackState = { h: runs.map((r) => r.state[0]) };
    if (this.options.cell === "lstm") state.c = runs.map((r) => r.state[1]);
    const top = runs[runs.length - 1].out;
    const output = shape.batchFirst ? fromTimeMajor(top, shape, H) : top;
    let released = false;
    return {
      output,
      state,
      stats: stackStats(runs),
      saved: { shape, runs, drops },
      release: () => {
        if (released) return;
        released = true;
        for (const r of runs) r.release();
      },
    };
  }

  /** Accumulate the parameter gradients for ∂L/∂output; return ∂L/∂x and ∂L/∂(initial state). */
  backward(run: StackRun, upstream: { dOutput: ArrayLike<number> }): StackGrads {
    const { shape, runs, drops } = run.saved;
    const { T, B } = shape;
    const H = this.options.hiddenSize;
    const dTop = upstreamTimeMajor("dOutput", upstream.dOutput, shape, H);
    if (!dTop) throw new ShapeError("dOutput", `T·B·H = ${T}·${B}·${H} values`, "none");
    let d: Float32Array = dTop;
    const dState: Float32Array[][] = [];
    const macs: MacCount = { executed: 0, dense: 0 };
    for (let l = this.cells.length - 1; l >= 0; l--) {
      const mask = l > 0 && this.wired ? this.cells[l - 1].receiveMask(runs[l - 1]) : null;
      const g = this.cells[l].backward(runs[l], { dOut: d }, mask);
      recycle(mask);
      macs.executed += g.macs.executed;
      macs.dense += g.macs.dense;
      dState[l] = g.dState;
      const drop = l > 0 ? drops[l - 1] : null;
      d = drop ? dropoutBackward("dropout", g.dx, drop.mask, T, B, H) : g.dx;
    }
    const out: StackGrads = { dx: fromTimeMajor(d, shape, this.options.inputSize), dh0: dState.map((s) => s[0]), macs };
    if (this.options.cell === "lstm") out.dc0 = dState.map((s) => s[1]);
    return out;
  }

  /** Streaming inference over `batch` streams, one step at a time (evaluation semantics). */
  stepper(batch: number): StackStepper {
    return new StackStepper(
      this.cells.map((c) => c.layer),
      batch,
    );
  }
}

/** Per-layer stats and their totals. */
export function stackStats(runs: CellRun[]): StackStats {
  let zeros = 0;
  let entries = 0;
  let executedMacs = 0;
  let denseMacs = 0;
  for (const r of runs) {
    executedMacs += r.stats.executedMacs;
    denseMacs += r.stats.denseMacs;
    if (r.o === undefined) continue;
    zeros += r.stats.activitySparsity * r.stats.entries;
    entries += r.stats.entries;
  }
  return { layers: runs.map((r) => r.stats), activitySparsity: entries ? zeros / entries : 0, executedMacs, denseMacs };
}
