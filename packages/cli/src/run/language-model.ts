// The language-model kind of run (Penn Treebank, WikiText-2): the corpus read from --data or the
// download cache, the trainer of src/train/lm-trainer.ts, validation perplexity per epoch with the
// best weights kept in best.safetensors, the carried state and BPTT-length stream in checkpoints,
// and at the end the best weights evaluated on the validation and test splits at the test batch
// size (the paper's: 1). Everything else about a run is the life's (run/life.ts).

import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Kernels, loadParamTensors, paramTensors, type WatchVerdict } from "egru";
import { sealSafetensors } from "egru/node";
import type { Corpus } from "../data/corpus.js";
import { loadCorpus, type CorpusName } from "../node/corpus-files.js";
import { loadRunWeights, readVocab } from "./run-files.js";
import { lmActivity } from "../train/activity.js";
import { buildLanguageModel, buildLmTrainer, languageModelConfig, parameterCount, trainRows } from "../train/build.js";
import { blockPeak, lmCost, lmPlans, longestSegment, type MemoryBudget } from "../train/memory.js";
import { modelKernels, replicaThreads, withReplicas } from "./replica-threads.js";
import { isLmTask, type TrainConfig } from "../train/config.js";
import type { LmEvalResult, LmSplit, LmTrainer } from "../train/lm-trainer.js";
import { formatDuration, mega, pct } from "./format.js";
import {
  evalWeights,
  type Row,
  type RunKind,
  sayDeadLayers,
  sparsityMacsRows,
  stepFigures,
  type TaskRun,
  tableLines,
  watchFields,
} from "./kind.js";
import { progressBar } from "./progress.js";
import { corpusDir, corpusPath } from "./task-data.js";

/** The best validation weights of a run, as `egru eval`, `generate` and `report` read them. */
export const BEST_FILE = "best.safetensors";

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
    paperBackwardSparsity: r.paperBackwardSparsity,
    layerSparsity: r.layerSparsity,
    layerBackwardSparsity: r.layerBackwardSparsity,
    layerPaperBackwardSparsity: r.layerPaperBackwardSparsity,
    macsExecutedPerToken: r.macsPerToken.executed,
    macsDensePerToken: r.macsPerToken.dense,
    paperEffectiveMacsPerToken: r.paperEffectiveMacsPerToken,
  };
}

/** The result rows of a summary table (end of training, or `egru eval`). */
export function lmResultRows(valid: LmEvalResult | null, test: LmEvalResult, cell: string): Row[] {
  const events = cell === "egru";
  return [
    ...(valid ? [["valid perplexity", `${valid.perplexity.toFixed(2)} (batch ${valid.batchSize})`] as Row] : []),
    [`${test.split} perplexity`, `${test.perplexity.toFixed(2)} (batch ${test.batchSize})`],
    [
      "activity sparsity",
      events
        ? `${pct(test.activitySparsity)} of EGRU outputs are 0 (per layer: ${test.layerSparsity.map(pct).join(", ")})`
        : `none (${cell.toUpperCase()} outputs are dense)`,
    ],
    ...sparsityMacsRows(lmEvalRecord(test), events, "Token", true),
  ];
}

/** Evaluate the trainer's model on each split at batch size `batch`, with a progress bar each. */
function evaluateLm(trainer: LmTrainer, splits: LmSplit[], batch: number, quiet: boolean): LmEvalResult[] {
  return splits.map((split) => {
    const total = Math.floor(trainer.splits[split].length / batch) - 1;
    const b = progressBar(`${split} (batch ${batch})`, total, [], { quiet });
    const r = trainer.evaluate(split, batch, (done) => b.update(done, {}));
    b.stop();
    return r;
  });
}

/** The files a language-model run starts with: its vocabulary, one word a line in id order. */
function vocabFiles(corpus: Corpus): Record<string, string> {
  return { "vocab.txt": `${corpus.vocab.words.join("\n")}\n` };
}

const mean = (a: number[]): number => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : 0);

/**
 * A language-model run's trainer as `egru train` builds it: its blocks from the memory plan
 * (`budget`), and with threaded kernels, replicas when the batch comes in blocks and their copies
 * fit (run/replica-threads.ts).
 */
export function lmRunTrainer(
  config: TrainConfig,
  corpus: Corpus,
  budget: MemoryBudget | undefined,
  kernels: Kernels | undefined,
): LmTrainer {
  const vocab = corpus.vocab.size;
  const rows = trainRows(config, budget ? lmPlans(config, vocab, budget) : null);
  const peak = rows === undefined ? null : blockPeak(lmCost(config, vocab, longestSegment(config), true), rows);
  const threads = replicaThreads(kernels, config.batchSize, rows, peak);
  const trainer = buildLmTrainer(config, corpus, { budget, kernels: modelKernels(kernels, threads) });
  return withReplicas(trainer, languageModelConfig(config, vocab), threads);
}

