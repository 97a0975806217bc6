// The life of a training run, from start to end, for every kind of task (Node only):
//   start    a new run directory (refused when it has files) with config.json and the kind's start
//            files, or a resumed one: the checkpoint restored, metrics.jsonl cut back to its step (a
//            run stopped before its first checkpoint starts again from step 0 with its config.json)
//   train    the outer loop (run/loop.ts): a step at a time, a checkpoint when one is due, Ctrl-C
//            (exit 130), NaN/Infinity (exit 1, naming the last good checkpoint), the time budget
//   end      the kind's final evaluation, summary.json, the report, the summary table (or a JSON line)
// What differs between kinds comes from their RunKind (run/kind.ts); this file has no branch on the
// task. The command `egru train` is flags → config → startRun / resumeRun.

import {
  appendFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { clearPool, defaultKernels, type Kernels, StateError, ValidationWatch, ValueError } from "egru";
import { entryExists, readJsonFile } from "egru/node";
import { writeFileAtomic } from "../node/atomic-file.js";
import { checkOutDir, makeOutDir } from "./out-dir.js";
import { nodeMemoryLimits } from "../node/memory-limits.js";
import { parseConfig, shownValue, type TrainConfig, valueAt } from "../train/config.js";
import { modelJson, parameterCount } from "../train/build.js";
import { thresholdsFromData } from "../train/data-thresholds.js";
import { deadLayerMessage, silentStretchText } from "../train/dead-layers.js";
import { type LoadedCheckpoint, loadCheckpoint, restoreTrainer, saveTrainer } from "./checkpoint.js";
import { EXIT_FAILED, EXIT_OK, UsageError } from "./exit.js";
import { formatDuration, pct } from "./format.js";
import { type Row, type RunContext, type TaskRun, tableLines } from "./kind.js";
import { kindOf } from "./kinds.js";
import { runTrainingLoop } from "./loop.js";
import { progressBar } from "./progress.js";
import { reportAtEnd } from "./report.js";
import { isWeightsOnlyRun } from "./run-files.js";

export interface RunOptions {
  /** The kernels every layer computes with (default: the library's default) and their name for logs. */
  kernels?: Kernels;
  kernelName: string;
  /** Metrics as JSON lines on stdout instead of the progress bar and table. */
  json?: boolean;
  /** No progress output on stderr. */
  quiet?: boolean;
  /** Where the configuration came from, for errors that name it (e.g. "preset default"). */
  source?: string;
  /** Resuming: train to this many epochs in all (more than the run's configuration says extends it). */
  epochs?: number;
}

/** The files a run writes before its first step; a run directory holding only these has nothing to keep. */
const START_FILES = ["config.json", "vocab.txt"];

/** runs/<task>-<cell>-<time>. */
export function defaultRunDir(c: TrainConfig): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  return join("runs", `${c.task}-${c.model.cell}-${stamp}`);
}

/** Train a new run of `config` in `runDir` (new or empty; default runs/…). Returns the exit code. */
export async function startRun(config: TrainConfig, runDir: string | undefined, o: RunOptions): Promise<number> {
  const dir = runDir ?? defaultRunDir(config);
  checkOutDir(dir, "--out", "a new or empty directory (egru never overwrites a run; continue one with --resume)");
  // the first directory this makes (undefined when it existed), to take back on an early failure
  const made = makeOutDir(dir, "--out");
  // a relative --data is stored resolved, so eval, report and --resume work from any directory
  const stored = config.data !== undefined ? { ...config, data: resolve(config.data) } : config;
  try {
    return await live(stored, dir, null, o);
  } catch (e) {
    discardUnstartedRun(dir, made);
    throw e;
  }
}

/** Continue the run in `runDir` from its last checkpoint, with its saved configuration. */
export async function resumeRun(runDir: string, o: RunOptions): Promise<number> {
  if (isWeightsOnlyRun(runDir))
    throw new StateError(
      runDir,
      "a run with training state to continue (a checkpoint: optimizer state, data position, random state)",
      "a run of weights only (made by egru import); evaluate it, or train a new run",
    );
  if (stoppedBeforeCheckpoint(runDir)) {
    const path = join(runDir, "config.json");
    const saved = parseConfig(readJsonFile(path, "the run's configuration"), path);
    const config = o.epochs === undefined ? saved : { ...saved, epochs: o.epochs };
    if (!o.quiet)
      process.stderr.write(`egru train: ${runDir} has no checkpoint yet: training starts again from step 0\n`);
    rmSync(join(runDir, "metrics.jsonl"), { force: true }); // (records of steps that no checkpoint kept)
    return live(config, runDir, null, { ...o, source: path });
  }
  const ck = loadCheckpoint(runDir);
  const source = `${join(ck.dir, "state.json")}: config`;
  let config = sameAsRunConfig(parseConfig(ck.state.config, source), runDir, source);
  if (o.epochs !== undefined && o.epochs !== config.epochs) config = extendRun(runDir, ck, config, o.epochs);
  return live(config, runDir, ck, { ...o, source });
}

