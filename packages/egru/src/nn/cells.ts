// One interface over the three recurrent layers, for models that stack them: run a whole
// sequence, take gradients at the output (and, for EGRU, at the trace, the event gates and the
// internal state), and pass events on between EGRU layers (inputEvents, receive masks). EGRU's
// clip inside backward (egru.gradClip) and its gradient groups pass through; GRU and LSTM have no
// such clip (EvNN has it on its EGRU only), so for them a group changes nothing. GRU and LSTM take
// DropConnect's mask shape (element or row); EGRU's DropConnect stays elementwise (EvNN's).

import { ValueError } from "../core/errors.js";
import type { Rng } from "../core/rng.js";
import type { Kernels } from "../kernels/backend.js";
import type { MacCount } from "../kernels/gated-cell.js";
import type { DropConnectShape, LayerStats } from "../layers/common.js";
import { EGRU, type EgruForwardResult, type EgruOptions } from "../layers/egru.js";
import type { ClipGroupSums } from "../layers/grad-clip.js";
import { GRU, type GruForwardResult } from "../layers/gru.js";
import { LSTM, type LstmForwardResult } from "../layers/lstm.js";

export type CellKind = "egru" | "gru" | "lstm";

/** Options a stack passes to each cell (those a kind does not have are ignored). */
export interface CellOptions {
  dropConnect?: number;
  /** GRU and LSTM: "element" (default) or "row" (AWD's WeightDrop); EGRU refuses "row" (ValueError). */
  dropConnectShape?: DropConnectShape;
  zoneout?: number;
  /** EGRU only. */
  egru?: Omit<
    EgruOptions,
    "inputSize" | "hiddenSize" | "rng" | "seed" | "dropConnect" | "zoneout" | "inputEvents" | "kernels"
  >;
  /** The kernels every layer computes with (not part of a saved config); default: the library's default kernels at each call. */
  kernels?: Kernels;
}

/** One forward of a cell over a sequence, time-major [T, B, ·]. */
export interface CellRun {
  /** What the next layer reads: EGRU events y, GRU/LSTM h. */
  out: Float32Array;
  /** EGRU: the output trace, event gates and internal state (absent for GRU/LSTM). */
  trace?: Float32Array;
  o?: Float32Array;
  h?: Float32Array;
  stats: LayerStats;
  /** The final state, to carry into the next segment: EGRU [y], GRU [h], LSTM [h, c], each [B, H]. */
  state: Float32Array[];
  /** Hand the run's arrays back to the pool. */
  release(): void;
  readonly result: EgruForwardResult | GruForwardResult | LstmForwardResult;
}

/** Gradients reaching a run from above, time-major [T, B, H]; absent = 0. */
export interface CellUpstream {
  dOut?: Float32Array | null;
  /** EGRU only. */
  dTrace?: Float32Array | null;
  dO?: Float32Array | null;
  dH?: Float32Array | null;
}

export class SequenceCell {
  readonly kind: CellKind;
  readonly layer: EGRU | GRU | LSTM;
  readonly inputSize: number;
  readonly hiddenSize: number;

  constructor(
    kind: CellKind,
    inputSize: number,
    hiddenSize: number,
    rng: Rng,
    opts: CellOptions & { inputEvents?: boolean } = {},
  ) {
    this.kind = kind;
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    // every layer gets the kernels option (spread, so layers whose options do not list it yet still type-check)
    const kernels = { kernels: opts.kernels };
    const dropConnect = { dropConnect: opts.dropConnect, dropConnectShape: opts.dropConnectShape };
    if (kind === "egru") {
      if ((opts.dropConnectShape ?? "element") !== "element")
        throw new ValueError(
          "dropConnectShape",
          '"element" for EGRU (its DropConnect is EvNN\'s, one entry per weight)',
          JSON.stringify(opts.dropConnectShape),
        );
      this.layer = new EGRU({
        ...opts.egru,
        ...kernels,
        inputSize,
        hiddenSize,
        rng,
        dropConnect: opts.dropConnect,
        zoneout: opts.zoneout,
        inputEvents: opts.inputEvents ?? false,
      });
    } else if (kind === "gru") {
      this.layer = new GRU({ ...kernels, ...dropConnect, inputSize, hiddenSize, rng, zoneout: opts.zoneout });
    } else if (kind === "lstm") {
      if ((opts.zoneout ?? 0) > 0)
        throw new ValueError("zoneout", "0 for LSTM (not implemented for it)", String(opts.zoneout));
      this.layer = new LSTM({ ...kernels, ...dropConnect, inputSize, hiddenSize, rng });
    } else {
      throw new ValueError("cell", '"egru", "gru" or "lstm"', JSON.stringify(kind));
    }
  }

  /**
   * Run x [T, B, I] from an initial state (as `CellRun.state` returns it; zeros when absent).
   * EGRU's state is its last output y, fed back as y0 (its internal state restarts at 0, docs/paper-setups.md#initial-state-and-carried-state).
   */
  forward(x: Float32Array, T: number, B: number, state: Float32Array[] | null = null): CellRun {
    const layer = this.layer;
    if (layer instanceof EGRU) {
      const r = layer.forward({ x, T, B, y0: state?.[0] });
      return {
        out: r.y,
        trace: r.trace,
        o: r.o,
        h: r.h,
        stats: r.stats,
        state: [r.state.y],
        release: () => r.release(),
        result: r,
      };
    }
    if (layer instanceof GRU) {
      const r = layer.forward({ x, T, B, h0: state?.[0] });
      return { out: r.output, stats: r.stats, state: [r.state.h], release: () => r.release(), result: r };
    }
    const r = layer.forward({ x, T, B, h0: state?.[0], c0: state?.[1] });
    return { out: r.output, stats: r.stats, state: [r.state.h, r.state.c], release: () => r.release(), result: r };
  }

