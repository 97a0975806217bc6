// The training loop of the word-level language model (isomorphic: no files, no clocks). As the
// paper's LM code (docs/paper-setups.md#language-model-setup): the training split is batchified into B streams walked in segments
// of the AWD random BPTT length, the learning rate of the default group scaled by T/bptt, the
// state carried from segment to segment (detached), global-norm clipping, and evaluation that walks
// a split's streams in bptt-long segments carrying the state (the test at batch size 1).
//
// Micro-batches: with `microBatch` below the batch size, a step (and an evaluation segment) runs
// the streams in row blocks, each from its rows of the carried state, each block's loss weighted by
// its rows / the batch's, so the accumulated gradients are the whole batch's (up to float32
// summation order); one clipped optimizer step per segment (and EGRU's clip inside backward acts once
// on the segment's gradient: the blocks form one gradient group, see hooks.ts). With "step" dropout masks and no
// zoneout every mask (word dropout, the per-step masks, DropConnect) is shared by the whole batch,
// and each block starts from the same random state, so the blocks use exactly the whole batch's
// masks; otherwise ("locked" masks, zoneout) each block draws its own masks in turn. The GRU and
// LSTM models' AR/TAR terms are weighted like the loss (a block's share) and reported apart from it:
// a step's `loss` is the cross-entropy, its `ar` and `tar` the terms added for the gradients.
//
// Deterministic: the BPTT lengths come from the trainer's own seeded stream and the masks from the
// model's, so a run restarted from a saved position, carried state, model, optimizer and both
// random states continues with exactly the losses of an uninterrupted one.

import { clipsInsideBackward, LayerSums } from "./hooks.js";
import type { LoopOptions, ResumeShape, RunHooks, StepFigures } from "./hooks.js";
import {
  applyGradients,
  batchify,
  crossEntropySum,
  learningRate,
  type Optimizer,
  randomBpttLength,
  Rng,
  type RngState,
  type Segment,
  segment,
  type Streams,
} from "egru";
import type { LanguageModel, LmRun, LmState, MacCount, ThresholdBatch, WatchVerdict } from "egru";
import { ValidationWatch } from "egru";
import { blockSeeds } from "./classifier-block.js";
import { DeadLayerWatch } from "./dead-layers.js";
import { type LmBlockOutcome, lmBlockStep } from "./lm-block.js";
import { blockRows, rowBlocks } from "./memory.js";
import { LOCAL_GRADS, type ReplicaResult, type Replicas, stepInBlocks } from "./replicas.js";

export type LmSplit = "train" | "valid" | "test";

export interface LmTrainerOptions extends LoopOptions {
  bptt: number;
  /** AWD's random segment lengths (and learning-rate rescaling); false = every segment bptt long. */
  randomBptt: boolean;
}

/** The next segment starts at `row` of the streams in epoch `epoch`; `step` updates so far. */
export interface LmPosition {
  epoch: number;
  row: number;
  step: number;
}

export interface LmStepInfo extends LmPosition, StepFigures {
  /** Rows of the training streams (the epoch ends at rows − 1). */
  rows: number;
  T: number;
  /** Cross-entropy of the segment (without AR/TAR). */
  loss: number;
  /** When the model has AR/TAR (arWeight or tarWeight > 0): the two terms added to the loss for the gradients. */
  ar?: number;
  tar?: number;
  /** Token-weighted mean loss of the epoch so far. */
  epochLoss: number;
  tokens: number;
}

export interface LmEvalResult {
  split: LmSplit;
  batchSize: number;
  tokens: number;
  loss: number;
  perplexity: number;
  /** Over every layer's outputs (EGRU: the fraction that are 0; GRU/LSTM: 0). */
  activitySparsity: number;
  /** Backward sparsity on c (egru's) and on h (the paper's, as EvNN's LM code measures it). */
  backwardSparsity: number;
  paperBackwardSparsity: number;
  layerSparsity: number[];
  layerBackwardSparsity: number[];
  layerPaperBackwardSparsity: number[];
  /** Forward multiply-accumulates per token, layers and decoder: executed and dense. */
  macsPerToken: MacCount;
  /** The paper's effective MACs per token: the dense count × the fraction of active units (1 − activitySparsity). */
  paperEffectiveMacsPerToken: number;
}

export interface LmEpochInfo {
  epoch: number;
  trainLoss: number;
  valid: LmEvalResult;
  /** What this validation meant for the plateau schedule and early stopping. */
  verdict: WatchVerdict;
}

export type LmTrainerHooks = RunHooks<LmStepInfo, LmEpochInfo, LmPosition>;

