// How many threads a run trains on as replicas of its model (node/replica-pool.ts), and giving a
// trainer those replicas. With threaded kernels (--threads N) and a batch that comes in row blocks,
// N (the blocks run N at a time, one on the calling thread, the model there on the one-thread
// kernels), or fewer when the memory plan says that N copies of a block's peak would not fit the
// machine (each replica holds the model and its block's tape); otherwise 1, the products split
// across the threads instead. Either way the results are the same bits: the blocks do not depend on
// how many threads run them.

import { totalmem } from "node:os";
import { type ClassifierConfig, countParams, type Kernels, type LanguageModelConfig, type Param } from "egru";
import type { ThreadedKernels } from "egru/node";
import { createReplicaPool } from "../node/replica-pool.js";
import type { Replicas } from "../train/replicas.js";

/** The share of the machine's memory that all replicas' estimated peaks together may take. */
export const REPLICA_MEMORY_SHARE = 0.75;

/**
 * Replica threads for a batch of `batch` rows in blocks of `rows` (undefined: whole) on `kernels`;
 * `plan`: the memory plan's estimated peak of one block (absent: not checked), `available` the bytes
 * the copies may take together (default REPLICA_MEMORY_SHARE of the machine's memory).
 */
export function replicaThreads(
  kernels: Kernels | undefined,
  batch: number,
  rows: number | undefined,
  plan?: { wasmBytes: number; hostBytes: number } | null,
  available = REPLICA_MEMORY_SHARE * totalmem(),
): number {
  let threads = threadsOf(kernels);
  if (threads <= 1 || !(kernels as Partial<ThreadedKernels>).base || rows === undefined || rows >= batch) return 1;
  if (plan) threads = Math.min(threads, Math.floor(available / Math.max(1, plan.wasmBytes + plan.hostBytes)));
  return threads >= 2 ? threads : 1;
}

/** The kernels a run's model computes with: the one-thread kernels under threaded ones when replicas run. */
export function modelKernels(kernels: Kernels | undefined, threads: number): Kernels | undefined {
  return threads > 1 ? (kernels as ThreadedKernels).base : kernels;
}

/** The threads of `kernels` (1 unless threaded). */
export function threadsOf(kernels: Kernels | undefined): number {
  return (kernels as Partial<ThreadedKernels> | undefined)?.threads ?? 1;
}

/** Of two estimated peaks, the one with more bytes in all. */
export function largerPeak<P extends { wasmBytes: number; hostBytes: number }>(a: P, b: P): P {
  return a.wasmBytes + a.hostBytes >= b.wasmBytes + b.hostBytes ? a : b;
}

/**
 * Give `trainer` `threads` − 1 replicas of its model (configuration `config`), on the model's
 * one-thread kernels; with `threads` 1, nothing. Returns the trainer.
 */
export function withReplicas<T extends { model: { params(): Param[]; kernels: Kernels }; replicas: Replicas | null }>(
  trainer: T,
  config: ClassifierConfig | LanguageModelConfig,
  threads: number,
): T {
  if (threads > 1)
    trainer.replicas = createReplicaPool(
      config,
      countParams(trainer.model.params()),
      threads - 1,
      trainer.model.kernels,
    );
  return trainer;
}
