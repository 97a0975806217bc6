// The training loop for sequence classification (isomorphic: no files, no clocks but the one it is
// given). Seeded and deterministic: the batch order of epoch e comes from its own seeded stream, the
// model's masks from the model's stream, so a run restarted from a saved position, model, optimizer
// and random state continues with exactly the losses of an uninterrupted one.
//
// Each step: forward, softmax cross-entropy (+ the model's regularisers), backward, a finiteness
// check naming the step, global-norm clipping, the optimizer update at the scheduled rate.

import type { RunHooks } from "./hooks.js";
import {
  clipGradNorm, learningRate, NonFiniteError, type Optimizer, Rng, type ScheduleConfig, softmaxCrossEntropy,
} from "egru";
import type { MacCount, SequenceClassifier } from "egru";
import type { ClassificationTask, SplitName } from "./task.js";

export interface TrainerOptions {
  epochs: number;
  batchSize: number;
  evalBatchSize: number;
  lr: number;
  /** Global gradient-norm limit; 0 = no clipping. */
  clip: number;
  schedule: ScheduleConfig;
  seed: number;
}

/** Where a run is: the next batch to train is `batch` of epoch `epoch`; `step` updates so far. */
export interface TrainPosition {
  epoch: number;
  batch: number;
  step: number;
}

export interface StepInfo extends TrainPosition {
  batches: number;
  loss: number;
  /** This batch's accuracy. */
  accuracy: number;
  /** Mean loss and accuracy over the epoch so far. */
  epochLoss: number;
  epochAccuracy: number;
  activitySparsity: number;
  /** Per layer: activity sparsity and backward sparsity of this step (0 for GRU/LSTM layers). */
  layerSparsity: number[];
  layerBackwardSparsity: number[];
  lr: number;
  gradNorm: number;
  /** Multiply-accumulates of this step, forward and backward: executed and dense. */
  macs: MacCount;
}

export interface EvalResult {
  split: SplitName;
  count: number;
  loss: number;
  accuracy: number;
  /** Over the EGRU layers' outputs (0 for GRU/LSTM); backward sparsity likewise. */
  activitySparsity: number;
  backwardSparsity: number;
  /** Forward multiply-accumulates per example: executed and what dense layers would execute. */
  macsPerExample: MacCount;
  /** Per layer: activity sparsity. */
  layerSparsity: number[];
}

export interface EpochInfo {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valid: EvalResult | null;
}

export type TrainerHooks = RunHooks<StepInfo, EpochInfo, TrainPosition>;

/** Running sums of the epoch in progress (part of a checkpoint, so a resumed epoch reports the same means). */
export interface EpochSums {
  loss: number;
  correct: number;
  seen: number;
}

export class Trainer {
  readonly model: SequenceClassifier;
  readonly task: ClassificationTask;
  readonly optimizer: Optimizer;
  readonly options: TrainerOptions;
  position: TrainPosition = { epoch: 0, batch: 0, step: 0 };
  sums: EpochSums = { loss: 0, correct: 0, seen: 0 };

  constructor(model: SequenceClassifier, task: ClassificationTask, optimizer: Optimizer, options: TrainerOptions) {
    this.model = model;
    this.task = task;
    this.optimizer = optimizer;
    this.options = options;
  }

  /** Batches per training epoch (the last one may be smaller). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.task.count("train") / this.options.batchSize);
  }

  private order: { epoch: number; perm: Int32Array } | null = null;

  /** The training order of an epoch: a permutation drawn from that epoch's own seeded stream. */
  epochOrder(epoch: number): Int32Array {
    if (this.order?.epoch !== epoch) {
      this.order = { epoch, perm: new Rng(this.options.seed * 1_000_003 + 7919 * (epoch + 1)).permutation(this.task.count("train")) };
    }
    return this.order.perm;
  }

  /** Train from the current position to the end, or until hooks.stop() says so. */
  run(hooks: TrainerHooks = {}): "done" | "stopped" {
    const { epochs, batchSize } = this.options;
    const nb = this.batchesPerEpoch;
    while (this.position.epoch < epochs) {
      const order = this.epochOrder(this.position.epoch);
      while (this.position.batch < nb) {
        const b0 = this.position.batch * batchSize;
        const info = this.trainStep(order.subarray(b0, Math.min(b0 + batchSize, order.length)), nb);
        hooks.onStep?.(info);
        if (hooks.stop?.(this.position)) return "stopped";
      }
      const valid = this.task.count("valid") > 0 ? this.evaluate("valid") : null;
      const s = this.sums;
      hooks.onEpoch?.({ epoch: this.position.epoch, trainLoss: s.loss / s.seen, trainAccuracy: s.correct / s.seen, valid });
      this.position = { epoch: this.position.epoch + 1, batch: 0, step: this.position.step };
      this.sums = { loss: 0, correct: 0, seen: 0 };
      if (hooks.stop?.(this.position)) return this.position.epoch < epochs ? "stopped" : "done";
    }
    return "done";
  }

