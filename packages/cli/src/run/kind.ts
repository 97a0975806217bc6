// What a kind of task tells the run life (run/life.ts), and nothing else: building its data, model
// and trainer; a training step's record and progress fields; what an epoch's end records; the final
// evaluation and its summary; the evaluation of a saved run (`egru eval`); the report's figures and
// activity pictures. The life owns the rest: the run directory, config.json, metrics.jsonl,
// checkpoints, the outer loop (checkpoint when due, Ctrl-C, NaN stop, time budget), the summary
// table and report. The kinds: run/classifier.ts (MNIST, DVS Gesture), run/language-model.ts.

import {
  type Kernels,
  type Network,
  quantizeNetwork,
  type ScaleAxis,
  type ThresholdBatch,
  type ValidationWatch,
  type WatchVerdict,
} from "egru";
import type { ActivityReport } from "../train/activity.js";
import type { TrainConfig } from "../train/config.js";
import { type DeadLayerWarning, deadLayerMessage } from "../train/dead-layers.js";
import type { StepFigures } from "../train/hooks.js";
import type { MemoryBudget } from "../train/memory.js";
import type { CheckpointedTrainer, CheckpointState, KindState, LoadedCheckpoint } from "./checkpoint.js";
import { macsText, mega, pct } from "./format.js";

/** A table row: label and value. */
export type Row = [string, string];

/** What the life hands a kind while it trains. */
export interface RunContext {
  readonly runDir: string;
  /** Append a record to metrics.jsonl (and print it with --json). */
  emit(record: Record<string, unknown>): void;
  /** A line above the progress bar (not with --quiet or --json). */
  note(line: string): void;
  /** A warning line on stderr, also with --quiet and --json (above the progress bar when there is one). */
  warn(line: string): void;
  /** Move the progress bar to `done` with these field values. */
  progress(done: number, fields: Record<string, string>): void;
  /** Seconds of training so far, resumed runs included. */
  elapsed(): number;
  /** Write a file of the run directory atomically. */
  writeFile(name: string, bytes: Uint8Array | string): void;
  /** No progress bars of the kind's own (evaluations) either. */
  readonly quiet: boolean;
}

/** The end of a run: the summary's fields of this kind, the table's result rows and its "training" row. */
export interface RunEnd {
  summary: Record<string, unknown>;
  rows: Row[];
  training: string;
}

/** One run of a kind: its trainer and what differs while it trains. */
export interface TaskRun {
  readonly trainer: CheckpointedTrainer & {
    model: Network;
    position: { epoch: number; step: number };
    options: { microBatch?: number };
    stoppedEarly: { epoch: number; bestEpoch: number } | null;
    /** The batches a data-dependent threshold init measures (model.thresholdInit "data"). */
    thresholdBatches(): ThresholdBatch[];
  };
  /** Files a new run writes beside config.json (name → text), e.g. vocab.txt. */
  readonly startFiles: Record<string, string>;
  /** The start line after "egru train: ": the task, the model and the data. */
  readonly describe: string;
  /** The progress bar: steps in the whole run, where it stands now, and its fields. */
  readonly progress: { total: number; done: number; fields: string[] };
  /** The kind's part of a checkpoint's state.json, and putting it back. */
  kindState(): KindState;
  restore(state: CheckpointState): void;
  /** Train one step (and the epoch's end it reaches): whether an epoch ended and whether training is done. */
  advance(ctx: RunContext): { epochEnded: boolean; done: boolean };
  /** The time budget ran out after a step (e.g. validate where training stopped); absent: nothing to do. */
  outOfTime?(ctx: RunContext): void;
  /** After training: the final evaluation and what the summary says of it. */
  finish(ctx: RunContext, trainSeconds: number): RunEnd;
  /** Threads the run's row blocks go to at once (1: all on the calling thread; absent: 1). */
  readonly blockThreads?: number;
  /** Stop what the run started besides the calling thread (its replicas' threads); absent: nothing. */
  close?(): Promise<void>;
}

/** How a kind's objects are built: the memory budget, the kernels every layer uses, where warnings go. */
export interface OpenOptions {
  budget?: MemoryBudget;
  kernels?: Kernels;
  /** Warnings while reading the data (e.g. recordings skipped); shown even with --quiet. */
  log(message: string): void;
}

/** `egru eval` of a saved run: a record per split evaluated (each written as eval-<split>.json) and the text. */
export interface EvalOutcome {
  records: (Record<string, unknown> & { split: string })[];
  text: string;
}

export interface EvalRequest {
  /** As the user named it: a run directory or a checkpoint directory. */
  path: string;
  /** The run directory. */
  runDir: string;
  /** Its current checkpoint, or null for a run of weights only (egru import): its best.safetensors. */
  checkpoint: LoadedCheckpoint | null;
  config: TrainConfig;
  split?: "train" | "valid" | "test";
  kernels: Kernels;
  kernelName: string;
  /** The memory to plan the evaluation batches with. */
  budget?: MemoryBudget;
  quiet: boolean;
  /** Evaluate with int8 weights (quantised after loading, one scale per `axis` unit); null: float32. */
  int8?: { axis: ScaleAxis } | null;
}

