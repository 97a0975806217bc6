// From a validated configuration to the objects of a run, for both kinds of task (isomorphic; the
// data comes in already read): the library's model configuration, the model (on the kernels the
// caller passes, else the library's default), the optimizer and the trainer.
//   classifier      buildTrainer(config, task)   → Trainer over a ClassificationTask
//   language model  buildLmTrainer(config, corpus) → LmTrainer over a corpus's token streams
// With a memory budget, the rows per forward come from the estimate (src/train/memory.ts), checked
// before the model is allocated; without one, whole batches.

import {
  ALEXNET_FRONT_END,
  type ClassifierConfig,
  countParams,
  createModel,
  type Kernels,
  type LanguageModel,
  type LanguageModelConfig,
  modelConfigOf,
  type Network,
  Optimizer,
  type ParamOwner,
  type SequenceClassifier,
  ValueError,
} from "egru";
import type { Corpus } from "../data/corpus.js";
import type { TrainConfig } from "./config.js";
import { LmTrainer } from "./lm-trainer.js";
import { classifierPlans, lmPlans, type MemoryBudget, type RowPlans } from "./memory.js";
import type { ClassificationTask } from "./task.js";
import { Trainer } from "./trainer.js";

/** How a run's objects are built: the memory budget to plan with and the kernels every layer uses. */
export interface BuildOptions {
  budget?: MemoryBudget;
  kernels?: Kernels;
  /**
   * Classifiers: at most this many rows per evaluation forward, below what the memory plan allows
   * (replicas each hold one; evaluation gives the same results in any blocks). Default: the plan's.
   */
  evalRows?: number;
}

/** The EGRU options of a run's model section (the library fills what is not given). */
function egruOptions(m: TrainConfig["model"]): ClassifierConfig["egru"] {
  return {
    thresholdMode: m.thresholdMode,
    thresholdMean: m.thresholdMean,
    dampeningFactor: m.dampeningFactor,
    pseudoDerivativeSupport: m.pseudoDerivativeSupport,
    traceDecay: m.traceDecay,
    gradClip: m.gradClip,
  };
}

/** The library's model configuration of a classification run. */
export function classifierConfig(c: TrainConfig, task: ClassificationTask): ClassifierConfig {
  const m = c.model;
  if (m.frontEnd !== "none" && !task.frame)
    throw new ValueError(
      "model.frontEnd",
      "a task whose inputs are images (dvs-gesture)",
      `${m.frontEnd} on ${task.name}`,
    );
  const frontEnd = m.frontEnd === "alexnet" && task.frame ? { layers: ALEXNET_FRONT_END, ...task.frame } : null;
  return {
    type: "sequence-classifier",
    cell: m.cell,
    inputSize: task.I,
    hiddenSize: m.hidden,
    layers: m.layers,
    classes: task.classes,
    readout: m.readout ?? (m.cell === "egru" ? "trace" : "last"),
    seed: c.seed,
    sparseInput: task.sparseInput,
    frontEnd,
    inputDropout: m.inputDropout,
    outputDropout: m.outputDropout,
    dropConnect: m.dropConnect,
    dropConnectShape: m.dropConnectShape,
    zoneout: m.zoneout,
    egru: egruOptions(m),
    activityWeight: m.activityWeight,
    activityTarget: m.activityTarget,
    stateWeight: m.stateWeight,
    stateTarget: m.stateTarget,
    stateMeanWeight: m.stateMeanWeight,
  };
}

/** The library's model configuration of a language-model run over a vocabulary of `vocab` words. */
export function languageModelConfig(c: TrainConfig, vocab: number): LanguageModelConfig {
  const { model: m, lm } = c;
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
    arWeight: lm.arWeight,
    tarWeight: lm.tarWeight,
    arOutput: lm.arOutput,
    dropConnect: m.dropConnect,
    dropConnectShape: m.dropConnectShape,
    zoneout: m.zoneout,
    egru: egruOptions(m),
  };
}

export function buildModel(c: TrainConfig, task: ClassificationTask, kernels?: Kernels): SequenceClassifier {
  return createModel(classifierConfig(c, task), { kernels });
}