/** Token-weighted loss sums of the epoch in progress (saved in checkpoints). */
export interface LmSums {
  loss: number;
  tokens: number;
}

export class LmTrainer {
  readonly model: LanguageModel;
  readonly optimizer: Optimizer;
  readonly options: LmTrainerOptions;
  readonly splits: Record<LmSplit, Int32Array>;
  readonly train: Streams;
  position: LmPosition = { epoch: 0, row: 0, step: 0 };
  sums: LmSums = { loss: 0, tokens: 0 };
  /** The state carried into the next training segment (null at an epoch's start). */
  hidden: LmState | null = null;
  /** The stream of random BPTT lengths. */
  readonly bpttRng: Rng;
  /** Validation perplexity across epochs: the plateau schedule's decays and early stopping. */
  readonly watch: ValidationWatch;
  /** When early stopping ended the run: the epochs completed and the best one (from the watch, at an epoch's end). */
  get stoppedEarly(): { epoch: number; bestEpoch: number } | null {
    return this.position.row === 0 ? this.watch.stoppedAfter(this.position.epoch) : null;
  }
  /** EGRU layers silent for options.deadLayerSteps steps in a row (train/dead-layers.ts). */
  readonly deadLayers: DeadLayerWatch;
  /**
   * Replicas of the model on other threads (node/replica-pool.ts) that run a step's row blocks
   * besides this thread; null: everything here. Results are the same bits either way.
   */
  replicas: Replicas | null = null;

  constructor(
    model: LanguageModel,
    splits: Record<LmSplit, Int32Array>,
    optimizer: Optimizer,
    options: LmTrainerOptions,
  ) {
    this.model = model;
    this.splits = splits;
    this.optimizer = optimizer;
    this.options = options;
    this.train = batchify(splits.train, options.batchSize);
    this.bpttRng = new Rng(options.seed * 7_919 + 104_729);
    this.watch = new ValidationWatch("min", options.earlyStop ?? 0, options.minImprovement ?? 0);
    this.deadLayers = new DeadLayerWatch(options.deadLayerSteps ?? 0, model.cells);
  }

  /** What a resumed position and carried state must fit (run/checkpoint-state.ts). */
  resumeShape(): ResumeShape {
    const B = this.train.B;
    return {
      kind: "lm",
      epochs: this.options.epochs,
      rows: this.rows,
      streams: B,
      zeroState: this.model.zeroState(B),
      layers: this.model.cells.length,
    };
  }

  /**
   * What a data-dependent threshold init measures (egru's initThresholdsFromData): the first `count`
   * training segments, bptt long from row 0, of the first streams (as many as a training block holds).
   */
  thresholdBatches(count = 8): ThresholdBatch[] {
    const B = this.train.B;
    const rows = Math.min(B, this.options.microBatch ?? B);
    const out: ThresholdBatch[] = [];
    for (let row = 0; out.length < count && row < this.rows - 1; ) {
      const seg = segment(this.train, row, this.options.bptt);
      out.push({ tokens: rows === B ? seg.input : blockRows(seg.input, seg.T, B, 1, 0, rows), T: seg.T, B: rows });
      row += seg.T;
    }
    return out;
  }

  /** Rows of the training streams; an epoch's segments start at rows 0 … rows − 2. */
  get rows(): number {
    return this.train.length;
  }

  /** Train from the current position to the end, or until hooks.stop() says so. */
  run(hooks: LmTrainerHooks = {}): "done" | "stopped" {
    const { epochs } = this.options;
    while (this.position.epoch < epochs) {
      if (this.stoppedEarly) return "done"; // resumed from the checkpoint saved when early stopping ended the run
      while (this.position.row < this.rows - 1) {
        const info = this.trainStep(); // (not inside onStep?.(…): that skips the call when there is no hook)
        hooks.onStep?.(info);
        if (hooks.stop?.(this.position)) return "stopped";
      }
      const valid = this.evaluate("valid", this.options.evalBatchSize);
      const epoch = this.position.epoch;
      const verdict = this.watch.observe(valid.perplexity, epoch + 1, this.options.schedule);
      hooks.onEpoch?.({ epoch, trainLoss: this.sums.loss / this.sums.tokens, valid, verdict });
      this.position = { epoch: epoch + 1, row: 0, step: this.position.step };
      this.sums = { loss: 0, tokens: 0 };
      this.hidden = null;
      if (verdict.stop) return "done";
      if (hooks.stop?.(this.position)) return this.position.epoch < epochs ? "stopped" : "done";
    }
    return "done";
  }

