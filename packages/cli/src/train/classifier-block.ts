// One row block of a classifier's training step, as the trainer runs it on the calling thread and
// a replica runs it in a worker (node/replica-worker.ts): the same function on the same inputs, so
// the two give the same bits. Isomorphic.
//
//   blockStep    forward of the block's rows x [T, b, I] (its random state set first), softmax
//                cross-entropy on labels [b] weighted by the block's share of the batch, backward
//                into the model's gradients (zeroed first: each block's gradients start from zero and
//                the trainer sums them in block order), and the block's figures
//   blockEvents  the forward alone (same random state): the block's event sums per layer, for the
//                activity regulariser's whole-batch rate
//   evalBatch    an evaluation forward of a batch: its summed loss, hits, MACs and sparsities
//
// A step in blocks draws one seed per block from the model's stream (blockSeeds), so every block's
// dropout, zoneout and DropConnect masks are the same wherever the block runs.

import {
  atStep,
  type BatchPart,
  checkLoss,
  eventSums,
  type LayerReport,
  type MacCount,
  Rng,
  type RngState,
  type SequenceClassifier,
  softmaxCrossEntropy,
} from "egru";
import type { EvalBatchOutcome } from "./replicas.js";

/** What one block of a step reports (its gradients stay in the model's parameters). */
export interface BlockOutcome {
  /** The block's share of the step's loss: its mean cross-entropy × scale + its regularisers. */
  loss: number;
  correct: number;
  /** Summed (not mean) cross-entropy over the block's rows, for the epoch's mean. */
  ceSum: number;
  macs: MacCount;
  /** Per layer: activity sparsity and the (step, example, unit) entries it is over. */
  stats: { activitySparsity: number; entries: number }[];
  layers: LayerReport[];
}

/** The random states of a step's blocks: one seed per block drawn from the model's stream, in block order. */
export function blockSeeds(rng: Rng, blocks: number): RngState[] {
  const out: RngState[] = [];
  for (let k = 0; k < blocks; k++) out.push(new Rng(rng.nextUint32()).getState());
  return out;
}

/** A block's training forward and backward; gradients zeroed first. */
export function blockStep(
  model: SequenceClassifier,
  x: Float32Array,
  labels: ArrayLike<number>,
  T: number,
  part: BatchPart,
  where: string,
  rng: RngState | null,
): BlockOutcome {
  const b = labels.length;
  if (rng) model.rng.setState(rng);
  model.train();
  model.zeroGrad();
  const run = atStep(where, () => model.forward(x, T, b, part));
  try {
    const ce = softmaxCrossEntropy(run.logits, labels, model.options.classes, model.kernels);
    const loss = ce.loss * part.scale + run.regLoss;
    checkLoss(loss, where);
    if (part.scale !== 1) for (let k = 0; k < ce.dlogits.length; k++) ce.dlogits[k] *= part.scale;
    const head = model.backward(run, ce.dlogits);
    const macs: MacCount = {
      executed: run.head.macs.executed + head.head.executed + run.frontEndMacs.executed + head.frontEnd.executed,
      dense: run.head.macs.dense + head.head.dense + run.frontEndMacs.dense + head.frontEnd.dense,
    };
    for (const l of run.layers) {
      macs.executed += l.forwardMacs.executed + l.backwardMacs.executed;
      macs.dense += l.forwardMacs.dense + l.backwardMacs.dense;
    }
    return {
      loss,
      correct: ce.correct,
      ceSum: ce.loss * b,
      macs,
      stats: run.runs.map((r) => ({ activitySparsity: r.stats.activitySparsity, entries: r.stats.entries })),
      layers: run.layers,
    };
  } finally {
    model.release(run);
  }
}

/** A block's training forward alone (random state `rng`): its event sums and entries per layer. */
export function blockEvents(
  model: SequenceClassifier,
  x: Float32Array,
  T: number,
  b: number,
  where: string,
  rng: RngState,
): { sums: number[]; entries: number[] } {
  model.rng.setState(rng);
  model.train();
  const run = atStep(where, () => model.forward(x, T, b, { scale: 1 }));
  try {
    return eventSums(run);
  } finally {
    model.release(run);
  }
}

/** An evaluation forward (evaluation mode) of x [T, B, I] with labels [B]: what it adds to an evaluation. */
export function evalBatch(
  model: SequenceClassifier,
  x: Float32Array,
  labels: ArrayLike<number>,
  T: number,
): EvalBatchOutcome {
  model.eval();
  const run = model.forward(x, T, labels.length);
  try {
    const ce = softmaxCrossEntropy(run.logits, labels, model.options.classes, model.kernels);
    const macs: MacCount = {
      executed: run.head.macs.executed + run.frontEndMacs.executed,
      dense: run.head.macs.dense + run.frontEndMacs.dense,
    };
    const layers = run.runs.map((r) => {
      macs.executed += r.stats.executedMacs;
      macs.dense += r.stats.denseMacs;
      if (r.o === undefined) return null;
      const { activitySparsity, backwardSparsity, paperBackwardSparsity, entries } = r.stats;
      return { activitySparsity, backwardSparsity, paperBackwardSparsity, entries };
    });
    return { ceSum: ce.loss * labels.length, correct: ce.correct, macs, layers };
  } finally {
    model.release(run);
  }
}
