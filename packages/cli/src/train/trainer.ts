// The training loop for sequence classification (isomorphic: no files, no clocks but the one it is
// given). Seeded and deterministic: the batch order of epoch e comes from its own seeded stream, the
// model's masks from the model's stream, so a run restarted from a saved position, model, optimizer
// and random state continues with exactly the losses of an uninterrupted one.
//
// Each step: forward, softmax cross-entropy (+ the model's regularisers), backward, a finiteness
// check naming the step, global-norm clipping, the optimizer update at the scheduled rate.
//
// Micro-batches: with `microBatch` below the batch size, a step runs the batch's rows in blocks
// (src/train/memory.ts and build.ts choose the size: with "auto", what the memory fits and at most
// CLASSIFIER_BLOCK_ROWS, whatever the thread count), each block's loss weighted by its rows / the batch's, so the blocks' gradients add up to
// the whole batch's mean-loss gradients (up to float32 summation order); clipping and the optimizer
// step happen once per batch (EGRU's clip inside backward too: the blocks form one gradient group,
// see hooks.ts). Every block's gradients start from zero and are summed in block order
// (grad-sum.ts); every block has its own random state, one seed per block drawn from the model's
// stream (classifier-block.ts), so the masks do not depend on the order blocks run in. With
// replicas (node/replica-pool.ts), the blocks run on several threads at once and give the same bits
// as on one thread with the same micro-batch. The activity regulariser, not linear in the batch,
// first runs a forward over every block for the batch's event rate (with the blocks' random states).
// Dropout masks are drawn per block, not per batch (same distributions; DropConnect per block too).

