// One optimizer step of either model: training mode, gradients zeroed, forward, cross-entropy (+
// the classifier's regularisers; + the LM's AR/TAR, reported apart from its loss), backward, a
// finiteness check naming the step, global-norm clipping, the optimizer update, the run's arrays
// released.
//   classifier  a time-major batch x [T, B, I] with labels [B]
//   LM          a segment of tokens [T, B] with targets [T, B], from a carried state (detached)

import { NonFiniteError } from "../core/errors.js";
import type { Kernels } from "../kernels/backend.js";
import type { SequenceClassifier } from "../nn/classifier.js";
import type { LanguageModel, LmState } from "../nn/language-model.js";
import { softmaxCrossEntropy } from "../nn/loss.js";
import type { Param } from "../nn/params.js";
import { clipGradNorm, type Optimizer } from "../optim/optimizer.js";
import { defaultKernels } from "../wasm/select.js";

export interface StepSettings {
  optimizer: Optimizer;
  lr: number;
  /** Global gradient-norm limit (0: none). */
  clip: number;
  /** For errors, e.g. "step 12". */
  where: string;
  /** The learning rate of the EGRU thresholds' group before its multiplier (default: lr). */
  thresholdLr?: number;
  /**
   * The kernels the update runs on (the same bits on any): the model's (model.kernels) for the model's
   * threads; default: the library's default kernels.
   */
  kernels?: Kernels;
}

export interface StepOutcome {
  loss: number;
  gradNorm: number;
  /** Classifier: examples of the batch classified right. */
  correct?: number;
  /** LM: the AR and TAR terms added to the cross-entropy (`loss`) for the gradients (0 when off). */
  ar?: number;
  tar?: number;
  /** LM: the state after the segment, to carry into the next. */
  state?: LmState;
}

/**
 * Clip, check and apply the gradients of a finished backward: the global norm (before clipping) is
 * returned; NaN or Infinity in a gradient is a NonFiniteError naming the step and the parameter.
 */
export function applyGradients(params: Param[], s: StepSettings): number {
  const kernels = s.kernels ?? defaultKernels();
  const gradNorm = clipGradNorm(params, s.clip, kernels);
  if (!Number.isFinite(gradNorm)) {
    const bad = params.find((p) => p.grad.some((g) => !Number.isFinite(g)));
    throw new NonFiniteError(
      s.where,
      "finite gradients",
      `NaN or Infinity in the gradient of ${bad?.name ?? "a parameter"}`,
    );
  }
  s.optimizer.step(params, s.lr, s.thresholdLr ?? s.lr, kernels);
  return gradNorm;
}

/** Run a forward; a NaN or Infinity it finds (in a weight or the input) is reported with the step. */
export function atStep<R>(where: string, forward: () => R): R {
  try {
    return forward();
  } catch (e) {
    if (e instanceof NonFiniteError) throw new NonFiniteError(`${where}: ${e.argument}`, e.expected, e.got);
    throw e;
  }
}

/** A loss that is NaN or Infinity is a NonFiniteError naming the step. */
export function checkLoss(loss: number, where: string): void {
  if (!Number.isFinite(loss)) throw new NonFiniteError(where, "a finite loss", String(loss));
}

export function classifierStep(
  m: SequenceClassifier,
  x: Float32Array,
  labels: ArrayLike<number>,
  T: number,
  s: StepSettings,
): StepOutcome {
  m.train();
  m.zeroGrad();
  const run = atStep(s.where, () => m.forward(x, T, labels.length));
  try {
    const ce = softmaxCrossEntropy(run.logits, labels, m.options.classes, m.kernels);
    const loss = ce.loss + run.regLoss;
    checkLoss(loss, s.where);
    m.backward(run, ce.dlogits);
    return {
      loss,
      correct: ce.correct,
      gradNorm: applyGradients(m.params(), { ...s, kernels: s.kernels ?? m.kernels }),
    };
  } finally {
    m.release(run);
  }
}

export function languageModelStep(
  m: LanguageModel,
  input: Int32Array,
  target: Int32Array,
  T: number,
  state: LmState | null,
  s: StepSettings,
): StepOutcome {
  m.train();
  m.zeroGrad();
  const run = atStep(s.where, () => m.forward(input, T, input.length / T, state));
  try {
    const ce = softmaxCrossEntropy(run.logits, target, m.options.vocab, m.kernels, run.dlogitsInto, false);
    checkLoss(ce.loss + run.ar + run.tar, s.where);
    m.backward(run, ce.dlogits);
    const gradNorm = applyGradients(m.params(), { ...s, kernels: s.kernels ?? m.kernels });
    m.weightsChanged();
    return { loss: ce.loss, ar: run.ar, tar: run.tar, gradNorm, state: run.state };
  } finally {
    m.release(run);
  }
}
