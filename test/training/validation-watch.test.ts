// The validation watch (optim/validation-watch.ts): the best result and its epoch, the plateau
// schedule's decays and early stopping, in both directions; learningRate under the plateau schedule;
// fit() stopping early and refusing to watch without validation data.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ValueError } from "../../packages/egru/src/core/errors.js";
import { learningRate, type ScheduleConfig } from "../../packages/egru/src/optim/schedule.js";
import { ValidationWatch } from "../../packages/egru/src/optim/validation-watch.js";
import { createModel, fit, type Network } from "../../packages/egru/src/index.js";

const plateau = (patience: number, minLr = 0): ScheduleConfig => ({ kind: "plateau", factor: 0.5, patience, minLr });

test("perplexities: decays after each non-improving validation beyond the patience, stops after earlyStop epochs", () => {
  const w = new ValidationWatch("min", 3);
  const seen = [100, 90, 95, 96, 89, 89, 92, 93].map((v, i) => w.observe(v, i + 1, plateau(1)));
  assert.deepEqual(
    seen.map((v) => v.improved),
    [true, true, false, false, true, false, false, false],
  );
  // patience 1: the second validation in a row without improvement decays (and starts counting anew)
  assert.deepEqual(
    seen.map((v) => v.decayed),
    [false, false, false, true, false, false, true, false],
  );
  assert.deepEqual(
    seen.map((v) => v.stop),
    [false, false, false, false, false, false, false, true],
  );
  assert.deepEqual(w.state, { best: 89, bestEpoch: 5, stale: 1, decays: 2 });
  assert.equal(w.stopsAfter(7), false);
  assert.equal(w.stopsAfter(8), true);
});

test("accuracies: higher is better; NaN never improves; no early stop when earlyStop is 0", () => {
  const w = new ValidationWatch("max");
  const v = [0.5, 0.6, Number.NaN, 0.6, 0.7].map((x, i) => w.observe(x, i + 1, plateau(0)));
  assert.deepEqual(
    v.map((x) => x.improved),
    [true, true, false, false, true],
  );
  assert.equal(w.state.decays, 2);
  assert.ok(v.every((x) => !x.stop));
  assert.equal(w.stopsAfter(100), false);
  // other schedules never decay
  const c = new ValidationWatch("max");
  for (let e = 1; e <= 5; e++) c.observe(0.1, e, { kind: "constant" });
  assert.equal(c.state.decays, 0);
});

test("minImprovement: gains within the margin (a fraction of the best) count as no improvement", () => {
  // perplexities, 1 %: 100 → 99.5 is within the margin (stale, decays), 98.9 beats 100 by 1.1 %
  const w = new ValidationWatch("min", 2, 0.01);
  const seen = [100, 99.5, 98.9, 98.2, 98.0].map((v, i) => w.observe(v, i + 1, plateau(0)));
  assert.deepEqual(
    seen.map((v) => v.improved),
    [true, false, true, false, false],
  );
  assert.deepEqual(
    seen.map((v) => v.decayed),
    [false, true, false, true, true],
  );
  assert.deepEqual(
    seen.map((v) => v.stop),
    [false, false, false, false, true],
  );
  assert.deepEqual(w.state, { best: 98.9, bestEpoch: 3, stale: 0, decays: 3 });
  // the same sequence without a margin improves every epoch
  const any = new ValidationWatch("min", 2);
  assert.ok([100, 99.5, 98.9, 98.2, 98.0].every((v, i) => any.observe(v, i + 1, plateau(0)).improved));
  // accuracies: higher by more than the margin
  const acc = new ValidationWatch("max", 0, 0.01);
  assert.deepEqual(
    [0.5, 0.504, 0.506].map((v, i) => acc.observe(v, i + 1, plateau(5)).improved),
    [true, false, true],
  );
  assert.throws(() => new ValidationWatch("min", 0, 1), ValueError);
  assert.throws(() => new ValidationWatch("min", 0, -0.1), ValueError);
});

test("learningRate under the plateau schedule: lr · factor^decays, floored at minLr, with warm-up", () => {
  assert.equal(learningRate(0.01, plateau(0), 3, 100, 10, 0), 0.01);
  assert.equal(learningRate(0.01, plateau(0), 3, 100, 10, 3), 0.01 * 0.125);
  assert.equal(learningRate(0.01, plateau(0, 0.002), 3, 100, 10, 3), 0.002);
  assert.equal(learningRate(0.01, { ...plateau(0), warmupSteps: 10 }, 0, 4, 10, 1), 0.005 * 0.5);
  assert.throws(() => learningRate(0.01, { kind: "plateau", factor: 1, patience: 0 }, 0, 0, 1, 1), ValueError);
});

test("a saved watch state is checked when put back", () => {
  const w = new ValidationWatch("min", 2);
  assert.throws(() => w.setState({ best: 1, bestEpoch: -1, stale: 0, decays: 0 }), /watch\.bestEpoch/);
  assert.throws(() => w.setState({ best: Number.NaN, bestEpoch: 1, stale: 0, decays: 0 }), /watch\.best/);
  assert.throws(() => w.setState({ best: 1, bestEpoch: 1, stale: 0, decays: 1.5 }), /watch\.decays/);
  w.setState({ best: 3, bestEpoch: 4, stale: 1, decays: 2 });
  assert.deepEqual(w.state, { best: 3, bestEpoch: 4, stale: 1, decays: 2 });
  assert.throws(() => new ValidationWatch("min", -1), /earlyStop/);
});

test("fit() stops early when validation stops improving, and refuses to watch without validation data", async () => {
  const model = createModel({
    type: "sequence-classifier",
    cell: "gru",
    inputSize: 3,
    hiddenSize: 5,
    layers: 1,
    classes: 2,
    readout: "last",
    seed: 1,
  }) as Network;
  const N = 8;
  const T = 4;
  const x = Float32Array.from({ length: N * T * 3 }, (_, i) => Math.sin(i));
  const labels = Int32Array.from({ length: N }, (_, i) => i % 2);
  const data = { x, labels, T };
  // a vanishing rate: the validation accuracy never changes, so only epoch 1 "improves"
  const r = await fit(model, data, { epochs: 10, batchSize: 4, lr: 1e-30, validationData: data, earlyStop: 2 });
  assert.deepEqual(r.stoppedEarly, { epoch: 3, bestEpoch: 1 });
  assert.equal(r.history.length, 3);
  assert.equal(r.steps, 6);
  const lrs: number[] = [];
  await fit(model, data, {
    epochs: 3,
    batchSize: 4,
    lr: 1e-30,
    schedule: plateau(0),
    validationData: data,
    onStep: (s) => lrs.push(s.lr),
  });
  // epoch 1's validation is the first (an improvement), epoch 2's is not: epoch 3 runs at half the rate
  assert.deepEqual(lrs, [1e-30, 1e-30, 1e-30, 1e-30, 5e-31, 5e-31]);
  await assert.rejects(fit(model, data, { epochs: 2, earlyStop: 1 }), /earlyStop.*validationData/);
  await assert.rejects(fit(model, data, { epochs: 2, schedule: plateau(0) }), /schedule.*validationData/);
});
