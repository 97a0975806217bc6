// `egru train`: configuration (preset, JSON file, flags), data, model, the training loop with a
// progress bar, metrics.jsonl, checkpoints (periodic, at epoch ends and on Ctrl-C), --resume, and the
// final test evaluation and summary. Node only; the trainer is src/train/trainer.ts, the outer loop
// (checkpoints, Ctrl-C, failures) src/cli/train-loop.ts.

import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, unlinkSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { getKernels, ValueError } from "egru";
import { loadCheckpoint, saveCheckpoint, writeFileAtomic } from "../node/checkpoint.js";
import { buildTrainer, modelJson, modelTensors, optimizerTensors, parameterCount } from "../train/build.js";
import { loadPresets } from "../node/presets.js";
import { isLmTask, mergeConfig, parseConfig, type TrainConfig } from "../train/config.js";
import { trainLmCommand } from "./train-lm.js";
import type { EpochSums, EvalResult, TrainPosition, Trainer } from "../train/trainer.js";
import { formatDuration, mega, pct } from "./format.js";
import { progressBar } from "./progress.js";
import { reportAtEnd } from "./report.js";
import { loadTask } from "./task-data.js";
import { restoreTrainer, runTrainingLoop } from "./train-loop.js";
import { nodeMemoryLimits } from "../node/memory-limits.js";
import type { MemoryBudget } from "../train/memory.js";
import { EXIT_OK, UsageError } from "./run.js";

/** Flags of `egru train` (commander's camel-cased names). */
export interface TrainFlags {
  preset: string;
  config?: string;
  task?: string;
  cell?: string;
  hidden?: number;
  layers?: number;
  embedding?: number;
  bptt?: number;
  timeBudget?: number;
  readout?: string;
  epochs?: number;
  batch?: number;
  lr?: number;
  optimizer?: string;
  clip?: number;
  seed?: number;
  validation?: number;
  trainLimit?: number;
  testLimit?: number;
  checkpointEvery?: number;
  data?: string;
  out?: string;
  resume?: string;
  json?: boolean;
  quiet?: boolean;
  skipBad?: boolean;
  microBatch?: number | "auto";
}

/** The flags that change the configuration (not allowed with --resume). */
function flagConfig(f: TrainFlags): Record<string, unknown> {
  return mergeConfig({
    task: f.task,
    epochs: f.epochs,
    batchSize: f.batch,
    seed: f.seed,
    validation: f.validation,
    trainLimit: f.trainLimit,
    testLimit: f.testLimit,
    checkpointEvery: f.checkpointEvery,
    data: f.data,
    timeBudget: f.timeBudget,
    microBatch: f.microBatch,
    lm: { embedding: f.embedding, bptt: f.bptt },
    dvs: { skipBad: f.skipBad },
    model: { cell: f.cell, hidden: f.hidden, layers: f.layers, readout: f.readout },
    optimizer: { kind: f.optimizer, lr: f.lr, clip: f.clip },
  });
}

/** Names of the configuration fields set in a (nested) flag object. */
function flagsGiven(o: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v !== null && typeof v === "object"
      ? flagsGiven(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}`],
  );
}

/** Read and parse a JSON configuration file; errors name the file. */
function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(
      "--config",
      "a readable JSON file",
      `${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ValueError(path, "JSON", `unparsable text (${(e as Error).message})`);
  }
}

