// Replicas of a model that run row blocks of a training step (a classifier's or a language
// model's), or a classifier's evaluation batches, on other threads. Isomorphic: the interface and
// the wave runner; node/replica-pool.ts implements the interface with worker threads. The trainer
// hands each replica the model's current weights and a job, runs a block itself meanwhile, then
// collects the replicas' results in order; a replica runs the very functions the trainer runs
// (train/classifier-block.ts, train/lm-block.ts), so the bits do not depend on where a block ran.

import {
  type BatchPart,
  type ClipGroupSums,
  type LmState,
  type MacCount,
  mergeGradGroups,
  type Param,
  type RngState,
  type SequenceCell,
} from "egru";
import type { BlockOutcome } from "./classifier-block.js";
import { GradSum } from "./grad-sum.js";
import { inGradGroups } from "./hooks.js";
import type { LmBlockOutcome } from "./lm-block.js";

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
  | { kind: "eval"; x: Float32Array; labels: Uint8Array; T: number }
  /** A language model's block: its streams' tokens and targets [T, b] and rows of the carried state (lm-block.ts). */
  | {
      kind: "lm-step";
      input: Int32Array;
      target: Int32Array;
      T: number;
      state: LmState | null;
      scale: number;
      where: string;
      rng: RngState | null;
      group: boolean;
    };

export type ReplicaResult =
  /**
   * grads: the block's gradients, flat in the model's parameter order (grad-sum.ts); groups: per
   * cell, its gradient group's sums (takeGradGroups) when the job asked for a group, else null.
   */
  | { kind: "step"; outcome: BlockOutcome; grads: Float32Array; groups: (ClipGroupSums | null)[] | null }
  | { kind: "events"; sums: number[]; entries: number[] }
  | { kind: "eval"; outcome: EvalBatchOutcome }
  | {
      kind: "lm-step";
      outcome: LmBlockOutcome;
      state: LmState;
      grads: Float32Array;
      groups: (ClipGroupSums | null)[] | null;
    };

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

/**
 * Run `n` jobs (made by job(k)) in order, in waves: the first job of a wave on this thread (local),
 * the next ones on the replicas (none: every job here), each replica given the weights of `params`.
 * `done` sees the replicas' results in job order, each after the local job of its wave, so sums
 * taken in `local` and `done` run in job order; the results come back in job order.
 */
export function inWaves(
  replicas: Replicas | null,
  params: Param[],
  n: number,
  job: (k: number) => ReplicaJob,
  local: (job: ReplicaJob) => ReplicaResult,
  done: (r: ReplicaResult) => void = () => {},
): ReplicaResult[] {
  const wave = 1 + (replicas?.count ?? 0);
  const out: ReplicaResult[] = [];
  for (let k0 = 0; k0 < n; k0 += wave) {
    const k1 = Math.min(n, k0 + wave);
    const remote: ReplicaJob[] = [];
    for (let k = k0 + 1; k < k1; k++) remote.push(job(k));
    const away = remote.length > 0 && replicas !== null;
    if (away) replicas.start(params, remote);
    let first: ReplicaResult;
    try {
      first = local(job(k0));
    } catch (e) {
      if (away) {
        try {
          replicas.finish(); // let the wave end before the error goes up
        } catch {
          // the local job's error is the one reported
        }
      }
      throw e;
    }
    out.push(first);
    if (away)
      for (const r of replicas.finish()) {
        done(r);
        out.push(r);
      }
  }
  return out;
}

/** A training job's result: it carries the block's gradients. */
export type GradResult = Extract<ReplicaResult, { grads: Float32Array }>;

/** The `grads` of a block run on this thread: its gradients are read from the model instead. */
export const LOCAL_GRADS = new Float32Array(0);

/**
 * The n (≥ 2) row blocks of a training step, run in waves (inWaves) inside the cells' gradient
 * groups, with their gradients summed in block order into the model's: a local block's read from
 * the model after `local` (which zeroes them first), a replica's from its result, whose group sums
 * (EGRU's clip inside backward) are merged in block order too; closing the groups clips the sum once.
 * Returns the results in block order (local ones with LOCAL_GRADS) and the groups' clip factors.
 */
export function stepInBlocks<R extends GradResult>(
  replicas: Replicas | null,
  model: { params(): Param[]; cells: SequenceCell[] },
  n: number,
  job: (k: number) => ReplicaJob,
  local: (job: ReplicaJob) => R,
): { result: R[]; clipFactors: number[] } {
  const params = model.params();
  const sum = new GradSum(params);
  return inGradGroups(model.cells, () => {
    const results = inWaves(
      replicas,
      params,
      n,
      job,
      (j) => {
        const r = local(j);
        sum.addParams();
        return r;
      },
      (r) => {
        const g = r as GradResult;
        sum.addFlat(g.grads);
        if (g.groups) mergeGradGroups(model.cells, g.groups);
      },
    ) as R[];
    sum.writeTo(); // inside the groups: closing them adds the clipped EGRU sums
    return results;
  });
}
