// From a validated configuration to the objects of a run: the model, the optimizer and the
// trainer, and the model's and optimizer's tensors for checkpoints (isomorphic).

import {
  ALEXNET_FRONT_END,
  type ClassifierConfig,
  countParams,
  createModel,
  modelConfigOf,
  type Network,
  Optimizer,
  type OptimizerState,
  type ParamOwner,
  type SequenceClassifier,
  ValueError,
} from "egru";
import type { Tensor } from "egru";
import type { TrainConfig } from "./config.js";
import type { ClassificationTask } from "./task.js";
import { Trainer } from "./trainer.js";
import { classifierPlans, type MemoryBudget } from "./memory.js";

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
    zoneout: m.zoneout,
    egru: {
      thresholdMode: m.thresholdMode,
      thresholdMean: m.thresholdMean,
      dampeningFactor: m.dampeningFactor,
      pseudoDerivativeSupport: m.pseudoDerivativeSupport,
      traceDecay: m.traceDecay,
    },
    activityWeight: m.activityWeight,
    activityTarget: m.activityTarget,
    stateWeight: m.stateWeight,
    stateTarget: m.stateTarget,
    stateMeanWeight: m.stateMeanWeight,
  };
}

export function buildModel(c: TrainConfig, task: ClassificationTask): SequenceClassifier {
  return createModel(classifierConfig(c, task));
}

/**
 * The trainer of a classification run. With `budget`, the rows per forward of a training step and of
 * an evaluation batch come from the memory estimate (src/train/memory.ts), checked before the model
 * is allocated; without it, whole batches.
 */
export function buildTrainer(c: TrainConfig, task: ClassificationTask, budget?: MemoryBudget): Trainer {
  const plans = budget ? classifierPlans(c, task, budget) : null;
  const model = buildModel(c, task);
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
  return new Trainer(model, task, optimizer, {
    epochs: c.epochs,
    batchSize: c.batchSize,
    evalBatchSize: c.evalBatchSize,
    lr: o.lr,
    clip: o.clip,
    schedule: c.schedule,
    seed: c.seed,
    microBatch: plans?.train.rows ?? (c.microBatch === "auto" ? undefined : c.microBatch),
    evalMicroBatch: plans?.eval.rows,
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

/** The model's parameters as tensors (1-D, by name), and setting them back (names and sizes checked first). */
export { paramTensors as modelTensors, loadParamTensors as loadModelTensors, type ParamOwner } from "egru";

export function optimizerTensors(s: OptimizerState): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, b] of Object.entries(s.buffers)) out[k] = { shape: [b.length], data: b };
  return out;
}

export function optimizerStateFrom(step: number, tensors: Record<string, Tensor>): OptimizerState {
  const buffers: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(tensors)) buffers[k] = t.data;
  return { step, buffers };
}