/** The lines of the end-of-run (or eval) summary table. */
export function summaryLines(r: EvalResult, cell: string, extra: [string, string][] = []): string[] {
  const events = cell === "egru";
  const rows: [string, string][] = [
    [`${r.split} accuracy`, pct(r.accuracy)],
    [`${r.split} loss`, r.loss.toFixed(4)],
    [
      "activity sparsity",
      events ? `${pct(r.activitySparsity)} of EGRU outputs are 0` : `none (${cell.toUpperCase()} outputs are dense)`,
    ],
    ["backward sparsity", events ? `${pct(r.backwardSparsity)} of units outside the surrogate window` : "none"],
    [
      "MACs per example",
      `${mega(r.macsPerExample.executed)} executed of ${mega(r.macsPerExample.dense)} dense (${pct(r.macsPerExample.executed / r.macsPerExample.dense)})`,
    ],
    ...extra,
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`);
}

export function defaultRunDir(c: TrainConfig): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
  return join("runs", `${c.task}-${c.model.cell}-${stamp}`);
}

interface RunState {
  trainer: Trainer;
  config: TrainConfig;
  runDir: string;
  seconds: number;
  best?: { epoch: number; accuracy?: number };
  lastEpoch?: Record<string, unknown>;
}

function save(s: RunState, secondsNow: number): string {
  const t = s.trainer;
  return saveCheckpoint(s.runDir, modelTensors(t.model), optimizerTensors(t.optimizer.state()), {
    config: s.config,
    position: t.position,
    sums: t.sums,
    rng: t.model.rng.getState(),
    optimizerStep: t.optimizer.steps,
    seconds: secondsNow,
    best: s.best,
    lastEpoch: s.lastEpoch,
  });
}

/** Keep only the metrics records up to `step` (a resumed run re-writes what came after). */
export function trimMetrics(path: string, step: number): void {
  if (!existsSync(path)) return;
  const keep = readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        const r = JSON.parse(line) as { step?: number };
        return (r.step ?? 0) <= step;
      } catch {
        return false;
      }
    });
  writeFileAtomic(path, keep.map((l) => `${l}\n`).join(""));
}

export async function trainCommand(f: TrainFlags, ctx: { kernels: string }): Promise<number> {
  let config: TrainConfig;
  let runDir: string;
  let resumed: ReturnType<typeof loadCheckpoint> | null = null;
  if (f.resume) {
    const given = flagsGiven(flagConfig(f));
    if (f.config) given.push("config");
    if (f.out) given.push("out");
    if (given.length) {
      throw new UsageError(
        "--resume",
        "no configuration flags (a resumed run keeps its saved configuration)",
        given.join(", "),
      );
    }
    runDir = f.resume;
    resumed = loadCheckpoint(runDir);
    config = parseConfig(resumed.state.config, `${join(resumed.dir, "state.json")}: config`);
  } else {
    const presets = loadPresets();
    const preset = presets[f.preset];
    if (!preset)
      throw new UsageError("--preset", `one of ${Object.keys(presets).join(", ")}`, JSON.stringify(f.preset));
    config = parseConfig(
      mergeConfig(preset, f.config ? readConfigFile(f.config) : {}, flagConfig(f)),
      f.config ?? "config",
    );
    runDir = f.out ?? defaultRunDir(config);
    if (existsSync(runDir) && readdirSync(runDir).length > 0) {
      throw new UsageError(
        "--out",
        "a new or empty directory (egru never overwrites a run; continue one with --resume)",
        `${runDir}, which has files`,
      );
    }
  }
  // the first directory this command makes (undefined when --out existed), to take back on an early failure
  const made = resumed ? undefined : mkdirSync(runDir, { recursive: true });
  try {
    return await train(config, runDir, resumed, f, ctx);
  } catch (e) {
    if (!resumed) discardUnstartedRun(runDir, made);
    throw e;
  }
}

/** The files a run writes before its first step; a run directory holding only these has nothing to keep. */
const START_FILES = ["config.json", "vocab.txt"];

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

/** Train in a run directory that exists: a new run (config validated) or a resumed one. */
async function train(
  config: TrainConfig,
  runDir: string,
  resumed: ReturnType<typeof loadCheckpoint> | null,
  f: TrainFlags,
  ctx: { kernels: string },
): Promise<number> {
  const budget: MemoryBudget = {
    limits: nodeMemoryLimits(getKernels()),
    source: resumed
      ? `${join(resumed.dir, "state.json")}: config`
      : f.config
        ? `${f.config} over preset ${f.preset}`
        : `preset ${f.preset}`,
  };
  if (isLmTask(config.task))
    return trainLmCommand({
      config,
      runDir,
      resumed,
      json: f.json ?? false,
      quiet: f.quiet ?? false,
      kernels: ctx.kernels,
      budget,
    });
  const task = loadTask(config);
  const trainer = buildTrainer(config, task, budget);
  const state: RunState = { trainer, config, runDir, seconds: 0 };
  const metricsPath = join(runDir, "metrics.jsonl");
  if (resumed) {
    restoreTrainer<TrainPosition, EpochSums>(trainer, resumed);
    state.seconds = resumed.state.seconds;
    state.best = resumed.state.best;
    state.lastEpoch = resumed.state.lastEpoch;
    trimMetrics(metricsPath, trainer.position.step);
  } else {
    writeFileAtomic(join(runDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  }
  writeFileAtomic(join(runDir, "model.json"), modelJson(trainer.model)); // for the library's loadModel(runDir)

  const params = parameterCount(trainer.model);
  const { emit, log } = runOutput(metricsPath, f);
  const nb = trainer.batchesPerEpoch;
  const total = config.epochs * nb;
  log(
    `egru train: ${config.task}, ${config.model.layers}×${config.model.cell.toUpperCase()}(${config.model.hidden}), ${params.toLocaleString("en-US")} parameters, ` +
      `${task.count("train")} train / ${task.count("valid")} valid / ${task.count("test")} test examples, ${config.epochs} epochs of ${nb} batches, ` +
      `${microBatchText(config.batchSize, trainer.options.microBatch)}, kernels ${ctx.kernels}; run directory ${runDir}${resumed ? ` (resuming at step ${trainer.position.step})` : ""}`,
  );

  const t0 = performance.now();
  const elapsed = (): number => state.seconds + (performance.now() - t0) / 1000;
  const bar = progressBar("train", total, ["epoch", "loss", "acc", "sparsity"], {
    quiet: f.quiet || f.json,
    start: trainer.position.step,
  });
  const stopped = await runTrainingLoop({
    runDir,
    checkpointEvery: config.checkpointEvery,
    position: () => trainer.position,
    save: () => save(state, elapsed()),
    stopOutput: () => bar.stop(),
    advance: () => {
      let epochEnded = false;
      const r = trainer.run({
        onStep: (s) => {
          bar.update(s.epoch * nb + s.batch, {
            epoch: `${s.epoch + 1}/${config.epochs}`,
            loss: s.epochLoss.toFixed(4),
            acc: pct(s.epochAccuracy),
            sparsity: pct(s.activitySparsity),
          });
          if (s.step % 50 === 0 || s.batch === nb) {
            emit({
              type: "step",
              step: s.step,
              epoch: s.epoch + 1,
              batch: s.batch,
              loss: s.loss,
              accuracy: s.accuracy,
              epochLoss: s.epochLoss,
              epochAccuracy: s.epochAccuracy,
              activitySparsity: s.activitySparsity,
              layerSparsity: s.layerSparsity,
              layerBackwardSparsity: s.layerBackwardSparsity,
              lr: s.lr,
              gradNorm: s.gradNorm,
              macsExecuted: s.macs.executed,
              macsDense: s.macs.dense,
              seconds: elapsed(),
            });
          }
        },
        onEpoch: (e) => {
          epochEnded = true;
          if (e.valid && (!state.best || e.valid.accuracy > (state.best.accuracy ?? -1)))
            state.best = { epoch: e.epoch + 1, accuracy: e.valid.accuracy };
          state.lastEpoch = {
            type: "epoch",
            step: trainer.position.step,
            epoch: e.epoch + 1,
            trainLoss: e.trainLoss,
            trainAccuracy: e.trainAccuracy,
            ...(e.valid ? evalRecord(e.valid) : {}),
            seconds: elapsed(),
          };
          emit(state.lastEpoch);
          if (!f.quiet && !f.json) {
            bar.log(
              `epoch ${e.epoch + 1}/${config.epochs}: train loss ${e.trainLoss.toFixed(4)} acc ${pct(e.trainAccuracy)}` +
                (e.valid
                  ? ` | valid loss ${e.valid.loss.toFixed(4)} acc ${pct(e.valid.accuracy)} sparsity ${pct(e.valid.activitySparsity)}`
                  : "") +
                ` | ${formatDuration(elapsed())}`,
            );
          }
        },
        stop: () => true,
      });
      return { epochEnded, done: r === "done" };
    },
  });
  if (stopped !== null) return stopped;
  bar.stop();

  const test = trainer.evaluate("test");
  const seconds = elapsed();
  emit({ type: "test", step: trainer.position.step, ...evalRecord(test), seconds });
  const summary = {
    task: config.task,
    cell: config.model.cell,
    hidden: config.model.hidden,
    layers: config.model.layers,
    parameters: params,
    epochs: config.epochs,
    steps: trainer.position.step,
    seconds,
    kernels: ctx.kernels,
    microBatch: trainer.options.microBatch ?? config.batchSize,
    best: state.best,
    ...evalRecord(test),
  };
  writeFileAtomic(join(runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  const report = await reportAtEnd(runDir, log);
  if (f.json) process.stdout.write(`${JSON.stringify({ type: "summary", ...summary, report })}\n`);
  else {
    process.stdout.write(
      `egru train: finished in ${formatDuration(seconds)}; run directory ${runDir}\n` +
        `${summaryLines(test, config.model.cell, [
          ["parameters", params.toLocaleString("en-US")],
          ["training", `${config.epochs} epochs, ${trainer.position.step} steps, ${formatDuration(seconds)}`],
          ...(report ? [["report", report] as [string, string]] : []),
        ]).join("\n")}\n`,
    );
  }
  return EXIT_OK;
}

/** "micro-batch 167 of 500 (3 blocks)", or "whole batches". */
export function microBatchText(batch: number, rows: number | undefined): string {
  if (rows === undefined || rows >= batch) return "whole batches";
  return `micro-batch ${rows} of ${batch} (${Math.ceil(batch / rows)} blocks)`;
}

/** An evaluation as a flat JSON record. */
export function evalRecord(r: EvalResult): Record<string, number | string | number[]> {
  return {
    split: r.split,
    count: r.count,
    loss: r.loss,
    accuracy: r.accuracy,
    activitySparsity: r.activitySparsity,
    backwardSparsity: r.backwardSparsity,
    macsExecutedPerExample: r.macsPerExample.executed,
    macsDensePerExample: r.macsPerExample.dense,
    layerSparsity: r.layerSparsity,
  };
}

/**
 * A run's outputs: emit() appends a record to metrics.jsonl (and prints it on stdout with --json);
 * log() writes a line on stderr unless --quiet.
 */
export function runOutput(
  metricsPath: string,
  o: { json?: boolean; quiet?: boolean },
): { emit(record: Record<string, unknown>): void; log(m: string): void } {
  return {
    emit: (record) => {
      const line = JSON.stringify(record);
      appendFileSync(metricsPath, `${line}\n`);
      if (o.json) process.stdout.write(`${line}\n`);
    },
    log: (m) => {
      if (!o.quiet) process.stderr.write(`${m}\n`);
    },
  };
}