/**
 * `egru train --resume DIR --epochs N`: the run trains on to N epochs in all (its learning-rate
 * schedule, early stopping and every other setting as they were; a schedule that depends on the total,
 * e.g. cosine, follows the new total from here on). config.json takes the new total at once (a
 * checkpoint of the old total still resumes: see sameAsRunConfig), and a finished run's summary.json
 * is kept as summary-<epochs>-epochs.json, since the run is no longer finished. Errors: fewer epochs
 * than already trained, or a run that early stopping ended (more epochs would not train).
 */
function extendRun(runDir: string, ck: LoadedCheckpoint, config: TrainConfig, epochs: number): TrainConfig {
  const done = ck.state.position.epoch;
  if (!(Number.isInteger(epochs) && epochs >= Math.max(done, 1)))
    throw new UsageError(
      "--epochs",
      `a whole number of at least ${Math.max(done, 1)} with --resume (the epochs the run has trained, or more)`,
      String(epochs),
    );
  const w = ck.state.watch;
  const watch = new ValidationWatch("min", config.earlyStop); // (the mode does not enter stopsAfter)
  if (w) watch.setState(w);
  if (w && watch.stopsAfter(done))
    throw new StateError(
      runDir,
      "a run that early stopping has not ended, to train more epochs",
      `a run that stopped early after epoch ${done} (validation did not improve for ${config.earlyStop} epoch${config.earlyStop === 1 ? "" : "s"} after epoch ${w.bestEpoch})`,
    );
  const extended = { ...config, epochs };
  const summary = join(runDir, "summary.json");
  if (existsSync(summary)) renameSync(summary, join(runDir, `summary-${config.epochs}-epochs.json`));
  writeFileAtomic(join(runDir, "config.json"), `${JSON.stringify(extended, null, 2)}\n`);
  return extended;
}

/**
 * A run stopped (killed) after it wrote config.json and before its first checkpoint became current:
 * nothing of its training was kept, so resuming it is training it from its start with that config.
 * (A finished run has a checkpoint and a summary: one missing its checkpoint is not taken for this.)
 */
function stoppedBeforeCheckpoint(runDir: string): boolean {
  const has = (f: string): boolean => entryExists(join(runDir, f));
  return has("config.json") && !has("checkpoint.json") && !has("state.json") && !has("summary.json");
}

/** The first path at which two JSON values differ ("" when they are equal). */
function firstDifference(a: unknown, b: unknown, path = ""): string | null {
  if (a === b) return null;
  const objects = a !== null && b !== null && typeof a === "object" && typeof b === "object";
  if (!objects || Array.isArray(a) !== Array.isArray(b)) return path || "(the whole value)";
  const keys = new Set([...Object.keys(a as object), ...Object.keys(b as object)]);
  for (const k of keys) {
    const d = firstDifference(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      path ? `${path}.${k}` : k,
    );
    if (d !== null) return d;
  }
  return null;
}

/**
 * A checkpoint resumes with the configuration the run started with: its config.json (when there is
 * one). Returns the configuration to resume with: the checkpoint's, or config.json's when that only
 * has more epochs (a run extended by --resume --epochs, interrupted before its next checkpoint).
 */
function sameAsRunConfig(config: TrainConfig, runDir: string, source: string): TrainConfig {
  const path = join(runDir, "config.json");
  if (!existsSync(path)) return config;
  const run = parseConfig(readJsonFile(path, "the run's configuration"), path);
  if (run.epochs > config.epochs && firstDifference(run, { ...config, epochs: run.epochs }) === null) return run;
  const d = firstDifference(run, config);
  if (d !== null) {
    const at = (c: unknown): string => shownValue(valueAt(c, d.split(".")));
    throw new ValueError(
      `${source}.${d}`,
      `${at(run)}, as the run's ${path} says (a resumed run keeps its configuration)`,
      at(config),
    );
  }
  return config;
}

/**
 * After a failure, remove what a new run left if it holds nothing but its start files: those files,
 * then the directories this command made (`made`, the first of them, and those below it down to
 * runDir), each only if empty. Nothing else is deleted, and never a directory that existed before.
 */