  /** One optimizer step on the next training segment. */
  trainStep(): LmStepInfo {
    const { model, optimizer, options } = this;
    const pos = this.position;
    const nominal = options.randomBptt ? randomBpttLength(this.bpttRng, options.bptt) : options.bptt;
    const seg = segment(this.train, pos.row, nominal);
    const B = this.train.B;
    const base = learningRate(
      options.lr,
      options.schedule,
      pos.epoch,
      pos.step,
      options.epochs,
      this.watch.state.decays,
    );
    const lr = options.randomBptt ? (base * seg.T) / options.bptt : base;
    const where = `step ${pos.step + 1} (epoch ${pos.epoch + 1}, row ${pos.row})`;
    model.train();
    const blocks = rowBlocks(B, options.microBatch ?? B);
    const n = blocks.length;
    let outcomes: LmBlockOutcome[];
    let hidden: LmState;
    let clipFactors: number[] | null = null;
    if (n === 1) {
      const r = lmBlockStep(model, seg.input, seg.target, seg.T, this.hidden, 1, where, null);
      outcomes = [r.outcome];
      hidden = r.state;
    } else {
      // "step" masks and no zoneout: every block starts from the same random state (the batch's masks);
      // otherwise each block from its own seed. After the step the stream stands where block 0 left it
      // (shared masks: every block draws as many numbers), or after the seeds.
      const shared = model.options.dropoutMask === "step" && !((model.options.zoneout ?? 0) > 0);
      const seeds = shared ? null : blockSeeds(model.rng, n);
      const start = shared ? model.rng.getState() : null;
      let after: RngState | null = shared ? null : model.rng.getState();
      const group = clipsInsideBackward(model.cells); // a replica's block then returns its group sums
      const carried = this.hidden;
      const grouped = stepInBlocks(
        this.replicas,
        model,
        n,
        (k) => {
          const [r0, r1] = blocks[k];
          return {
            kind: "lm-step",
            input: blockRows(seg.input, seg.T, B, 1, r0, r1),
            target: blockRows(seg.target, seg.T, B, 1, r0, r1),
            T: seg.T,
            state: carried ? stateRows(carried, B, r0, r1) : null,
            scale: (r1 - r0) / B,
            where,
            rng: seeds ? seeds[k] : start,
            group,
          };
        },
        (job): Extract<ReplicaResult, { kind: "lm-step" }> => {
          if (job.kind !== "lm-step") throw new Error("unreachable");
          const r = lmBlockStep(model, job.input, job.target, job.T, job.state, job.scale, job.where, job.rng);
          after ??= model.rng.getState();
          // (the run's state may be a view of memory the next block's run reuses: copied now)
          const state = r.state.map((layer) => layer.map((a) => a.slice()));
          return { kind: "lm-step", outcome: r.outcome, state, grads: LOCAL_GRADS, groups: null };
        },
      );
      clipFactors = grouped.clipFactors;
      if (after) model.rng.setState(after);
      const next = model.zeroState(B);
      outcomes = grouped.result.map((r, k) => {
        const [r0, r1] = blocks[k];
        r.state.forEach((layer, l) => layer.forEach((a, c) => next[l][c].set(a, r0 * (a.length / (r1 - r0)))));
        return r.outcome;
      });
      hidden = next;
    }
    let loss = 0;
    const reg = { ar: 0, tar: 0 };
    const macs: MacCount = { executed: 0, dense: 0 };
    const layers = new LayerSums();
    outcomes.forEach((o, k) => {
      loss += o.loss;
      reg.ar += o.ar;
      reg.tar += o.tar;
      macs.executed += o.macs.executed;
      macs.dense += o.macs.dense;
      layers.add(o.layers, n === 1 ? 1 : (blocks[k][1] - blocks[k][0]) / B);
    });
    const gradNorm = applyGradients(model.params(), {
      optimizer,
      lr,
      clip: options.clip,
      where,
      thresholdLr: base,
      kernels: model.kernels,
    });
    model.weightsChanged();
    this.hidden = hidden;
    const tokens = seg.T * B;
    const { arWeight, tarWeight } = model.options;
    const figures = layers.figures(model.cells, clipFactors);
    const deadLayerWarnings = this.deadLayers.observe(pos.step + 1, figures.layerEvents);
    this.sums.loss += loss * tokens;
    this.sums.tokens += tokens;
    this.position = { epoch: pos.epoch, row: pos.row + seg.T, step: pos.step + 1 };
    return {
      ...this.position,
      rows: this.rows,
      T: seg.T,
      loss,
      ...(arWeight > 0 || tarWeight > 0 ? reg : {}),
      epochLoss: this.sums.loss / this.sums.tokens,
      ...figures,
      deadLayerWarnings,
      lr,
      gradNorm,
      macs,
      tokens,
    };
  }

