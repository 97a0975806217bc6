// What the two training loops (trainer.ts, lm-trainer.ts) share: their common options, the figures
// every step reports, and the hooks through which they tell their caller what happens.

import type { MacCount, ScheduleConfig } from "egru";

export interface LoopOptions {
  epochs: number;
  batchSize: number;
  /** Batch size of the per-epoch validation. */
  evalBatchSize: number;
  lr: number;
  /** Global gradient-norm limit; 0 = no clipping. */
  clip: number;
  schedule: ScheduleConfig;
  seed: number;
  /** Rows (examples or streams) per forward and backward of a training step (default: all) and of an evaluation. */
  microBatch?: number;
  evalMicroBatch?: number;
}

/** The figures of one optimizer step that both loops report. */
export interface StepFigures {
  /** Per layer: activity sparsity and backward sparsity of this step (0 for GRU/LSTM layers). */
  layerSparsity: number[];
  layerBackwardSparsity: number[];
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
