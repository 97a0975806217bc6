// Softmax cross-entropy over classes, forward and backward together (the gradient falls out of
// the same softmax): loss = mean over the N rows of −log softmax(logits)[label]. The softmax of
// each row is the kernels' softmaxRows (WebAssembly SIMD where available: for the language
// models' 10,000-word decoder it was the largest single cost of a training step in TypeScript).

import { ShapeError, ValueError } from "../core/errors.js";
import type { Kernels } from "../kernels/backend.js";
import { defaultKernels } from "../wasm/select.js";

export interface CrossEntropyResult {
  /** Mean loss over the rows. */
  loss: number;
  /** ∂loss/∂logits [N, C] (softmax − one-hot, divided by N). */
  dlogits: Float32Array;
  /** Rows whose largest logit is the label's (ties: the first largest); NaN when not counted (countCorrect false). */
  correct: number;
}

/**
 * logZ [N] of logits [N, C] (the log of each row's partition sum), after checking the shape and
 * the labels; with `out`, also out = scale · softmax(logits).
 */
function logPartition(
  logits: Float32Array,
  labels: ArrayLike<number>,
  C: number,
  kernels: Kernels,
  out: Float32Array | null,
  scale: number,
): Float32Array {
  const N = labels.length;
  if (logits.length !== N * C)
    throw new ShapeError("logits", `N·C = ${N}·${C} = ${N * C} values`, String(logits.length));
  for (let n = 0; n < N; n++) {
    const label = labels[n];
    if (!Number.isInteger(label) || label < 0 || label >= C)
      throw new ValueError(`labels[${n}]`, `a class in 0…${C - 1}`, String(label));
  }
  const logZ = new Float32Array(N);
  kernels.softmaxRows(N, C, logits, 0, out, 0, scale, logZ, 0);
  return logZ;
}

/** Whether the row's largest logit is first reached at `label`. */
function isArgmax(logits: Float32Array, row: number, label: number, C: number): boolean {
  const l = logits[row + label];
  for (let c = 0; c < C; c++) {
    const v = logits[row + c];
    if (v > l || (v === l && c < label)) return false;
  }
  return !Number.isNaN(l);
}

/**
 * logits [N, C] float32, labels [N] in 0…C−1; kernels: what computes the softmax (default: the
 * library's); into: an array of N·C floats to write dlogits into (the tied decoder's buffer in the
 * kernels' memory), else a new one; countCorrect: whether to count the rows predicted right (a scan
 * of every row in TypeScript, up to the label's logit or past it: about 50 ms a step of the paper's
 * language model, 1,024 rows of 10,000 words, which reports perplexity, not accuracy).
 */
export function softmaxCrossEntropy(
  logits: Float32Array,
  labels: ArrayLike<number>,
  C: number,
  kernels: Kernels = defaultKernels(),
  into: Float32Array | null = null,
  countCorrect = true,
): CrossEntropyResult {
  const N = labels.length;
  if (into && into.length !== N * C) throw new ShapeError("into", `N·C = ${N}·${C} values`, String(into.length));
  const dlogits = into ?? new Float32Array(N * C);
  const logZ = logPartition(logits, labels, C, kernels, dlogits, 1 / N);
  let loss = 0;
  let correct = 0;
  for (let n = 0, row = 0; n < N; n++, row += C) {
    const label = labels[n];
    loss += logZ[n] - logits[row + label];
    dlogits[row + label] -= 1 / N;
    if (countCorrect && isArgmax(logits, row, label, C)) correct++;
  }
  return { loss: loss / N, dlogits, correct: countCorrect ? correct : Number.NaN };
}

/**
 * The summed (not mean) cross-entropy of rows logits [N, V] against targets [N], in float64: the
 * language model's evaluation adds it over segments and divides by the token count at the end.
 */
export function crossEntropySum(
  logits: Float32Array,
  targets: ArrayLike<number>,
  V: number,
  kernels: Kernels = defaultKernels(),
): number {
  const logZ = logPartition(logits, targets, V, kernels, null, 1);
  let total = 0;
  for (let n = 0, row = 0; n < targets.length; n++, row += V) total += logZ[n] - logits[row + targets[n]];
  return total;
}