  /** One optimizer step on the examples `indices` of the training split. */
  trainStep(indices: ArrayLike<number>, batches: number): StepInfo {
    const { model, task, optimizer, options } = this;
    const { x, labels } = task.batch("train", indices, this.position.step);
    const B = labels.length;
    const pos = this.position;
    const lr = learningRate(options.lr, options.schedule, pos.epoch, pos.step, options.epochs);
    model.train();
    model.zeroGrad();
    const where = `step ${pos.step + 1} (epoch ${pos.epoch + 1}, batch ${pos.batch + 1})`;
    let run;
    try {
      run = model.forward(x, task.T, B);
    } catch (e) {
      // NaN or Infinity in a weight: say at which step it was found
      if (e instanceof NonFiniteError) throw new NonFiniteError(`${where}: ${e.argument}`, e.expected, e.got);
      throw e;
    }
    const ce = softmaxCrossEntropy(run.logits, labels, task.classes);
    const loss = ce.loss + run.regLoss;
    if (!Number.isFinite(loss)) {
      model.release(run);
      throw new NonFiniteError(where, "a finite loss", String(loss));
    }
    const head = model.backward(run, ce.dlogits);
    const params = model.params();
    const gradNorm = clipGradNorm(params, options.clip);
    if (!Number.isFinite(gradNorm)) {
      model.release(run);
      const bad = params.find((p) => p.grad.some((g) => !Number.isFinite(g)));
      throw new NonFiniteError(where, "finite gradients", `NaN or Infinity in the gradient of ${bad?.name ?? "a parameter"}`);
    }
    optimizer.step(params, lr);
    const macs: MacCount = {
      executed: run.head.macs.executed + head.head.executed + run.frontEndMacs.executed + head.frontEnd.executed,
      dense: run.head.macs.dense + head.head.dense + run.frontEndMacs.dense + head.frontEnd.dense,
    };
    for (const l of run.layers) {
      macs.executed += l.forwardMacs.executed + l.backwardMacs.executed;
      macs.dense += l.forwardMacs.dense + l.backwardMacs.dense;
    }
    const sparsity = meanSparsity(run.runs.map((r) => r.stats));
    const layerSparsity = run.layers.map((l) => l.activitySparsity);
    const layerBackwardSparsity = run.layers.map((l) => l.backwardSparsity);
    model.release(run);
    this.sums.loss += ce.loss * B;
    this.sums.correct += ce.correct;
    this.sums.seen += B;
    this.position = { epoch: pos.epoch, batch: pos.batch + 1, step: pos.step + 1 };
    return {
      ...this.position, batches, loss, accuracy: ce.correct / B, epochLoss: this.sums.loss / this.sums.seen,
      epochAccuracy: this.sums.correct / this.sums.seen, activitySparsity: sparsity, layerSparsity, layerBackwardSparsity,
      lr, gradNorm, macs,
    };
  }

  /** Loss, accuracy, sparsity and MACs of the model (evaluation mode) on a split. */
  evaluate(split: SplitName, onBatch?: (done: number, total: number) => void): EvalResult {
    const { model, task } = this;
    const n = task.count(split);
    const bs = this.options.evalBatchSize;
    model.eval();
    let loss = 0;
    let correct = 0;
    let zeros = 0;
    let outside = 0;
    let entries = 0;
    const macs: MacCount = { executed: 0, dense: 0 };
    let layerZeros: number[] = [];
    let layerEntries: number[] = [];
    for (let b0 = 0; b0 < n; b0 += bs) {
      const idx = Int32Array.from({ length: Math.min(bs, n - b0) }, (_, i) => b0 + i);
      const { x, labels } = task.batch(split, idx);
      const run = model.forward(x, task.T, labels.length);
      const ce = softmaxCrossEntropy(run.logits, labels, task.classes);
      loss += ce.loss * labels.length;
      correct += ce.correct;
      macs.executed += run.head.macs.executed + run.frontEndMacs.executed;
      macs.dense += run.head.macs.dense + run.frontEndMacs.dense;
      if (layerZeros.length === 0) {
        layerZeros = run.runs.map(() => 0);
        layerEntries = run.runs.map(() => 0);
      }
      run.runs.forEach((r, l) => {
        const isEgru = r.o !== undefined;
        macs.executed += r.stats.executedMacs;
        macs.dense += r.stats.denseMacs;
        if (!isEgru) return;
        zeros += r.stats.activitySparsity * r.stats.entries;
        outside += r.stats.backwardSparsity * r.stats.entries;
        entries += r.stats.entries;
        layerZeros[l] += r.stats.activitySparsity * r.stats.entries;
        layerEntries[l] += r.stats.entries;
      });
      model.release(run);
      onBatch?.(Math.min(b0 + bs, n), n);
    }
    model.train();
    return {
      split, count: n, loss: loss / n, accuracy: correct / n,
      activitySparsity: entries ? zeros / entries : 0, backwardSparsity: entries ? outside / entries : 0,
      macsPerExample: { executed: macs.executed / n, dense: macs.dense / n },
      layerSparsity: layerZeros.map((z, l) => (layerEntries[l] ? z / layerEntries[l] : 0)),
    };
  }
}

/** Activity sparsity over all the layers' outputs (weighted by their entries). */
function meanSparsity(stats: { activitySparsity: number; entries: number }[]): number {
  let z = 0;
  let n = 0;
  for (const s of stats) {
    z += s.activitySparsity * s.entries;
    n += s.entries;
  }
  return n ? z / n : 0;
}
