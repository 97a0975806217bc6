// From a validated configuration to the objects of a run: the model, the optimizer and the
// trainer, and the model's and optimizer's tensors for checkpoints (isomorphic).

import { ShapeError } from "../core/errors.js";
import type { Tensor } from "../data/safetensors.js";
import { SequenceClassifier } from "../nn/classifier.js";
import { countParams, type Param } from "../nn/params.js";
import { Optimizer, type OptimizerState } from "../optim/optimizer.js";
import type { TrainConfig } from "./config.js";
import { ValueError } from "../core/errors.js";
import { ALEXNET_FRONT_END } from "../nn/frame-cnn.js";
import type { ClassificationTask } from "./task.js";
import { Trainer } from "./trainer.js";
import { classifierPlans, type MemoryBudget } from "./memory.js";

export function buildModel(c: TrainConfig, task: ClassificationTask): SequenceClassifier {
  const m = c.model;
  if (m.frontEnd !== "none" && !task.frame) throw new ValueError("model.frontEnd", "a task whose inputs are images (dvs-gesture)", `${m.frontEnd} on ${task.name}`);
  const frontEnd = m.frontEnd === "alexnet" && task.frame ? { layers: ALEXNET_FRONT_END, ...task.frame } : null;
  return new SequenceClassifier({
    cell: m.cell, inputSize: task.I, hiddenSize: m.hidden, layers: m.layers, classes: task.classes,
    readout: m.readout ?? (m.cell === "egru" ? "trace" : "last"), seed: c.seed, sparseInput: task.sparseInput,
    frontEnd, inputDropout: m.inputDropout, outputDropout: m.outputDropout, dropConnect: m.dropConnect, zoneout: m.zoneout,
    egru: {
      thresholdMode: m.thresholdMode, thresholdMean: m.thresholdMean, dampeningFactor: m.dampeningFactor,
      pseudoDerivativeSupport: m.pseudoDerivativeSupport, traceDecay: m.traceDecay,
    },
    activityWeight: m.activityWeight, activityTarget: m.activityTarget, stateWeight: m.stateWeight, stateTarget: m.stateTarget,
    stateMeanWeight: m.stateMeanWeight,
  });
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
    kind: o.kind, momentum: o.momentum, beta1: o.beta1, beta2: o.beta2, eps: o.eps, weightDecay: o.weightDecay,
    thresholdLrMultiplier: o.thresholdLrMultiplier,
  });
  return new Trainer(model, task, optimizer, {
    epochs: c.epochs, batchSize: c.batchSize, evalBatchSize: c.evalBatchSize, lr: o.lr, clip: o.clip, schedule: c.schedule, seed: c.seed,
    microBatch: plans?.train.rows ?? (c.microBatch === "auto" ? undefined : c.microBatch), evalMicroBatch: plans?.eval.rows,
  });
}

/** A model as checkpoints see it: named parameters. */
export interface ParamOwner {
  params(): Param[];
}

/** Number of model parameters. */
export function parameterCount(model: ParamOwner): number {
  return countParams(model.params());
}

/** The model's parameters as tensors (1-D, by name). */
export function modelTensors(model: ParamOwner): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of model.params()) out[p.name] = { shape: [p.value.length], data: p.value.slice() };
  return out;
}

/** Set the model's parameters from tensors by name; every name and size is checked first. */
export function loadModelTensors(model: ParamOwner, tensors: Record<string, Tensor>, source: string): void {
  const params = model.params();
  for (const p of params) {
    const t = tensors[p.name];
    if (!t) throw new ShapeError(`${source}: ${p.name}`, "a tensor of the model", "missing");
    if (t.data.length !== p.value.length) throw new ShapeError(`${source}: ${p.name}`, `${p.value.length} values`, String(t.data.length));
  }
  const extra = Object.keys(tensors).filter((k) => !params.some((p) => p.name === k));
  if (extra.length) throw new ShapeError(`${source}: ${extra[0]}`, "only the model's tensors", "a tensor the model does not have");
  for (const p of params) p.value.set(tensors[p.name].data);
}

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
