// Replicas of a classifier that run row blocks of a training step, or evaluation batches, on other
// threads (isomorphic: the interface; node/replica-pool.ts implements it with worker threads). The
// trainer hands each replica the model's current weights and a job, runs a block itself meanwhile,
// then collects the replicas' results in order; a replica runs the very functions the trainer runs
// (train/classifier-block.ts), so the bits do not depend on where a block ran.

import type { BatchPart, ClipGroupSums, MacCount, Param, RngState } from "egru";
import type { BlockOutcome } from "./classifier-block.js";

export type ReplicaJob =
  /**
   * A block's training forward and backward (classifier-block.ts blockStep); `group`: inside a
   * gradient group (EGRU's clip inside backward), whose unclipped sums come back with the result.
   */
  | {
      kind: "step";
      x: Float32Array;
      labels: Uint8Array;
      T: number;
      part: BatchPart;
      where: string;
      rng: RngState;
      group: boolean;
    }
  /** A block's training forward alone, for its event sums (blockEvents). */
  | { kind: "events"; x: Float32Array; T: number; b: number; where: string; rng: RngState }
  /** An evaluation batch (evalBatch). */
  | { kind: "eval"; x: Float32Array; labels: Uint8Array; T: number };

export type ReplicaResult =
  /**
   * grads: the block's gradients, flat in the model's parameter order (grad-sum.ts); groups: per
   * cell, its gradient group's sums (takeGradGroups) when the job asked for a group, else null.
   */
  | { kind: "step"; outcome: BlockOutcome; grads: Float32Array; groups: (ClipGroupSums | null)[] | null }
  | { kind: "events"; sums: number[]; entries: number[] }
  | { kind: "eval"; outcome: EvalBatchOutcome };

/** What an evaluation batch adds to an evaluation's sums. */
export interface EvalBatchOutcome {
  /** Summed cross-entropy over the batch's rows. */
  ceSum: number;
  correct: number;
  macs: MacCount;
  /** Per layer: null for GRU/LSTM, else the EGRU layer's sparsities and entries. */
  layers: ({
    activitySparsity: number;
    backwardSparsity: number;
    paperBackwardSparsity: number;
    entries: number;
  } | null)[];
}

export interface Replicas {
  /** How many jobs can run at once besides the calling thread's. */
  readonly count: number;
  /** Hand jobs[i] to replica i (at most count jobs), with the weights of `params` as they stand now. */
  start(params: Param[], jobs: ReplicaJob[]): void;
  /**
   * Wait for the started jobs and return their results in order. An error a replica raised is thrown
   * here as the same kind of error (a NonFiniteError naming the step stays one).
   */
  finish(): ReplicaResult[];
  /** Stop the replicas' threads. */
  close(): Promise<void>;
}
