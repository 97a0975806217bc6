// The sequence classifier and its loss: softmax cross-entropy against finite differences, and the
// whole model's gradients (stacked cells, each readout, the activity and state regularisers)
// against central differences of the loss, with the smooth event function so that the loss is
// differentiable (and sigmoid thresholds: clamped ones have a kink at 0). Float32 model, so differences use a large step and loose tolerances; a wrong
// gradient is off by far more.

import assert from "node:assert/strict";
import { test } from "node:test";
import { checkParamGradients } from "../helpers.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { smoothEvent } from "../../packages/egru/src/kernels/activations.js";
import { SequenceClassifier, type ClassifierOptions } from "../../packages/egru/src/nn/classifier.js";
import { softmaxCrossEntropy } from "../../packages/egru/src/nn/loss.js";
import { ValueError } from "../../packages/egru/src/core/errors.js";

test("softmax cross-entropy: value, gradient and accuracy", () => {
  const rng = new Rng(1);
  const N = 5,
    C = 7;
  const logits = Float32Array.from({ length: N * C }, () => rng.normal(0, 3));
  const labels = Uint8Array.from({ length: N }, () => rng.int(C));
  const r = softmaxCrossEntropy(logits, labels, C);
  let want = 0;
  let correct = 0;
  for (let n = 0; n < N; n++) {
    const row = Array.from(logits.subarray(n * C, (n + 1) * C));
    const z = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    want += (z - row[labels[n]]) / N;
    if (row.indexOf(Math.max(...row)) === labels[n]) correct++;
  }
  assert.ok(Math.abs(r.loss - want) < 1e-6 * want, `loss ${r.loss} vs ${want}`); // float32 logZ
  assert.equal(r.correct, correct);
  const eps = 1e-2;
  for (let i = 0; i < N * C; i++) {
    const keep = logits[i];
    logits[i] = keep + eps;
    const up = softmaxCrossEntropy(logits, labels, C).loss;
    logits[i] = keep - eps;
    const down = softmaxCrossEntropy(logits, labels, C).loss;
    logits[i] = keep;
    assert.ok(Math.abs((up - down) / (2 * eps) - r.dlogits[i]) < 2e-4, `dlogits[${i}]`);
  }
  assert.throws(() => softmaxCrossEntropy(logits, [1, 2, 3, 4, 7], C), ValueError);
});

const T = 4,
  B = 3,
  I = 5,
  H = 6,
  C = 4;

function check(opts: Partial<ClassifierOptions>, label: string): void {
  const model = new SequenceClassifier({
    cell: "egru",
    inputSize: I,
    hiddenSize: H,
    layers: 2,
    classes: C,
    readout: "trace",
    seed: 3,
    egru: { event: smoothEvent(3), thresholdMode: "sigmoid", thresholdMean: -1, weightGain: 1.5 },
    ...opts,
  });
  const rng = new Rng(4);
  const x = Float32Array.from({ length: T * B * model.options.inputSize }, () => rng.normal());
  const labels = Uint8Array.from({ length: B }, () => rng.int(C));
  const masks = model.rng.getState();
  const lossAt = (): number => {
    model.rng.setState(masks); // the same dropout masks in every evaluation
    const run = model.forward(x, T, B);
    const l = softmaxCrossEntropy(run.logits, labels, C).loss + run.regLoss;
    model.release(run);
    return l;
  };
  model.zeroGrad();
  model.rng.setState(masks);
  const run = model.forward(x, T, B);
  model.backward(run, softmaxCrossEntropy(run.logits, labels, C).dlogits);
  model.release(run);
  const checked = checkParamGradients(model.params(), lossAt, label, { per: 6 });
  assert.ok(checked > 40);
}

test("classifier gradients: 2 stacked EGRU layers, trace readout", () => check({}, "egru trace"));
test("classifier gradients: EGRU, last-output readout (event input to the readout)", () =>
  check({ readout: "last" }, "egru last"));
test("classifier gradients: EGRU, mean readout, activity and state regularisers", () =>
  check(
    { readout: "mean", activityWeight: 0.5, activityTarget: 0.1, stateWeight: 0.3, stateTarget: -0.2 },
    "egru regularised",
  ));
test("classifier gradients: a per-frame CNN front-end, dropout before and after the stack, trace-mean readout", () => {
  check(
    {
      inputSize: 2 * 7 * 7,
      readout: "trace-mean",
      inputDropout: 0.3,
      outputDropout: 0.25,
      frontEnd: {
        channels: 2,
        height: 7,
        width: 7,
        layers: [
          { kind: "conv", out: 3, kernel: 3, stride: 2, padding: 1 },
          { kind: "relu" },
          { kind: "pool", kernel: 2 },
          { kind: "linear", out: 5 },
        ],
      },
    },
    "egru front end",
  );
  check({ readout: "trace-mean", outputDropout: 0.4, stateMeanWeight: 0.7 }, "egru trace-mean, λ·mean(h)");
});
test("classifier gradients: GRU and LSTM stacks", () => {
  check({ cell: "gru", readout: "last" }, "gru");
  check({ cell: "lstm", readout: "mean" }, "lstm");
});

test("classifier options are checked", () => {
  assert.throws(
    () =>
      new SequenceClassifier({
        cell: "gru",
        inputSize: 2,
        hiddenSize: 3,
        layers: 1,
        classes: 2,
        readout: "trace",
        seed: 0,
      }),
    ValueError,
  );
  assert.throws(
    () =>
      new SequenceClassifier({
        cell: "egru",
        inputSize: 2,
        hiddenSize: 3,
        layers: 0,
        classes: 2,
        readout: "last",
        seed: 0,
      }),
  );
});
