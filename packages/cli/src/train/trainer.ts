// The training loop for sequence classification (isomorphic: no files, no clocks but the one it is
// given). Seeded and deterministic: the batch order of epoch e comes from its own seeded stream, the
// model's masks from the model's stream, so a run restarted from a saved position, model, optimizer
// and random state continues with exactly the losses of an uninterrupted one.
//
// Each step: forward, softmax cross-entropy (+ the model's regularisers), backward, a finiteness
// check naming the step, global-norm clipping, the optimizer update at the scheduled rate.
//
// Micro-batches: with `microBatch` below the batch size, a step runs the batch's rows in blocks
// (src/train/memory.ts chooses the size), each block's loss weighted by its rows / the batch's, so
// the accumulated gradients are the whole batch's mean-loss gradients (up to float32 summation
// order); clipping and the optimizer step happen once per batch (EGRU's clip inside backward too:
// the blocks form one gradient group, see hooks.ts). The activity regulariser, not
// linear in the batch, then first runs a forward over every block for the batch's event rate (same
// masks: the random state is restored after it). Each block draws its own dropout, zoneout and
// DropConnect masks from the model's stream in turn, so with masks on the random numbers differ from
// a whole-batch step's (same distributions, except that DropConnect is drawn per block, not per batch).

import { blocksInGradGroup, LayerSums, type LoopOptions, type RunHooks, type StepFigures } from "./hooks.js";
import type { ResumeShape } from "./hooks.js";
import {
  applyGradients,
  atStep,
  checkLoss,
  type BatchPart,
  type ClassifierRun,
  eventSums,
  learningRate,
  type Optimizer,
  Rng,
  type SequenceClassifier,
  softmaxCrossEntropy,
} from "egru";
import type { CellRun, MacCount, ThresholdBatch, WatchVerdict } from "egru";
import { ValidationWatch, ValueError } from "egru";
import { DeadLayerWatch } from "./dead-layers.js";
import { blockRows, rowBlocks } from "./memory.js";
import type { ClassificationTask, SplitName } from "./task.js";

export type TrainerOptions = LoopOptions;

/** Where a run is: the next batch to train is `batch` of epoch `epoch`; `step` updates so far. */
export interface TrainPosition {
  epoch: number;
  batch: number;
  step: number;
}

export interface StepInfo extends TrainPosition, StepFigures {
  batches: number;
  loss: number;
  /** This batch's accuracy. */
  accuracy: number;
  /** Mean loss and accuracy over the epoch so far. */
  epochLoss: number;
  epochAccuracy: number;
  activitySparsity: number;
}

export interface EvalResult {
  split: SplitName;
  count: number;
  loss: number;
  accuracy: number;
  /** Over the EGRU layers' outputs (0 for GRU/LSTM); backward sparsity likewise, on c (egru's) and on h (the paper's). */
  activitySparsity: number;
  backwardSparsity: number;
  paperBackwardSparsity: number;
  /** Forward multiply-accumulates per example: executed and what dense layers would execute. */
  macsPerExample: MacCount;
  /** The paper's effective MACs per example: the dense count × the fraction of active units (1 − activitySparsity). */
  paperEffectiveMacsPerExample: number;
  /** Per layer: activity sparsity. */
  layerSparsity: number[];
}

export interface EpochInfo {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valid: EvalResult | null;
  /** What this validation meant for the plateau schedule and early stopping (null: no validation). */
  verdict: WatchVerdict | null;
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
  /** Validation accuracy across epochs: the plateau schedule's decays and early stopping. */
  readonly watch: ValidationWatch;
  /** When early stopping ended the run: the epochs completed and the best one (from the watch, at an epoch's end). */
  get stoppedEarly(): { epoch: number; bestEpoch: number } | null {
    return this.position.batch === 0 ? this.watch.stoppedAfter(this.position.epoch) : null;
  }
  /** EGRU layers silent for options.deadLayerSteps steps in a row (train/dead-layers.ts). */
  readonly deadLayers: DeadLayerWatch;

  constructor(model: SequenceClassifier, task: ClassificationTask, optimizer: Optimizer, options: TrainerOptions) {
    this.model = model;
    this.task = task;
    this.optimizer = optimizer;
    this.options = options;
    this.watch = new ValidationWatch("max", options.earlyStop ?? 0);
    this.deadLayers = new DeadLayerWatch(options.deadLayerSteps ?? 0, model.cells);
    if ((this.watch.earlyStop > 0 || options.schedule.kind === "plateau") && task.count("valid") === 0)
      throw new ValueError(
        this.watch.earlyStop > 0 ? "earlyStop" : "schedule.kind",
        "validation examples to watch (set validation > 0)",
        this.watch.earlyStop > 0 ? String(this.watch.earlyStop) : '"plateau" with validation 0',
      );
  }

