// What the two training loops (trainer.ts, lm-trainer.ts) share: their common options, the figures
// every step reports (and their sums over a step's row blocks; the events per layer feed the
// dead-layer watch of dead-layers.ts), a step's row blocks inside one gradient group, and the hooks
// through which they tell their caller what happens.

import { beginGradGroups, endGradGroups, type LayerReport, type MacCount, type ScheduleConfig } from "egru";
import type { SequenceCell } from "egru";
import type { DeadLayerWarning } from "./dead-layers.js";

export interface LoopOptions {
  epochs: number;
  batchSize: number;
  /** Batch size of the per-epoch validation. */
  evalBatchSize: number;
  lr: number;
  /** Global gradient-norm limit; 0 = no clipping. */
  clip: number;
  schedule: ScheduleConfig;
  /** Stop once validation has not improved for this many epochs (0: never). */
  earlyStop?: number;
  /** Validation improves only when better than the best by more than this fraction (0 or absent: any gain). */
  minImprovement?: number;
  seed: number;
  /** Warn when an EGRU layer has emitted no event for this many training steps in a row (0 or absent: never; train/dead-layers.ts). */
  deadLayerSteps?: number;
  /** Rows (examples or streams) per forward and backward of a training step (default: all) and of an evaluation. */
  microBatch?: number;
  evalMicroBatch?: number;
}

/** The figures of one optimizer step that both loops report. */
export interface StepFigures {
  /** Per layer: activity sparsity and backward sparsity of this step, on c (egru's) and on h (the paper's); 0 for GRU/LSTM layers. */
  layerSparsity: number[];
  layerBackwardSparsity: number[];
  layerPaperBackwardSparsity: number[];
  /** Per layer: the events of this step (0 for GRU/LSTM layers). */
  layerEvents: number[];
  /** The dead-layer warnings this step gave (train/dead-layers.ts); usually none. */
  deadLayerWarnings: DeadLayerWarning[];
  /** Per layer, when an EGRU layer clips inside its backward (gradClip > 0): the clip's factor this step (1: did not act). */
  layerClipScale?: number[];
  lr: number;
  gradNorm: number;
  /** Multiply-accumulates of this step, forward and backward: executed and dense. */
  macs: MacCount;
}

export interface RunHooks<Step, Epoch, Position> {
  /** After every optimizer step. */
  onStep?(info: Step): void;
  /** After each epoch's validation. */
  onEpoch?(info: Epoch): void;
  /** Asked after every step and epoch: true stops the run at that boundary (Ctrl-C, a checkpoint due). */
  stop?(position: Position): boolean;
}

/** A step's per-layer figures summed over its row blocks, each block's weighted by its share of the batch. */
export class LayerSums {
  private sparsity: number[] = [];
  private backward: number[] = [];
  private paperBackward: number[] = [];
  private events: number[] = [];
  private clip: number[] = [];

  add(layers: LayerReport[], scale: number): void {
    layers.forEach((l, k) => {
      this.sparsity[k] = (this.sparsity[k] ?? 0) + l.activitySparsity * scale;
      this.backward[k] = (this.backward[k] ?? 0) + l.backwardSparsity * scale;
      this.paperBackward[k] = (this.paperBackward[k] ?? 0) + l.paperBackwardSparsity * scale;
      this.events[k] = (this.events[k] ?? 0) + l.events;
      this.clip[k] = l.clipScale ?? 1;
    });
  }

  /** The step's per-layer figures; the clip's factors (`grouped`: a gradient group's) when a layer clips. */
  figures(
    cells: SequenceCell[],
    grouped: number[] | null,
  ): Pick<
    StepFigures,
    "layerSparsity" | "layerBackwardSparsity" | "layerPaperBackwardSparsity" | "layerEvents" | "layerClipScale"
  > {
    const clips = cells.some((c) => "gradClip" in c.layer && c.layer.gradClip > 0);
    return {
      layerSparsity: this.sparsity,
      layerBackwardSparsity: this.backward,
      layerPaperBackwardSparsity: this.paperBackward,
      layerEvents: this.events,
      ...(clips ? { layerClipScale: grouped ?? this.clip } : {}),
    };
  }
}

/**
 * Run a step's row blocks (`run`) inside a gradient group of the model's cells, so that EGRU's clip
 * inside backward acts once, on the whole batch's gradient, as it would on one backward of the
 * batch. Returns run's result and the group's clip factors per layer.
 */
export function inGradGroups<R>(cells: SequenceCell[], run: () => R): { result: R; clipFactors: number[] } {
  beginGradGroups(cells);
  let result: R;
  try {
    result = run();
  } catch (e) {
    endGradGroups(cells); // the step failed: close the groups so that the model stays usable
    throw e;
  }
  return { result, clipFactors: endGradGroups(cells) };
}

/** What a resumed position and the carried state must fit: the run's epochs and its data as the trainer sees them. */
export type ResumeShape = (
  | { kind: "classifier"; epochs: number; batches: number; batchSize: number; examples: number }
  | { kind: "lm"; epochs: number; rows: number; streams: number; zeroState: Float32Array[][] }
) & { /** The model's layers (the dead-layer watch's entries). */ layers: number };

/** Whether an EGRU layer clips inside its backward (a step's row blocks then form one gradient group). */
export function clipsInsideBackward(cells: SequenceCell[]): boolean {
  return cells.some((c) => "gradClip" in c.layer && c.layer.gradClip > 0);
}