export interface RunKind {
  /** Whether this kind trains the configuration's task. */
  handles(config: TrainConfig): boolean;
  open(config: TrainConfig, o: OpenOptions): TaskRun;
  /** The configuration's model with fresh weights, and the files a run of it starts with (egru import). */
  blankModel(config: TrainConfig, kernels?: Kernels): { model: Network; startFiles: Record<string, string> };
  evaluate(r: EvalRequest): EvalOutcome;
  /** Why the run's test data cannot be read here, or null. */
  missingData(config: TrainConfig): string | null;
  /** The raster and c − ϑ histogram of the run's model on test input `input`. */
  activity(runDir: string, config: TrainConfig, input: number, kernels?: Kernels): ActivityReport;
  /** The report's table of final figures from summary.json (common rows, parameters and training, follow). */
  reportRows(config: TrainConfig, summary: Record<string, unknown>): Row[];
}

/** An epoch record's fields from the validation watch, and what the epoch's line adds ("" when nothing happened). */
export function watchFields(
  verdict: WatchVerdict | null,
  watch: ValidationWatch,
): { record: Record<string, number | boolean>; note: string } {
  if (!verdict) return { record: {}, note: "" };
  const d = watch.state.decays;
  return {
    record: { improved: verdict.improved, lrDecays: d },
    note: verdict.decayed ? ` | plateau: learning rate decayed (${d} so far)` : "",
  };
}

/**
 * The figures every kind's step record carries: per-layer sparsity (backward: on c, egru's, and on
 * h, the paper's), the factors of EGRU's clip inside backward when it is on, rate, gradient norm, MACs.
 */
export function stepFigures(s: StepFigures): Record<string, number | number[]> {
  return {
    layerSparsity: s.layerSparsity,
    layerBackwardSparsity: s.layerBackwardSparsity,
    layerPaperBackwardSparsity: s.layerPaperBackwardSparsity,
    ...(s.layerClipScale ? { layerClipScale: s.layerClipScale } : {}),
    lr: s.lr,
    gradNorm: s.gradNorm,
    macsExecuted: s.macs.executed,
    macsDense: s.macs.dense,
  };
}

/**
 * Make the model's weights int8 when an evaluation asks for it (egru eval --weights int8): the
 * record's fields saying so, and the words the table's head adds ("" for float32).
 */
export function evalWeights(model: Network, r: EvalRequest): { record: Record<string, string>; note: string } {
  if (!r.int8) return { record: {}, note: "" };
  quantizeNetwork(model, { axis: r.int8.axis });
  return {
    record: { weightFormat: "int8", scaleAxis: r.int8.axis },
    note: `, int8 weights (one scale per ${r.int8.axis} unit)`,
  };
}

/** Rows as an aligned two-column table, one line each, indented by two spaces. */
export function tableLines(rows: Row[]): string[] {
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`);
}

/** The labels of the figures egru and the paper define differently, so that they cannot be confused. */
export const PAPER_LABELS = {
  backwardOnC: "backward sparsity (on c, egru)",
  backwardOnH: "backward sparsity (on h, paper)",
  effectiveMacs: "effective MACs (paper: dense × active fraction)",
} as const;

/**
 * The summary rows after activity sparsity, from an evaluation record (evalRecord, lmEvalRecord, or
 * summary.json's): an EGRU run's two backward sparsities, egru's on the pre-reset c and the paper's
 * on the post-reset h (`long`: saying what each counts; a dense cell: "none"), the executed MACs per
 * `unit` against dense, and the paper's effective MACs. A figure the record lacks (a summary written
 * before it was recorded) leaves out its row.
 */
export function sparsityMacsRows(
  record: Record<string, unknown>,
  egru: boolean,
  unit: "Example" | "Token",
  long: boolean,
): Row[] {
  const n = (k: string): number | undefined => (typeof record[k] === "number" ? (record[k] as number) : undefined);
  const rows: Row[] = [];
  const [onC, onH] = [n("backwardSparsity"), n("paperBackwardSparsity")];
  if (egru && onC !== undefined)
    rows.push([
      PAPER_LABELS.backwardOnC,
      long ? `${pct(onC)} of units with |c − ϑ| > 1/s (outside the surrogate window)` : pct(onC),
    ]);
  if (egru && onH !== undefined)
    rows.push([PAPER_LABELS.backwardOnH, long ? `${pct(onH)} of units with |h − ϑ| > 1/s (post-reset h)` : pct(onH)]);
  if (!egru && long) rows.push(["backward sparsity", "none"]);
  const [executed, dense, effective] = [
    n(`macsExecutedPer${unit}`),
    n(`macsDensePer${unit}`),
    n(`paperEffectiveMacsPer${unit}`),
  ];
  const per = unit.toLowerCase();
  if (executed !== undefined && dense) rows.push([`MACs per ${per}`, macsText(executed, dense)]);
  if (effective !== undefined && dense)
    rows.push([PAPER_LABELS.effectiveMacs, `${mega(effective)} per ${per} (${pct(effective / dense)} of dense)`]);
  return rows;
}

/** Say a step's dead-layer warnings (train/dead-layers.ts): a "warning" record each and a line on stderr. */
export function sayDeadLayers(ctx: RunContext, config: TrainConfig, warnings: DeadLayerWarning[]): void {
  const m = config.model;
  for (const w of warnings) {
    const message = deadLayerMessage(w, m.layers, m.deadLayerSteps, m.thresholdInit === "data");
    ctx.emit({ type: "warning", step: w.step, layer: w.layer, silentSince: w.silentSince, message });
    ctx.warn(`egru train: warning: ${message}`);
  }
}