export function buildLanguageModel(c: TrainConfig, vocab: number, kernels?: Kernels): LanguageModel {
  return createModel(languageModelConfig(c, vocab), { kernels });
}

/** The optimizer of a configuration (its learning rate and clipping go to the trainer). */
function buildOptimizer(c: TrainConfig): Optimizer {
  const o = c.optimizer;
  return new Optimizer({
    kind: o.kind,
    momentum: o.momentum,
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.eps,
    weightDecay: o.weightDecay,
    thresholdLrMultiplier: o.thresholdLrMultiplier,
  });
}

/**
 * A classifier's rows per training block with microBatch "auto": at most this many, so that a large
 * batch comes in blocks that replicas can run at once (node/replica-pool.ts) and the results are the
 * same on any number of threads (a block of 64 rows runs about as fast per row as a whole batch of 128).
 */
export const CLASSIFIER_BLOCK_ROWS = 64;

/**
 * The rows of a training block (undefined: whole batches): the configuration's micro-batch, else
 * what the memory plan fits, and with "auto" at most `maxAutoRows`.
 */
export function trainRows(
  c: TrainConfig,
  plans: RowPlans | null,
  maxAutoRows = Number.POSITIVE_INFINITY,
): number | undefined {
  const planned = plans?.train.rows ?? (c.microBatch === "auto" ? undefined : c.microBatch);
  const auto = c.microBatch === "auto" && c.batchSize > maxAutoRows;
  return auto ? Math.min(planned ?? c.batchSize, maxAutoRows) : planned;
}

/** The trainer options both kinds share: epochs, batch, rate, schedule, clipping, seed and the rows per forward. */
function commonOptions(c: TrainConfig, plans: RowPlans | null, maxAutoRows = Number.POSITIVE_INFINITY) {
  return {
    epochs: c.epochs,
    batchSize: c.batchSize,
    lr: c.optimizer.lr,
    clip: c.optimizer.clip,
    schedule: c.schedule,
    earlyStop: c.earlyStop,
    minImprovement: c.minImprovement,
    deadLayerSteps: c.model.deadLayerSteps,
    seed: c.seed,
    microBatch: trainRows(c, plans, maxAutoRows),
    evalMicroBatch: plans?.eval.rows,
  };
}

/** The trainer of a classification run. */
export function buildTrainer(c: TrainConfig, task: ClassificationTask, o: BuildOptions = {}): Trainer {
  const plans = o.budget ? classifierPlans(c, task, o.budget) : null;
  const model = buildModel(c, task, o.kernels);
  model.placeIn(model.kernels); // weights and gradients read in place by the kernels (memory.ts counts them)
  const common = commonOptions(c, plans, CLASSIFIER_BLOCK_ROWS);
  const evalMicroBatch =
    o.evalRows === undefined ? common.evalMicroBatch : Math.min(common.evalMicroBatch ?? o.evalRows, o.evalRows);
  return new Trainer(model, task, buildOptimizer(c), { ...common, evalMicroBatch, evalBatchSize: c.evalBatchSize });
}

/** The trainer of a language-model run; validation runs at the training batch size (as the paper's code). */
export function buildLmTrainer(c: TrainConfig, corpus: Corpus, o: BuildOptions = {}): LmTrainer {
  const plans = o.budget ? lmPlans(c, corpus.vocab.size, o.budget) : null;
  const model = buildLanguageModel(c, corpus.vocab.size, o.kernels);
  model.placeIn(model.kernels);
  const splits = { train: corpus.train, valid: corpus.valid, test: corpus.test };
  return new LmTrainer(model, splits, buildOptimizer(c), {
    ...commonOptions(c, plans),
    evalBatchSize: c.batchSize,
    bptt: c.lm.bptt,
    randomBptt: c.lm.randomBptt,
  });
}

/** The model's configuration as the library's model API reads it (a run directory's model.json). */
export function modelJson(model: Network): string {
  return `${JSON.stringify(modelConfigOf(model), null, 2)}\n`;
}

/** Number of model parameters. */
export function parameterCount(model: ParamOwner): number {
  return countParams(model.params());
}
