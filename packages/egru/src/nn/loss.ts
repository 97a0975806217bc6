// Softmax cross-entropy over classes, forward and backward together (the gradient falls out of
// the same softmax): loss = mean over the N rows of −log softmax(logits)[label].

import { ShapeError, ValueError } from "../core/errors.js";

export interface CrossEntropyResult {
  /** Mean loss over the rows. */
  loss: number;
  /** ∂loss/∂logits [N, C] (softmax − one-hot, divided by N). */
  dlogits: Float32Array;
  /** Rows whose largest logit is the label's (ties: the first largest). */
  correct: number;
}

/** logits [N, C] float32, labels [N] in 0…C−1. */
export function softmaxCrossEntropy(logits: Float32Array, labels: ArrayLike<number>, C: number): CrossEntropyResult {
  const N = labels.length;
  if (logits.length !== N * C)
    throw new ShapeError("logits", `N·C = ${N}·${C} = ${N * C} values`, String(logits.length));
  const dlogits = new Float32Array(N * C);
  let loss = 0;
  let correct = 0;
  for (let n = 0; n < N; n++) {
    const row = n * C;
    const label = labels[n];
    if (!Number.isInteger(label) || label < 0 || label >= C)
      throw new ValueError(`labels[${n}]`, `a class in 0…${C - 1}`, String(label));
    let max = -Infinity;
    let arg = 0;
    for (let c = 0; c < C; c++) {
      if (logits[row + c] > max) {
        max = logits[row + c];
        arg = c;
      }
    }
    if (arg === label) correct++;
    // one exp per entry: dlogits holds exp(l − max) until the row's sum is known
    let sum = 0;
    for (let c = 0; c < C; c++) {
      const e = Math.exp(logits[row + c] - max);
      dlogits[row + c] = e;
      sum += e;
    }
    loss += Math.log(sum) + max - logits[row + label];
    const scale = 1 / (sum * N);
    for (let c = 0; c < C; c++) dlogits[row + c] *= scale;
    dlogits[row + label] -= 1 / N;
  }
  return { loss: loss / N, dlogits, correct };
}

/**
 * The summed (not mean) cross-entropy of rows logits [N, V] against targets [N], in float64: the
 * language model's evaluation adds it over segments and divides by the token count at the end.
 */
export function crossEntropySum(logits: Float32Array, targets: ArrayLike<number>, V: number): number {
  let total = 0;
  for (let n = 0, row = 0; n < targets.length; n++, row += V) {
    let max = -Infinity;
    for (let v = row; v < row + V; v++) max = Math.max(max, logits[v]);
    let s = 0;
    for (let v = row; v < row + V; v++) s += Math.exp(logits[v] - max);
    total += Math.log(s) + max - logits[row + targets[n]];
  }
  return total;
}