export function discardUnstartedRun(runDir: string, made: string | undefined): void {
  if (!existsSync(runDir) || !readdirSync(runDir).every((f) => START_FILES.includes(f))) return;
  for (const f of readdirSync(runDir)) unlinkSync(join(runDir, f));
  if (made === undefined) return;
  const top = resolve(made);
  for (let d = resolve(runDir); ; d = dirname(d)) {
    try {
      rmdirSync(d); // only an empty directory
    } catch {
      return;
    }
    if (d === top || dirname(d) === d) return;
  }
}

/**
 * Keep only the metrics records up to `step` (a resumed run re-writes what came after), without the
 * end-of-run records ("test", "final"): a run killed after its last checkpoint wrote them, and its
 * resumed finish writes them again.
 */
function trimMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        const r = JSON.parse(line) as { step?: number; type?: string };
        return (r.step ?? 0) <= step && r.type !== "test" && r.type !== "final";
      } catch {
        return false;
      }
    });
  writeFileAtomic(path, keep.map((l) => `${l}\n`).join(""));
}

/** "micro-batch 167 of 500 (3 blocks)", or "whole batches"; ", 2 at a time on 2 threads" with replicas. */
function microBatchText(batch: number, rows: number | undefined, threads = 1): string {
  if (rows === undefined || rows >= batch) return "whole batches";
  const blocks = Math.ceil(batch / rows);
  const at = threads > 1 ? `, ${Math.min(threads, blocks)} at a time on ${threads} threads` : "";
  return `micro-batch ${rows} of ${batch} (${blocks} blocks${at})`;
}

/** A run in a directory that exists, new (resumed = null) or resumed, from its first step to its summary. */
async function live(
  config: TrainConfig,
  runDir: string,
  resumed: LoadedCheckpoint | null,
  o: RunOptions,
): Promise<number> {
  const kind = kindOf(config);
  const warn = (m: string): void => void process.stderr.write(`${m}\n`); // e.g. skipped recordings, even with --quiet
  const kernels = o.kernels ?? defaultKernels();
  const budget = { limits: nodeMemoryLimits(kernels), source: o.source ?? "config" };
  const run = kind.open(config, { budget, kernels, log: warn });
  try {
    return await liveRun(config, runDir, resumed, o, run);
  } finally {
    await run.close?.();
  }
}

