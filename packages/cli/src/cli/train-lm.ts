// `egru train --task ptb|wikitext-2`: the language-model run. Reads the corpus (--data, or the cache
// `egru data download` fills), trains with a progress bar and metrics.jsonl, checkpoints (periodic,
// at epoch ends, on Ctrl-C and at the time budget; --resume continues exactly, carried state
// included), keeps the best-validation weights in best.safetensors, and finally evaluates them on
// the validation and test splits at the test batch size (the paper's: 1). Node only.

import { join } from "node:path";
import { encodeSafetensors } from "egru";
import { saveCheckpoint, writeFileAtomic, type LoadedCheckpoint } from "../node/checkpoint.js";
import { loadCorpus, type CorpusName } from "../node/corpus-files.js";
import { loadRunWeights } from "../node/run-files.js";
import { modelJson, modelTensors, optimizerTensors, parameterCount } from "../train/build.js";
import type { TrainConfig } from "../train/config.js";
import { buildLmTrainer } from "../train/lm-build.js";
import type { LmEvalResult, LmPosition, LmSplit, LmSums, LmTrainer } from "../train/lm-trainer.js";
import { progressBar } from "./progress.js";
import { reportAtEnd } from "./report.js";
import { EXIT_OK } from "./run.js";
import { formatDuration, mega, pct } from "./format.js";
import { corpusDir } from "./task-data.js";
import { microBatchText, runOutput, trimMetrics } from "./train.js";
import type { MemoryBudget } from "../train/memory.js";
import { restoreTrainer, runTrainingLoop } from "./train-loop.js";

const BEST_FILE = "best.safetensors";

export interface LmRunArgs {
  config: TrainConfig;
  runDir: string;
  resumed: LoadedCheckpoint | null;
  json: boolean;
  quiet: boolean;
  kernels: string;
  budget?: MemoryBudget;
}

/** An evaluation as a flat JSON record. */
export function lmEvalRecord(r: LmEvalResult): Record<string, number | string | number[]> {
  return {
    split: r.split,
    batchSize: r.batchSize,
    tokens: r.tokens,
    loss: r.loss,
    perplexity: r.perplexity,
    activitySparsity: r.activitySparsity,
    backwardSparsity: r.backwardSparsity,
    layerSparsity: r.layerSparsity,
    layerBackwardSparsity: r.layerBackwardSparsity,
    macsExecutedPerToken: r.macsPerToken.executed,
    macsDensePerToken: r.macsPerToken.dense,
  };
}

