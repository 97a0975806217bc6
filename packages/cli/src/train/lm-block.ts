// One row block of a language model's training step, as the LM trainer runs it on the calling
// thread and a replica runs it in a worker (node/replica-worker.ts): the same function on the same
// inputs, so the two give the same bits. Isomorphic.
//
//   lmBlockStep  forward of the block's streams (tokens and targets [T, b]) from its rows of the
//                carried state, its random state set first; softmax cross-entropy weighted by the
//                block's share of the batch (AR/TAR likewise); backward into the model's gradients
//                (zeroed first: the trainer sums the blocks' gradients in block order); the block's
//                figures and its rows of the state after the segment

import {
  atStep,
  checkLoss,
  type LanguageModel,
  type LayerReport,
  type LmState,
  type MacCount,
  type RngState,
  softmaxCrossEntropy,
} from "egru";

/** What one block of a language model's step reports (its gradients stay in the model's parameters). */
export interface LmBlockOutcome {
  /** The block's cross-entropy × its share of the batch. */
  loss: number;
  /** The block's AR and TAR terms (already its share). */
  ar: number;
  tar: number;
  macs: MacCount;
  layers: LayerReport[];
}

/** A block's training forward and backward from its rows of the carried state (null: zeros). */
export function lmBlockStep(
  model: LanguageModel,
  input: Int32Array,
  target: Int32Array,
  T: number,
  state: LmState | null,
  scale: number,
  where: string,
  rng: RngState | null,
): { outcome: LmBlockOutcome; state: LmState } {
  const b = input.length / T;
  if (rng) model.rng.setState(rng);
  model.train();
  model.zeroGrad();
  const run = atStep(where, () => model.forward(input, T, b, state, scale));
  try {
    const ce = softmaxCrossEntropy(run.logits, target, model.options.vocab, model.kernels, run.dlogitsInto, false);
    checkLoss(ce.loss + run.ar + run.tar, where);
    if (scale !== 1) for (let k = 0; k < ce.dlogits.length; k++) ce.dlogits[k] *= scale;
    const decoderBack = model.backward(run, ce.dlogits);
    const macs: MacCount = {
      executed: run.decoderMacs.executed + decoderBack.executed,
      dense: run.decoderMacs.dense + decoderBack.dense,
    };
    for (const l of run.layers) {
      macs.executed += l.forwardMacs.executed + l.backwardMacs.executed;
      macs.dense += l.forwardMacs.dense + l.backwardMacs.dense;
    }
    return {
      outcome: { loss: ce.loss * scale, ar: run.ar, tar: run.tar, macs, layers: run.layers },
      state: run.state,
    };
  } finally {
    model.release(run);
  }
}