  /** What a resumed position must fit (run/checkpoint-state.ts). */
  resumeShape(): ResumeShape {
    const o = this.options;
    const examples = this.task.count("train");
    return {
      kind: "classifier",
      epochs: o.epochs,
      batches: this.batchesPerEpoch,
      batchSize: o.batchSize,
      examples,
      layers: this.model.cells.length,
    };
  }

  /**
   * What a data-dependent threshold init measures (egru's initThresholdsFromData): the first `count`
   * batches of the first epoch's order, each cut to what a training block holds and to at most
   * 65,536 (step, example) positions (sMNIST: 84 sequences of 784 steps).
   */
  thresholdBatches(count = 4): ThresholdBatch[] {
    const { batchSize, microBatch } = this.options;
    const T = this.task.T;
    const rows = Math.min(batchSize, microBatch ?? batchSize, Math.ceil(65_536 / T));
    const order = this.epochOrder(0);
    const out: ThresholdBatch[] = [];
    for (let k = 0; k < count && k * batchSize < order.length; k++) {
      const idx = order.subarray(k * batchSize, Math.min(k * batchSize + rows, order.length));
      out.push({ x: this.task.batch("train", idx, k).x, T, B: idx.length });
    }
    return out;
  }

  /** Batches per training epoch (the last one may be smaller). */
  get batchesPerEpoch(): number {
    return Math.ceil(this.task.count("train") / this.options.batchSize);
  }

  private order: { epoch: number; perm: Int32Array } | null = null;

  /** The training order of an epoch: a permutation drawn from that epoch's own seeded stream. */
  epochOrder(epoch: number): Int32Array {
    if (this.order?.epoch !== epoch) {
      this.order = {
        epoch,
        perm: new Rng(this.options.seed * 1_000_003 + 7919 * (epoch + 1)).permutation(this.task.count("train")),
      };
    }
    return this.order.perm;
  }