  /**
   * The evaluation forward of a segment of B streams in row blocks: each block [r0, r1) from its rows
   * of `state` (zeros when null), handed to `use` with its targets, then released. Returns the state
   * after the segment, all rows.
   */
  private forwardBlocks(
    seg: Segment,
    B: number,
    blocks: [number, number][],
    state: LmState | null,
    use: (run: LmRun, target: Int32Array) => void,
  ): LmState {
    const { model } = this;
    const whole = blocks.length === 1;
    let next: LmState | null = null;
    for (const [r0, r1] of blocks) {
      const run = model.forward(
        whole ? seg.input : blockRows(seg.input, seg.T, B, 1, r0, r1),
        seg.T,
        r1 - r0,
        state && !whole ? stateRows(state, B, r0, r1) : state,
        (r1 - r0) / B,
      );
      try {
        use(run, whole ? seg.target : blockRows(seg.target, seg.T, B, 1, r0, r1));
      } finally {
        model.release(run);
      }
      if (whole) return run.state;
      next ??= model.zeroState(B);
      run.state.forEach((layer, l) => layer.forEach((a, k) => next![l][k].set(a, r0 * (a.length / (r1 - r0)))));
    }
    return next!;
  }

  /**
   * Loss and perplexity of the model (evaluation mode) on a split, walked as `batchSize` streams in
   * bptt-long segments from a zero state, carrying the state between segments.
   */
  evaluate(split: LmSplit, batchSize: number, onProgress?: (done: number, total: number) => void): LmEvalResult {
    const { model } = this;
    const streams = batchify(this.splits[split], batchSize);
    const V = model.options.vocab;
    const L = model.cells.length;
    model.eval();
    let loss = 0;
    let tokens = 0;
    const zeros = new Array<number>(L).fill(0);
    const outside = new Array<number>(L).fill(0);
    const outsideH = new Array<number>(L).fill(0);
    const entries = new Array<number>(L).fill(0);
    const macs: MacCount = { executed: 0, dense: 0 };
    let state: LmState | null = null;
    const blocks = rowBlocks(batchSize, this.options.evalMicroBatch ?? batchSize);
    for (let i = 0; i < streams.length - 1; ) {
      const seg = segment(streams, i, this.options.bptt);
      state = this.forwardBlocks(seg, batchSize, blocks, state, (run, target) => {
        loss += crossEntropySum(run.logits, target, V, this.model.kernels);
        macs.executed += run.decoderMacs.executed;
        macs.dense += run.decoderMacs.dense;
        run.saved.runs.forEach((r, l) => {
          macs.executed += r.stats.executedMacs;
          macs.dense += r.stats.denseMacs;
          zeros[l] += r.stats.activitySparsity * r.stats.entries;
          outside[l] += r.stats.backwardSparsity * r.stats.entries;
          outsideH[l] += r.stats.paperBackwardSparsity * r.stats.entries;
          entries[l] += r.stats.entries;
        });
      });
      tokens += seg.T * batchSize;
      i += seg.T;
      onProgress?.(i, streams.length - 1);
    }
    model.train();
    const sum = (a: number[]): number => a.reduce((s, v) => s + v, 0);
    const mean = loss / tokens;
    const activitySparsity = sum(zeros) / sum(entries);
    return {
      split,
      batchSize,
      tokens,
      loss: mean,
      perplexity: Math.exp(mean),
      activitySparsity,
      backwardSparsity: sum(outside) / sum(entries),
      paperBackwardSparsity: sum(outsideH) / sum(entries),
      layerSparsity: zeros.map((z, l) => z / entries[l]),
      layerBackwardSparsity: outside.map((z, l) => z / entries[l]),
      layerPaperBackwardSparsity: outsideH.map((z, l) => z / entries[l]),
      macsPerToken: { executed: macs.executed / tokens, dense: macs.dense / tokens },
      paperEffectiveMacsPerToken: (macs.dense / tokens) * (1 - activitySparsity),
    };
  }
}

/** Rows [r0, r1) of a carried state (each component [B, size]): fresh [r1 − r0, size] copies. */
function stateRows(state: LmState, B: number, r0: number, r1: number): LmState {
  return state.map((layer) =>
    layer.map((a) => {
      const size = a.length / B;
      return a.slice(r0 * size, r1 * size);
    }),
  );
}
