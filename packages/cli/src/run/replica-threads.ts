// How many threads a run trains on as replicas of its model (node/replica-pool.ts): with threaded
// kernels (--threads N) and a batch that comes in row blocks, N (the blocks run N at a time, one
// on the calling thread, the model there on the one-thread kernels); otherwise 1, the products split
// across the threads instead. Either way the results are the same bits.

import type { Kernels } from "egru";
import type { ThreadedKernels } from "egru/node";

/** Replica threads for a batch of `batch` rows in blocks of `rows` (undefined: whole) on `kernels`. */
export function replicaThreads(kernels: Kernels | undefined, batch: number, rows: number | undefined): number {
  const t = kernels as Partial<ThreadedKernels> | undefined;
  const threads = t?.threads ?? 1;
  if (threads <= 1 || !t?.base) return 1;
  return rows !== undefined && rows < batch ? threads : 1;
}

/** The kernels a run's model computes with: the one-thread kernels under threaded ones when replicas run. */
export function modelKernels(kernels: Kernels | undefined, threads: number): Kernels | undefined {
  return threads > 1 ? (kernels as ThreadedKernels).base : kernels;
}