import { clipsInsideBackward, LayerSums, type LoopOptions, type RunHooks, type StepFigures } from "./hooks.js";
import type { ResumeShape } from "./hooks.js";
import { applyGradients, learningRate, type Optimizer, Rng, type RngState, type SequenceClassifier } from "egru";
import type { MacCount, ThresholdBatch, WatchVerdict } from "egru";
import { StateError, ValidationWatch, ValueError } from "egru";
import { type BlockOutcome, blockEvents, blockSeeds, blockStep, evalBatch } from "./classifier-block.js";
import { DeadLayerWatch } from "./dead-layers.js";
import { blockRows, rowBlocks } from "./memory.js";
import { inWaves, LOCAL_GRADS, type ReplicaResult, type Replicas, stepInBlocks } from "./replicas.js";
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
  /**
   * Replicas of the model on other threads (node/replica-pool.ts) that run a step's row blocks and
   * evaluation batches besides this thread; null: everything here. Results are the same bits either way.
   */
  replicas: Replicas | null = null;

  constructor(model: SequenceClassifier, task: ClassificationTask, optimizer: Optimizer, options: TrainerOptions) {
    this.model = model;
    this.task = task;
    this.optimizer = optimizer;
    this.options = options;
    this.watch = new ValidationWatch("max", options.earlyStop ?? 0, options.minImprovement ?? 0);
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
    const held: Float32Array[] = [];
    try {
      const batch = this.task.batch("train", indices, this.position.step, this.inputAlloc(indices.length, held));
      return this.stepOn(batch.x, batch.labels, batches);
    } finally {
      for (const a of held) this.model.kernels.free?.(a);
    }
  }

  /**
   * Where a training batch of B rows is made: in the kernels' memory where the whole batch runs as
   * one block and the memory has room (the first layer then reads it in place instead of staging a
   * copy), each array pushed to `held` to be handed back after the step; else ordinary arrays.
   */
  private inputAlloc(B: number, held: Float32Array[]): ((n: number) => Float32Array) | undefined {
    const k = this.model.kernels;
    const { alloc, free } = k;
    if (!alloc || !free || rowBlocks(B, this.options.microBatch ?? B).length !== 1) return undefined;
    return (n) => {
      try {
        const a = alloc.call(k, n);
        held.push(a);
        return a;
      } catch (e) {
        if (e instanceof StateError) return new Float32Array(n);
        throw e;
      }
    };
  }

  /** trainStep on a batch made. */
  private stepOn(x: Float32Array, labels: Uint8Array, batches: number): StepInfo {
    const { model, task, optimizer, options } = this;
    const B = labels.length;
    const pos = this.position;
    const lr = learningRate(options.lr, options.schedule, pos.epoch, pos.step, options.epochs, this.watch.state.decays);
    model.train();
    const where = `step ${pos.step + 1} (epoch ${pos.epoch + 1}, batch ${pos.batch + 1})`;
    const blocks = rowBlocks(B, options.microBatch ?? B);
    let outcomes: BlockOutcome[];
    let clipFactors: number[] | null = null;
    if (blocks.length === 1) {
      outcomes = [blockStep(model, x, labels, task.T, { scale: 1 }, where, null)];
    } else {
      const seeds = blockSeeds(model.rng, blocks.length);
      const after = model.rng.getState();
      const rows = (k: number): Float32Array => blockRows(x, task.T, B, task.I, blocks[k][0], blocks[k][1]);
      const activityMeans =
        model.options.activityWeight > 0 ? this.batchEventRates(rows, blocks, seeds, where) : undefined;
      const group = clipsInsideBackward(model.cells); // a replica's block then returns its group sums
      const grouped = stepInBlocks(
        this.replicas,
        model,
        blocks.length,
        (k) => {
          const [r0, r1] = blocks[k];
          const part = { scale: (r1 - r0) / B, activityMeans };
          const x = rows(k);
          return { kind: "step", x, labels: labels.subarray(r0, r1), T: task.T, part, where, rng: seeds[k], group };
        },
        (job): Extract<ReplicaResult, { kind: "step" }> => {
          if (job.kind !== "step") throw new Error("unreachable");
          const outcome = blockStep(model, job.x, job.labels, job.T, job.part, job.where, job.rng);
          return { kind: "step", outcome, grads: LOCAL_GRADS, groups: null };
        },
      );
      clipFactors = grouped.clipFactors;
      outcomes = grouped.result.map((r) => r.outcome);
      model.rng.setState(after);
    }
    const gradNorm = applyGradients(model.params(), {
      optimizer,
      lr,
      clip: options.clip,
      where,
      kernels: model.kernels,
    });
    let loss = 0;
    let correct = 0;
    let ceSum = 0;
    const macs: MacCount = { executed: 0, dense: 0 };
    const layers = new LayerSums();
    outcomes.forEach((o, k) => {
      loss += o.loss;
      correct += o.correct;
      ceSum += o.ceSum;
      macs.executed += o.macs.executed;
      macs.dense += o.macs.dense;
      layers.add(o.layers, blocks.length === 1 ? 1 : (blocks[k][1] - blocks[k][0]) / B);
    });
    const sparsity = meanSparsity(outcomes.flatMap((o) => o.stats));
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

  /**
   * Per layer, the event rate mean(o) over the whole batch, from a training forward of each block
   * with that block's random state (the step's blocks then draw the same masks).
   */
  private batchEventRates(
    rows: (k: number) => Float32Array,
    blocks: [number, number][],
    seeds: RngState[],
    where: string,
  ): number[] {
    const { model, task } = this;
    let sums: number[] = [];
    let entries: number[] = [];
    const results = inWaves(
      this.replicas,
      model.params(),
      blocks.length,
      (k) => ({ kind: "events", x: rows(k), T: task.T, b: blocks[k][1] - blocks[k][0], where, rng: seeds[k] }),
      (job) => {
        if (job.kind !== "events") throw new Error("unreachable");
        return { kind: "events", ...blockEvents(model, job.x, job.T, job.b, job.where, job.rng) };
      },
    );
    for (const e of results) {
      if (e.kind !== "events") continue;
      sums = e.sums.map((v, l) => (sums[l] ?? 0) + v);
      entries = e.entries.map((v, l) => (entries[l] ?? 0) + v);
    }
    return sums.map((v, l) => (entries[l] ? v / entries[l] : 0));
  }

  /** Loss, accuracy, sparsity and MACs of the model (evaluation mode) on a split. */
  evaluate(split: SplitName, onBatch?: (done: number, total: number) => void): EvalResult {
    const { model, task } = this;
    const n = task.count(split);
    const bs = Math.min(this.options.evalBatchSize, this.options.evalMicroBatch ?? Infinity);
    let loss = 0;
    let correct = 0;
    let zeros = 0;
    let outside = 0;
    let outsideH = 0;
    let entries = 0;
    const macs: MacCount = { executed: 0, dense: 0 };
    let layerZeros: number[] = [];
    let layerEntries: number[] = [];
    const batches = Math.ceil(n / bs);
    let seen = 0;
    try {
      inWaves(
        this.replicas,
        model.params(),
        batches,
        (k) => {
          const b0 = k * bs;
          const idx = Int32Array.from({ length: Math.min(bs, n - b0) }, (_, i) => b0 + i);
          const { x, labels } = task.batch(split, idx);
          return { kind: "eval", x, labels, T: task.T };
        },
        (job) => {
          if (job.kind !== "eval") throw new Error("unreachable");
          return { kind: "eval", outcome: evalBatch(model, job.x, job.labels, job.T) };
        },
        () => {},
      ).forEach((r) => {
        if (r.kind !== "eval") return;
        const o = r.outcome;
        loss += o.ceSum;
        correct += o.correct;
        macs.executed += o.macs.executed;
        macs.dense += o.macs.dense;
        if (layerZeros.length === 0) {
          layerZeros = o.layers.map(() => 0);
          layerEntries = o.layers.map(() => 0);
        }
        o.layers.forEach((s, l) => {
          if (!s) return;
          zeros += s.activitySparsity * s.entries;
          outside += s.backwardSparsity * s.entries;
          outsideH += s.paperBackwardSparsity * s.entries;
          entries += s.entries;
          layerZeros[l] += s.activitySparsity * s.entries;
          layerEntries[l] += s.entries;
        });
        seen = Math.min(seen + bs, n);
        onBatch?.(seen, n);
      });
    } finally {
      model.train();
    }
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