export const languageModelKind: RunKind = {
  handles: (config) => isLmTask(config.task),

  open(config, o): TaskRun {
    const corpus = loadCorpus(config.task as CorpusName, corpusDir(config));
    const trainer = lmRunTrainer(config, corpus, o.budget, o.kernels);
    const threads = trainer.replicas ? trainer.replicas.count + 1 : 1;
    const m = config.model;
    const sizes = Array.from({ length: m.layers }, (_, l) => (l === m.layers - 1 ? config.lm.embedding : m.hidden));
    const rows = trainer.rows - 1;
    const budget = config.timeBudget;
    let best: { epoch: number; perplexity: number; step: number } | undefined;
    let tokens = 0;
    let stepSeconds = 0;
    let validatedAt = -1;
    const n = (x: number): string => x.toLocaleString("en-US");

    const validate = (
      ctx: Parameters<TaskRun["advance"]>[0],
      epoch: number,
      valid: LmEvalResult,
      loss: number,
      verdict: WatchVerdict | null,
    ) => {
      const watched = watchFields(verdict, trainer.watch);
      validatedAt = trainer.position.step;
      if (!best || valid.perplexity < best.perplexity) {
        best = { epoch, perplexity: valid.perplexity, step: trainer.position.step };
        ctx.writeFile(BEST_FILE, sealSafetensors(paramTensors(trainer.model), { format: "egru-model-1" }));
      }
      ctx.emit({
        type: "epoch",
        step: trainer.position.step,
        epoch,
        trainLoss: loss,
        trainPerplexity: Math.exp(loss),
        ...lmEvalRecord(valid),
        ...watched.record,
        seconds: ctx.elapsed(),
      });
      ctx.note(
        `epoch ${epoch}: train ppl ${Math.exp(loss).toFixed(2)} | valid ppl ${valid.perplexity.toFixed(2)} sparsity ${pct(valid.activitySparsity)}` +
          ` MACs/token ${mega(valid.macsPerToken.executed)} of ${mega(valid.macsPerToken.dense)} | ${formatDuration(ctx.elapsed())}${watched.note}`,
      );
    };

    return {
      trainer,
      startFiles: vocabFiles(corpus),
      blockThreads: threads,
      close: async () => {
        await trainer.replicas?.close();
        trainer.replicas = null;
      },
      describe:
        `${config.task} (${n(corpus.train.length)} training tokens, vocabulary ${n(corpus.vocab.size)}), ` +
        `embedding ${config.lm.embedding} → ${m.cell.toUpperCase()}(${sizes.join(", ")}) → tied decoder, ${n(parameterCount(trainer.model))} parameters, ` +
        `batch ${config.batchSize}, bptt ${config.lm.bptt}, ${config.epochs} epochs${budget !== undefined ? ` or ${budget} minutes` : ""}`,
      progress: {
        total: config.epochs * rows,
        done: trainer.position.epoch * rows + trainer.position.row,
        fields: ["epoch", "ppl", "sparsity", "speed"],
      },
      kindState: () => ({
        best,
        lm: {
          bpttRng: trainer.bpttRng.getState(),
          hidden: trainer.hidden ? trainer.hidden.map((l) => l.map((a) => Array.from(a))) : null,
        },
      }),
      restore(state) {
        if (state.best?.perplexity !== undefined) best = state.best as typeof best;
        if (state.lm) {
          trainer.bpttRng.setState(state.lm.bpttRng);
          trainer.hidden = state.lm.hidden ? state.lm.hidden.map((l) => l.map((a) => Float32Array.from(a))) : null;
        }
      },
      advance(ctx) {
        let epochEnded = false;
        let stepStart = performance.now();
        const r = trainer.run({
          onStep: (s) => {
            const now = performance.now();
            stepSeconds += (now - stepStart) / 1000;
            stepStart = now;
            tokens += s.tokens;
            const tps = tokens / stepSeconds;
            ctx.progress(s.epoch * rows + Math.min(s.row, rows), {
              epoch: `${s.epoch + 1}/${config.epochs}`,
              ppl: Math.exp(s.epochLoss).toFixed(1),
              sparsity: pct(mean(s.layerSparsity)),
              speed: `${tps.toFixed(0)} tokens/s`,
            });
            if (s.step % 20 === 0) {
              ctx.emit({
                type: "step",
                step: s.step,
                epoch: s.epoch + 1,
                row: s.row,
                T: s.T,
                loss: s.loss,
                ...(s.ar !== undefined ? { ar: s.ar, tar: s.tar } : {}),
                epochLoss: s.epochLoss,
                ...stepFigures(s),
                tokensPerSecond: tps,
                seconds: ctx.elapsed(),
              });
            }
            sayDeadLayers(ctx, config, s.deadLayerWarnings);
          },
          onEpoch: (e) => {
            epochEnded = true;
            validate(ctx, e.epoch + 1, e.valid, e.trainLoss, e.verdict);
          },
          stop: () => true,
        });
        return { epochEnded, done: r === "done" };
      },
      outOfTime(ctx) {
        if (validatedAt === trainer.position.step) return;
        // the budget ends mid-epoch: validate where training stopped
        const p = trainer.position;
        const loss = trainer.sums.loss / Math.max(1, trainer.sums.tokens);
        validate(
          ctx,
          Number((p.epoch + p.row / rows).toFixed(3)),
          trainer.evaluate("valid", config.batchSize),
          loss,
          null,
        );
      },
      finish(ctx, trainSeconds) {
        // the best-validation weights, evaluated on valid and test at the test batch size
        loadRunWeights(trainer.model, ctx.runDir);
        const [valid, test] = evaluateLm(trainer, ["valid", "test"], config.lm.testBatchSize, ctx.quiet);
        const step = trainer.position.step;
        ctx.emit({ type: "final", step, valid: lmEvalRecord(valid), test: lmEvalRecord(test), seconds: ctx.elapsed() });
        const epochs = trainer.position.epoch + trainer.position.row / rows;
        const tokensPerSecond = stepSeconds > 0 ? tokens / stepSeconds : null;
        return {
          summary: {
            embedding: config.lm.embedding,
            epochs,
            trainSeconds,
            tokensPerSecond,
            timeBudgetMinutes: config.timeBudget ?? null,
            valid: lmEvalRecord(valid),
            test: lmEvalRecord(test),
          },
          rows: lmResultRows(valid, test, m.cell),
          training:
            `${epochs.toFixed(2)} epochs, ${step} steps, ${formatDuration(trainSeconds)}` +
            (tokensPerSecond ? `, ${tokensPerSecond.toFixed(0)} tokens/s` : ""),
        };
      },
    };
  },

  blankModel(config, kernels) {
    const corpus = loadCorpus(config.task as CorpusName, corpusDir(config));
    return { model: buildLanguageModel(config, corpus.vocab.size, kernels), startFiles: vocabFiles(corpus) };
  },

  evaluate(r) {
    const { checkpoint: ck, config } = r;
    const trainer = buildLmTrainer(config, loadCorpus(config.task as CorpusName, corpusDir(config)), {
      kernels: r.kernels,
    });
    let weights: string;
    if (ck && resolve(r.path) === resolve(ck.dir)) {
      weights = join(ck.dir, "model.safetensors");
      loadParamTensors(trainer.model, ck.model, weights);
      trainer.model.weightsChanged();
    } else {
      weights = loadRunWeights(trainer.model, r.runDir);
    }
    const int8 = evalWeights(trainer.model, r);
    const splits: LmSplit[] = r.split ? [r.split] : ["valid", "test"];
    const t0 = performance.now();
    const results = evaluateLm(trainer, splits, config.lm.testBatchSize, r.quiet);
    const seconds = (performance.now() - t0) / 1000;
    const records = results.map((res) => ({
      type: "eval",
      weights,
      step: ck ? ck.state.position.step : null,
      kernels: r.kernelName,
      seconds,
      ...int8.record,
      ...lmEvalRecord(res),
      split: res.split,
    }));
    const test = results[results.length - 1];
    const valid = results.length > 1 ? results[0] : null;
    const head = `egru eval: ${config.task} language model, weights ${weights}${int8.note}`;
    return { records, text: [head, ...tableLines(lmResultRows(valid, test, config.model.cell))].join("\n") };
  },

  missingData(config) {
    const dir = corpusPath(config);
    return existsSync(dir) ? null : `the ${config.task} corpus is not at ${dir}`;
  },

  activity(runDir, config, input, kernels) {
    const words = readVocab(runDir);
    const model = buildLanguageModel(config, words.length, kernels);
    loadRunWeights(model, runDir);
    const corpus = loadCorpus(config.task as CorpusName, corpusDir(config));
    return lmActivity(model, corpus.test, words, input, config.lm.bptt);
  },

  reportRows(config, summary) {
    const n = (k: string, o: Record<string, unknown> = summary): number | undefined =>
      typeof o[k] === "number" ? (o[k] as number) : undefined;
    const rows: Row[] = [];
    const valid = summary.valid as Record<string, unknown> | undefined;
    const test = summary.test as Record<string, unknown> | undefined;
    if (valid)
      rows.push(["validation perplexity", `${n("perplexity", valid)?.toFixed(2)} (batch ${n("batchSize", valid)})`]);
    if (test) {
      rows.push(["test perplexity", `${n("perplexity", test)?.toFixed(2)} (batch ${n("batchSize", test)})`]);
      if (config.model.cell === "egru") {
        const layers = ((test.layerSparsity as number[]) ?? []).map(pct).join(", ");
        rows.push(["activity sparsity", `${pct(n("activitySparsity", test) ?? 0)} (per layer ${layers})`]);
      }
      rows.push(...sparsityMacsRows(test, config.model.cell === "egru", "Token", false));
    }
    const tps = n("tokensPerSecond");
    if (tps) rows.push(["training speed", `${tps.toFixed(0)} tokens/s`]);
    return rows;
  },
};