  /**
   * Accumulate the parameter gradients of a run and return dx [T, B, I] (computed only where
   * dxMask is 1, when given: EGRU; not at all, and empty, with inputGrad false), the gradient of
   * the initial state (as `CellRun.state`: EGRU [dy0], GRU [dh0], LSTM [dh0, dc0]) and the
   * backward's multiply-accumulates.
   */
  backward(
    run: CellRun,
    up: CellUpstream,
    dxMask: Float32Array | null = null,
    inputGrad = true,
  ): { dx: Float32Array; dState: Float32Array[]; macs: MacCount; clipScale: number | null } {
    const layer = this.layer;
    if (layer instanceof EGRU) {
      const g = layer.backward(
        run.result as EgruForwardResult,
        { dy: up.dOut, dtrace: up.dTrace, do: up.dO, dh: up.dH },
        { dxMask, inputGrad },
      );
      return { dx: g.dx, dState: [g.dy0], macs: g.macs, clipScale: g.clipScale };
    }
    const { T, B } = (run.result as GruForwardResult).saved.shape;
    const G = (layer instanceof GRU ? 3 : 4) * this.hiddenSize;
    const inputProducts = inputGrad ? 2 : 1; // dW, and dx when wanted
    const dense = T * B * G * (inputProducts * this.inputSize + this.hiddenSize) + T * B * G * this.hiddenSize;
    const macs = { executed: dense, dense };
    if (layer instanceof GRU) {
      const g = layer.backward(run.result as GruForwardResult, { dOutput: up.dOut }, { inputGrad });
      return { dx: g.dx, dState: [g.dh0], macs, clipScale: 1 };
    }
    const g = layer.backward(run.result as LstmForwardResult, { dOutput: up.dOut }, { inputGrad });
    return { dx: g.dx, dState: [g.dh0, g.dc0], macs, clipScale: 1 };
  }

  /** EGRU: open a gradient group (see EGRU.beginGradGroup); GRU, LSTM: nothing. */
  beginGradGroup(): void {
    if (this.layer instanceof EGRU) this.layer.beginGradGroup();
  }

  /** EGRU: close it, returning the clip's factor (EGRU.endGradGroup); GRU, LSTM: 1. */
  endGradGroup(): number {
    return this.layer instanceof EGRU ? this.layer.endGradGroup() : 1;
  }

  /** EGRU: close the group unclipped and return its sums (EGRU.takeGradGroup); GRU, LSTM: null. */
  takeGradGroup(): ClipGroupSums | null {
    return this.layer instanceof EGRU ? this.layer.takeGradGroup() : null;
  }

  /** EGRU: add a replica's group sums into the open group (EGRU.mergeGradGroup); GRU, LSTM: nothing. */
  mergeGradGroup(sums: ClipGroupSums | null): void {
    if (this.layer instanceof EGRU) this.layer.mergeGradGroup(sums);
  }

  /** EGRU: 1 where a unit of the run can pass gradient back (feed as dxMask to the layer above). */
  receiveMask(run: CellRun): Float32Array | null {
    return this.layer instanceof EGRU ? this.layer.receiveMask(run.result as EgruForwardResult) : null;
  }
}

/** Per-layer figures of one forward (and backward, once it ran). */
export interface LayerReport {
  activitySparsity: number;
  /** Events (entries with o = 1) of the forward; 0 for GRU and LSTM. */
  events: number;
  /** On the pre-reset c (egru's) and on the post-reset h (the paper's); see LayerStats. */
  backwardSparsity: number;
  paperBackwardSparsity: number;
  forwardMacs: MacCount;
  backwardMacs: MacCount;
  /** The factor of EGRU's clip inside backward (1: off, not acting, or not yet run; null: in a gradient group). */
  clipScale: number | null;
}

/** The per-layer figures of a forward's cell runs (the backward's MACs and clip are filled in when it runs). */
export function layerReports(runs: CellRun[]): LayerReport[] {
  return runs.map((r) => ({
    activitySparsity: r.stats.activitySparsity,
    events: r.stats.events,
    backwardSparsity: r.stats.backwardSparsity,
    paperBackwardSparsity: r.stats.paperBackwardSparsity,
    forwardMacs: { executed: r.stats.executedMacs, dense: r.stats.denseMacs },
    backwardMacs: { executed: 0, dense: 0 },
    clipScale: 1,
  }));
}

/** Open a gradient group on every cell (see EGRU.beginGradGroup): for the row blocks of one batch. */
export function beginGradGroups(cells: SequenceCell[]): void {
  for (const c of cells) c.beginGradGroup();
}

/** Close the cells' gradient groups: per cell, the factor of EGRU's clip inside backward (1 for GRU, LSTM). */
export function endGradGroups(cells: SequenceCell[]): number[] {
  return cells.map((c) => c.endGradGroup());
}

/** Close the cells' gradient groups unclipped: per cell, its sums (null for GRU, LSTM, or the clip off). */
export function takeGradGroups(cells: SequenceCell[]): (ClipGroupSums | null)[] {
  return cells.map((c) => c.takeGradGroup());
}

/** Add per cell a replica's group sums (takeGradGroups) into the cells' open groups. */
export function mergeGradGroups(cells: SequenceCell[], sums: (ClipGroupSums | null)[]): void {
  cells.forEach((c, l) => c.mergeGradGroup(sums[l] ?? null));
}