/** The lines of the end-of-run (or eval) summary table of a language model. */
export function lmSummaryLines(
  valid: LmEvalResult | null,
  test: LmEvalResult,
  cell: string,
  extra: [string, string][] = [],
): string[] {
  const events = cell === "egru";
  const rows: [string, string][] = [
    ...(valid
      ? [[`valid perplexity`, `${valid.perplexity.toFixed(2)} (batch ${valid.batchSize})`] as [string, string]]
      : []),
    [`${test.split} perplexity`, `${test.perplexity.toFixed(2)} (batch ${test.batchSize})`],
    [
      "activity sparsity",
      events
        ? `${pct(test.activitySparsity)} of EGRU outputs are 0 (per layer: ${test.layerSparsity.map(pct).join(", ")})`
        : `none (${cell.toUpperCase()} outputs are dense)`,
    ],
    ["backward sparsity", events ? `${pct(test.backwardSparsity)} of units outside the surrogate window` : "none"],
    [
      "MACs per token",
      `${mega(test.macsPerToken.executed)} executed of ${mega(test.macsPerToken.dense)} dense (${pct(test.macsPerToken.executed / test.macsPerToken.dense)})`,
    ],
    ...extra,
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`);
}

interface LmRunState {
  trainer: LmTrainer;
  config: TrainConfig;
  runDir: string;
  seconds: number;
  best?: { epoch: number; perplexity: number; step: number };
}

function save(s: LmRunState, secondsNow: number): string {
  const t = s.trainer;
  return saveCheckpoint(s.runDir, modelTensors(t.model), optimizerTensors(t.optimizer.state()), {
    config: s.config,
    position: t.position,
    sums: t.sums,
    rng: t.model.rng.getState(),
    optimizerStep: t.optimizer.steps,
    seconds: secondsNow,
    best: s.best,
    lm: { bpttRng: t.bpttRng.getState(), hidden: t.hidden ? t.hidden.map((l) => l.map((a) => Array.from(a))) : null },
  });
}

/** Restore a trainer from a checkpoint. */
function restore(t: LmTrainer, ck: LoadedCheckpoint): void {
  restoreTrainer<LmPosition, LmSums>(t, ck);
  if (ck.state.lm) {
    t.bpttRng.setState(ck.state.lm.bpttRng);
    t.hidden = ck.state.lm.hidden ? ck.state.lm.hidden.map((l) => l.map((a) => Float32Array.from(a))) : null;
  }
}

export async function trainLmCommand(a: LmRunArgs): Promise<number> {
  const { config, runDir, resumed } = a;
  const dir = corpusDir(config);
  const corpus = loadCorpus(config.task as CorpusName, dir);
  const trainer = buildLmTrainer(config, corpus, a.budget);
  const state: LmRunState = { trainer, config, runDir, seconds: 0 };
  const metricsPath = join(runDir, "metrics.jsonl");
  if (resumed) {
    restore(trainer, resumed);
    state.seconds = resumed.state.seconds;
    if (resumed.state.best?.perplexity !== undefined) state.best = resumed.state.best as LmRunState["best"];
    trimMetrics(metricsPath, trainer.position.step);
  } else {
    writeFileAtomic(join(runDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
    writeFileAtomic(join(runDir, "vocab.txt"), `${corpus.vocab.words.join("\n")}\n`);
  }
  writeFileAtomic(join(runDir, "model.json"), modelJson(trainer.model)); // for the library's loadModel(runDir)
  const params = parameterCount(trainer.model);
  const { emit, log } = runOutput(metricsPath, a);
  const m = config.model;
  const sizes = Array.from({ length: m.layers }, (_, l) => (l === m.layers - 1 ? config.lm.embedding : m.hidden));
  const budget = config.timeBudget !== undefined ? config.timeBudget * 60 : Infinity;
  log(
    `egru train: ${config.task} (${corpus.train.length.toLocaleString("en-US")} training tokens, vocabulary ${corpus.vocab.size.toLocaleString("en-US")}), ` +
      `embedding ${config.lm.embedding} → ${m.cell.toUpperCase()}(${sizes.join(", ")}) → tied decoder, ${params.toLocaleString("en-US")} parameters, ` +
      `batch ${config.batchSize}, bptt ${config.lm.bptt}, ${config.epochs} epochs${Number.isFinite(budget) ? ` or ${config.timeBudget} minutes` : ""}, ` +
      `${microBatchText(config.batchSize, trainer.options.microBatch)}, kernels ${a.kernels}; run directory ${runDir}${resumed ? ` (resuming at step ${trainer.position.step})` : ""}`,
  );

  const t0 = performance.now();
  const elapsed = (): number => state.seconds + (performance.now() - t0) / 1000;
  const rows = trainer.rows - 1;
  const bar = progressBar("train", config.epochs * rows, ["epoch", "ppl", "sparsity", "speed"], {
    quiet: a.quiet || a.json,
    start: trainer.position.epoch * rows + trainer.position.row,
  });
  let tokens = 0;
  let stepSeconds = 0;
  let validatedAt = -1;
  let outOfTime = false;
  const validate = (epoch: number, valid: LmEvalResult, trainLoss: number): void => {
    validatedAt = trainer.position.step;
    if (!state.best || valid.perplexity < state.best.perplexity) {
      state.best = { epoch, perplexity: valid.perplexity, step: trainer.position.step };
      writeFileAtomic(
        join(runDir, BEST_FILE),
        encodeSafetensors(modelTensors(trainer.model), { format: "egru-model-1" }),
      );
    }
    emit({
      type: "epoch",
      step: trainer.position.step,
      epoch,
      trainLoss,
      trainPerplexity: Math.exp(trainLoss),
      ...lmEvalRecord(valid),
      seconds: elapsed(),
    });
    if (!a.quiet && !a.json) {
      bar.log(
        `epoch ${epoch}: train ppl ${Math.exp(trainLoss).toFixed(2)} | valid ppl ${valid.perplexity.toFixed(2)} sparsity ${pct(valid.activitySparsity)}` +
          ` MACs/token ${mega(valid.macsPerToken.executed)} of ${mega(valid.macsPerToken.dense)} | ${formatDuration(elapsed())}`,
      );
    }
  };
  const stopped = await runTrainingLoop({
    runDir,
    checkpointEvery: config.checkpointEvery,
    position: () => trainer.position,
    save: () => save(state, elapsed()),
    stopOutput: () => bar.stop(),
    advance: () => {
      let epochEnded = false;
      let stepStart = performance.now();
      const r = trainer.run({
        onStep: (s) => {
          const now = performance.now();
          stepSeconds += (now - stepStart) / 1000;
          stepStart = now;
          tokens += s.tokens;
          const tps = tokens / stepSeconds;
          bar.update(s.epoch * rows + Math.min(s.row, rows), {
            epoch: `${s.epoch + 1}/${config.epochs}`,
            ppl: Math.exp(s.epochLoss).toFixed(1),
            sparsity: pct(mean(s.layerSparsity)),
            speed: `${tps.toFixed(0)} tokens/s`,
          });
          if (s.step % 20 === 0) {
            emit({
              type: "step",
              step: s.step,
              epoch: s.epoch + 1,
              row: s.row,
              T: s.T,
              loss: s.loss,
              epochLoss: s.epochLoss,
              layerSparsity: s.layerSparsity,
              layerBackwardSparsity: s.layerBackwardSparsity,
              lr: s.lr,
              gradNorm: s.gradNorm,
              macsExecuted: s.macs.executed,
              macsDense: s.macs.dense,
              tokensPerSecond: tps,
              seconds: elapsed(),
            });
          }
        },
        onEpoch: (e) => {
          epochEnded = true;
          validate(e.epoch + 1, e.valid, e.trainLoss);
        },
        stop: () => true,
      });
      const step = trainer.position.step;
      outOfTime = elapsed() >= budget;
      if (outOfTime && validatedAt !== step) {
        // the budget ends mid-epoch: validate where training stopped
        const p = trainer.position;
        validate(
          Number((p.epoch + p.row / rows).toFixed(3)),
          trainer.evaluate("valid", config.batchSize),
          trainer.sums.loss / Math.max(1, trainer.sums.tokens),
        );
      }
      return { epochEnded, done: r === "done" || outOfTime, saveNow: outOfTime };
    },
  });
  if (stopped !== null) return stopped;
  bar.stop();
  const trainSeconds = elapsed();
  if (outOfTime)
    log(`egru train: time budget of ${config.timeBudget} minutes reached at step ${trainer.position.step}`);

  // the best-validation weights, evaluated on valid and test at the test batch size
  loadRunWeights(trainer.model, runDir);
  const [valid, test] = evaluateLm(trainer, ["valid", "test"], config.lm.testBatchSize, a.quiet || a.json);
  const seconds = elapsed();
  emit({ type: "final", step: trainer.position.step, valid: lmEvalRecord(valid), test: lmEvalRecord(test), seconds });
  const summary = {
    task: config.task,
    cell: m.cell,
    embedding: config.lm.embedding,
    hidden: m.hidden,
    layers: m.layers,
    parameters: params,
    steps: trainer.position.step,
    epochs: trainer.position.epoch + trainer.position.row / rows,
    trainSeconds,
    seconds,
    tokensPerSecond: stepSeconds > 0 ? tokens / stepSeconds : null,
    timeBudgetMinutes: config.timeBudget ?? null,
    kernels: a.kernels,
    microBatch: trainer.options.microBatch ?? config.batchSize,
    best: state.best,
    valid: lmEvalRecord(valid),
    test: lmEvalRecord(test),
  };
  writeFileAtomic(join(runDir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  const report = await reportAtEnd(runDir, log);
  if (a.json) process.stdout.write(`${JSON.stringify({ type: "summary", ...summary, report })}\n`);
  else {
    process.stdout.write(
      `egru train: finished in ${formatDuration(seconds)}; run directory ${runDir}\n` +
        `${lmSummaryLines(valid, test, m.cell, [
          ["parameters", params.toLocaleString("en-US")],
          [
            "training",
            `${summary.epochs.toFixed(2)} epochs, ${trainer.position.step} steps, ${formatDuration(trainSeconds)}` +
              (summary.tokensPerSecond ? `, ${summary.tokensPerSecond.toFixed(0)} tokens/s` : ""),
          ],
          ...(report ? [["report", report] as [string, string]] : []),
        ]).join("\n")}\n`,
    );
  }
  return EXIT_OK;
}

/** Evaluate the trainer's model on each split at batch size `batch`, with a progress bar each (as `egru train` ends, and `egru eval`). */
export function evaluateLm(trainer: LmTrainer, splits: LmSplit[], batch: number, quiet: boolean): LmEvalResult[] {
  return splits.map((split) => {
    const b = progressBar(`${split} (batch ${batch})`, Math.floor(trainer.splits[split].length / batch) - 1, [], {
      quiet,
    });
    const r = trainer.evaluate(split, batch, (done) => b.update(done, {}));
    b.stop();
    return r;
  });
}

function mean(a: number[]): number {
  return a.length ? a.reduce((s, v) => s + v, 0) / a.length : 0;
}