/** live() once the run's objects are open. */
async function liveRun(
  config: TrainConfig,
  runDir: string,
  resumed: LoadedCheckpoint | null,
  o: RunOptions,
  run: TaskRun,
): Promise<number> {
  const log = (m: string): void => {
    if (!o.quiet) process.stderr.write(`${m}\n`);
  };
  const kernels = o.kernels ?? defaultKernels();
  const { trainer } = run;
  // the micro-batch chosen for this machine is pinned in config.json and every checkpoint, so a run
  // resumed elsewhere splits its batches the same way (or stops with a StateError if they cannot fit)
  const pinned: TrainConfig =
    config.microBatch === "auto" ? { ...config, microBatch: trainer.options.microBatch ?? config.batchSize } : config;
  const metricsPath = join(runDir, "metrics.jsonl");
  let seconds0 = 0;
  if (resumed) {
    restoreTrainer(trainer, resumed);
    run.restore(resumed.state);
    seconds0 = resumed.state.seconds;
    trimMetrics(metricsPath, trainer.position.step);
  } else {
    writeFileAtomic(join(runDir, "config.json"), `${JSON.stringify(pinned, null, 2)}\n`);
    for (const [name, text] of Object.entries(run.startFiles)) writeFileAtomic(join(runDir, name), text);
  }
  writeFileAtomic(join(runDir, "model.json"), modelJson(trainer.model)); // for the library's loadModel(runDir)
  const microBatch = trainer.options.microBatch;
  // a new run's data-dependent threshold init, before its first step (a resumed run has its thresholds)
  const init = !resumed && config.model.thresholdInit === "data" ? dataThresholds(trainer, config) : null;
  log(
    `egru train: ${run.describe}, ${microBatchText(config.batchSize, microBatch, run.blockThreads)}, kernels ${o.kernelName}; ` +
      `run directory ${runDir}${resumed ? ` (resuming at step ${trainer.position.step})` : ""}` +
      (init ? `; ${init.text}` : ""),
  );

  const t0 = performance.now();
  const elapsed = (): number => seconds0 + (performance.now() - t0) / 1000;
  const quiet = o.quiet === true || o.json === true;
  const bar = progressBar("train", run.progress.total, run.progress.fields, { quiet, start: run.progress.done });
  const ctx: RunContext = {
    runDir,
    quiet,
    emit: (record) => {
      const line = JSON.stringify(record);
      appendFileSync(metricsPath, `${line}\n`);
      if (o.json) process.stdout.write(`${line}\n`);
    },
    note: (line) => bar.log(line),
    warn: (line) => (quiet ? process.stderr.write(`${line}\n`) : bar.log(line)),
    progress: (done, fields) => bar.update(done, fields),
    elapsed,
    writeFile: (name, bytes) => writeFileAtomic(join(runDir, name), bytes),
  };
  if (init) ctx.emit(init.record);
  const budgetSeconds = config.timeBudget !== undefined ? config.timeBudget * 60 : Infinity;
  let outOfTime = false;
  const stopped = await runTrainingLoop({
    runDir,
    checkpointEvery: config.checkpointEvery,
    position: () => trainer.position,
    save: () => saveTrainer(runDir, trainer, { config: pinned, seconds: elapsed(), kind: run.kindState() }),
    stopOutput: () => bar.stop(),
    advance: () => {
      const r = run.advance(ctx);
      outOfTime = !r.done && elapsed() >= budgetSeconds;
      if (outOfTime) run.outOfTime?.(ctx);
      return { epochEnded: r.epochEnded, done: r.done || outOfTime, saveNow: outOfTime };
    },
  });
  if (stopped !== null) return stopped;
  bar.stop();
  const trainSeconds = elapsed();
  if (outOfTime)
    log(`egru train: time budget of ${config.timeBudget} minutes reached at step ${trainer.position.step}`);
  const early = trainer.stoppedEarly;
  if (early)
    log(
      `egru train: stopped early after epoch ${early.epoch}: validation has not improved for ${config.earlyStop} epochs (best: epoch ${early.bestEpoch})`,
    );

  const end = run.finish(ctx, trainSeconds);
  const seconds = elapsed();
  const m = config.model;
  const silent = silentLayers(trainer, config);
  const summary = {
    task: config.task,
    cell: m.cell,
    hidden: m.hidden,
    layers: m.layers,
    parameters: parameterCount(trainer.model),
    steps: trainer.position.step,
    seconds,
    kernels: o.kernelName,
    microBatch: microBatch ?? config.batchSize,
    best: run.kindState().best,
    ...(config.earlyStop > 0 ? { stoppedEarly: early } : {}),
    ...silent.summary,
    ...end.summary,
  };
  writeFileAtomic(join(runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  // a report that fails is said even under --quiet, and fails the command (exit 1) once all else is written
  const warnAlways = (m: string): void => void process.stderr.write(`${m}\n`);
  clearPool(); // training's pooled temporaries are not needed by the report (whose PNG renderer is large)
  const report = await reportAtEnd(runDir, log, warnAlways, kernels);
  if (o.json) process.stdout.write(`${JSON.stringify({ type: "summary", ...summary, report })}\n`);
  else {
    const rows = tableLines([
      ...end.rows,
      ["parameters", summary.parameters.toLocaleString("en-US")],
      ["training", end.training],
      ...silent.rows,
      ...(report ? [["report", report] as [string, string]] : []),
    ]);
    process.stdout.write(
      `egru train: finished in ${formatDuration(seconds)}; run directory ${runDir}\n${rows.join("\n")}\n`,
    );
  }
  return report === null ? EXIT_FAILED : EXIT_OK;
}

/** Set the model's EGRU thresholds from the first training batches (model.thresholdInit "data"): the record and the log's words. */
function dataThresholds(
  trainer: TaskRun["trainer"],
  config: TrainConfig,
): { record: Record<string, unknown>; text: string } {
  const { result, batches, record } = thresholdsFromData(trainer, config.model.thresholdTarget);
  const activity = result.layers.map((l) => pct(l.activity)).join(", ");
  return {
    record,
    text: `EGRU thresholds set from ${batches} training batches: activity ${activity} (target ${pct(result.target)})`,
  };
}

/** An EGRU run's dead-layer warnings and the layers silent at its end, for summary.json and the table. */
function silentLayers(
  trainer: TaskRun["trainer"],
  config: TrainConfig,
): { summary: Record<string, unknown>; rows: Row[] } {
  if (config.model.cell !== "egru") return { summary: {}, rows: [] };
  const step = trainer.position.step;
  const { layers, deadLayerSteps, thresholdInit } = config.model;
  const warnings = trainer.deadLayers.state.warnings.map((w) => ({
    ...w,
    message: deadLayerMessage(w, layers, deadLayerSteps, thresholdInit === "data"),
  }));
  const rows: Row[] = warnings.map((w) => ["warning", silentStretchText(w, layers, step)]);
  return { summary: { warnings, deadLayers: trainer.deadLayers.deadAt(step) }, rows };
}