  /** Train from the current position to the end, or until hooks.stop() says so. */
  run(hooks: TrainerHooks = {}): "done" | "stopped" {
    const { epochs, batchSize } = this.options;
    const nb = this.batchesPerEpoch;
    while (this.position.epoch < epochs) {
      if (this.stoppedEarly) return "done"; // resumed from the checkpoint saved when early stopping ended the run
      const order = this.epochOrder(this.position.epoch);
      while (this.position.batch < nb) {
        const b0 = this.position.batch * batchSize;
        const info = this.trainStep(order.subarray(b0, Math.min(b0 + batchSize, order.length)), nb);
        hooks.onStep?.(info);
        if (hooks.stop?.(this.position)) return "stopped";
      }
      const valid = this.task.count("valid") > 0 ? this.evaluate("valid") : null;
      const s = this.sums;
      const epoch = this.position.epoch;
      const verdict = valid ? this.watch.observe(valid.accuracy, epoch + 1, this.options.schedule) : null;
      hooks.onEpoch?.({ epoch, trainLoss: s.loss / s.seen, trainAccuracy: s.correct / s.seen, valid, verdict });
      this.position = { epoch: epoch + 1, batch: 0, step: this.position.step };
      this.sums = { loss: 0, correct: 0, seen: 0 };
      if (verdict?.stop) return "done";
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
    const lr = learningRate(options.lr, options.schedule, pos.epoch, pos.step, options.epochs, this.watch.state.decays);
    model.train();
    const where = `step ${pos.step + 1} (epoch ${pos.epoch + 1}, batch ${pos.batch + 1})`;
    const blocks = rowBlocks(B, options.microBatch ?? B);
    const activityMeans =
      blocks.length > 1 && model.options.activityWeight > 0 ? this.batchEventRates(x, B, blocks, where) : undefined;
    model.zeroGrad();
    let loss = 0;
    let correct = 0;
    let ceSum = 0;
    const macs: MacCount = { executed: 0, dense: 0 };
    const stats: CellRun["stats"][] = [];
    const layers = new LayerSums();
    const { clipFactors } = blocksInGradGroup(model.cells, blocks.length, () => {
      for (const [r0, r1] of blocks) {
        const b = r1 - r0;
        const scale = blocks.length === 1 ? 1 : b / B;
        const run = this.guardedForward(blocks.length === 1 ? x : blockRows(x, task.T, B, task.I, r0, r1), b, where, {
          scale,
          activityMeans,
        });
        const ce = softmaxCrossEntropy(run.logits, labels.subarray(r0, r1), task.classes);
        const blockLoss = ce.loss * scale + run.regLoss;
        if (!Number.isFinite(blockLoss)) model.release(run);
        checkLoss(blockLoss, where);
        if (scale !== 1) for (let k = 0; k < ce.dlogits.length; k++) ce.dlogits[k] *= scale;
        const head = model.backward(run, ce.dlogits);
        loss += blockLoss;
        correct += ce.correct;
        ceSum += ce.loss * b;
        macs.executed +=
          run.head.macs.executed + head.head.executed + run.frontEndMacs.executed + head.frontEnd.executed;
        macs.dense += run.head.macs.dense + head.head.dense + run.frontEndMacs.dense + head.frontEnd.dense;
        for (const l of run.layers) {
          macs.executed += l.forwardMacs.executed + l.backwardMacs.executed;
          macs.dense += l.forwardMacs.dense + l.backwardMacs.dense;
        }
        stats.push(...run.runs.map((r) => r.stats));
        layers.add(run.layers, scale);
        model.release(run);
      }
    });
    const gradNorm = applyGradients(model.params(), {
      optimizer,
      lr,
      clip: options.clip,
      where,
      kernels: model.kernels,
    });
    const sparsity = meanSparsity(stats);
    const figures = layers.figures(model.cells, clipFactors);
    const deadLayerWarnings = this.deadLayers.observe(pos.step + 1, figures.layerEvents);
    this.sums.loss += ceSum;
    this.sums.correct += correct;
    this.sums.seen += B;
    this.position = { epoch: pos.epoch, batch: pos.batch + 1, step: pos.step + 1 };
    return {
      ...this.position,
      batches,
      loss,
      accuracy: correct / B,
      epochLoss: this.sums.loss / this.sums.seen,
      epochAccuracy: this.sums.correct / this.sums.seen,
      activitySparsity: sparsity,
      ...figures,
      deadLayerWarnings,
      lr,
      gradNorm,
      macs,
    };
  }

  /** A training forward of b rows; a NaN or Infinity found in a weight is reported at `where`. */
  private guardedForward(x: Float32Array, b: number, where: string, part: BatchPart): ClassifierRun {
    return atStep(where, () => this.model.forward(x, this.task.T, b, part));
  }

  /**
   * Per layer, the event rate mean(o) over the whole batch x [T, B, I], from a forward of each block
   * (training mode); the model's random state is put back after, so the step draws the same masks.
   */
  private batchEventRates(x: Float32Array, B: number, blocks: [number, number][], where: string): number[] {
    const { model, task } = this;
    const rng = model.rng.getState();
    let sums: number[] = [];
    let entries: number[] = [];
    for (const [r0, r1] of blocks) {
      const run = this.guardedForward(blockRows(x, task.T, B, task.I, r0, r1), r1 - r0, where, { scale: 1 });
      const e = eventSums(run);
      sums = e.sums.map((v, l) => (sums[l] ?? 0) + v);
      entries = e.entries.map((v, l) => (entries[l] ?? 0) + v);
      model.release(run);
    }
    model.rng.setState(rng);
    return sums.map((v, l) => (entries[l] ? v / entries[l] : 0));
  }

  /** Loss, accuracy, sparsity and MACs of the model (evaluation mode) on a split. */
  evaluate(split: SplitName, onBatch?: (done: number, total: number) => void): EvalResult {
    const { model, task } = this;
    const n = task.count(split);
    const bs = Math.min(this.options.evalBatchSize, this.options.evalMicroBatch ?? Infinity);
    model.eval();
    let loss = 0;
    let correct = 0;
    let zeros = 0;
    let outside = 0;
    let outsideH = 0;
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
        outsideH += r.stats.paperBackwardSparsity * r.stats.entries;
        entries += r.stats.entries;
        layerZeros[l] += r.stats.activitySparsity * r.stats.entries;
        layerEntries[l] += r.stats.entries;
      });
      model.release(run);
      onBatch?.(Math.min(b0 + bs, n), n);
    }
    model.train();
    const activitySparsity = entries ? zeros / entries : 0;
    return {
      split,
      count: n,
      loss: loss / n,
      accuracy: correct / n,
      activitySparsity,
      backwardSparsity: entries ? outside / entries : 0,
      paperBackwardSparsity: entries ? outsideH / entries : 0,
      macsPerExample: { executed: macs.executed / n, dense: macs.dense / n },
      paperEffectiveMacsPerExample: (macs.dense / n) * (1 - activitySparsity),
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
