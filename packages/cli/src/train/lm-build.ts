// From a validated configuration of a language-model task to the model, the optimizer and the
// trainer (isomorphic; the corpus comes in already read).

import type { Corpus } from "../data/corpus.js";
import { createModel, type LanguageModel, type LanguageModelConfig, Optimizer } from "egru";
import type { TrainConfig } from "./config.js";
import { LmTrainer } from "./lm-trainer.js";
import { lmPlans, type MemoryBudget } from "./memory.js";

/** The library's model configuration of a language-model run over a vocabulary of `vocab` words. */
export function languageModelConfig(c: TrainConfig, vocab: number): LanguageModelConfig {
  const m = c.model;
  const lm = c.lm;
  return {
    type: "language-model",
    cell: m.cell,
    vocab,
    embedding: lm.embedding,
    hidden: m.hidden,
    layers: m.layers,
    seed: c.seed,
    dropoutWords: lm.dropoutWords,
    dropoutEmbedding: lm.dropoutEmbedding,
    dropoutForward: lm.dropoutForward,
    dropoutOutput: lm.dropoutOutput,
    dropoutMask: lm.dropoutMask,
    dropConnect: m.dropConnect,
    zoneout: m.zoneout,
    egru: {
      thresholdMode: m.thresholdMode,
      thresholdMean: m.thresholdMean,
      dampeningFactor: m.dampeningFactor,
      pseudoDerivativeSupport: m.pseudoDerivativeSupport,
      traceDecay: m.traceDecay,
    },
  };
}

export function buildLanguageModel(c: TrainConfig, vocab: number): LanguageModel {
  return createModel(languageModelConfig(c, vocab));
}

/**
 * The trainer of a language-model run; validation runs at the training batch size (as the paper's
 * code). With `budget`, the streams per forward come from the memory estimate (src/train/memory.ts),
 * checked before the model is allocated; without it, whole batches.
 */
export function buildLmTrainer(c: TrainConfig, corpus: Corpus, budget?: MemoryBudget): LmTrainer {
  const plans = budget ? lmPlans(c, corpus.vocab.size, budget) : null;
  const model = buildLanguageModel(c, corpus.vocab.size);
  const o = c.optimizer;
  const optimizer = new Optimizer({
    kind: o.kind,
    momentum: o.momentum,
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.eps,
    weightDecay: o.weightDecay,
    thresholdLrMultiplier: o.thresholdLrMultiplier,
  });
  return new LmTrainer(model, { train: corpus.train, valid: corpus.valid, test: corpus.test }, optimizer, {
    epochs: c.epochs,
    batchSize: c.batchSize,
    evalBatchSize: c.batchSize,
    bptt: c.lm.bptt,
    randomBptt: c.lm.randomBptt,
    lr: o.lr,
    clip: o.clip,
    schedule: c.schedule,
    seed: c.seed,
    microBatch: plans?.train.rows ?? (c.microBatch === "auto" ? undefined : c.microBatch),
    evalMicroBatch: plans?.eval.rows,
  });
}
