// Optimizers, clipping and schedules: against torch.optim and clip_grad_norm_ step by step (the
// PyTorch fixtures), plus the properties the trainer relies on.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ValueError, ShapeError } from "../../packages/egru/src/core/errors.js";
import type { Param } from "../../packages/egru/src/nn/params.js";
import { clipGradNorm, Optimizer, type OptimizerConfig } from "../../packages/egru/src/optim/optimizer.js";
import { learningRate } from "../../packages/egru/src/optim/schedule.js";
import { assertClose, fixtureNames, loadFixture } from "../helpers.js";

interface OptimFixture {
  config: OptimizerConfig;
  clip: number;
  init: { w: number[]; thr: number[] };
  steps: { lr: number; grads: { w: number[]; thr: number[] }; norm: number; after: { w: number[]; thr: number[] } }[];
}

const paramsOf = (f: OptimFixture): Param[] => [
  {
    name: "cells.0.kernel",
    value: Float32Array.from(f.init.w),
    grad: new Float32Array(f.init.w.length),
    group: "default",
  },
  {
    name: "cells.0.thr",
    value: Float32Array.from(f.init.thr),
    grad: new Float32Array(f.init.thr.length),
    group: "threshold",
  },
];

for (const name of fixtureNames("optim-")) {
  test(`${name}: every step matches torch.optim (clipping and both parameter groups)`, () => {
    const f = loadFixture(name) as OptimFixture;
    const params = paramsOf(f);
    const opt = new Optimizer(f.config);
    f.steps.forEach((s, i) => {
      params[0].grad.set(s.grads.w);
      params[1].grad.set(s.grads.thr);
      const norm = clipGradNorm(params, f.clip);
      assert.ok(Math.abs(norm - s.norm) <= 1e-5 * s.norm, `step ${i + 1}: norm ${norm} vs ${s.norm}`);
      opt.step(params, s.lr);
      assertClose(params[0].value, s.after.w, { atol: 1e-6, rtol: 1e-5, name: `step ${i + 1} weights` });
      assertClose(params[1].value, s.after.thr, { atol: 1e-6, rtol: 1e-5, name: `step ${i + 1} thresholds` });
    });
  });
}

test("the optimizer state saved mid-way continues exactly", () => {
  const f = loadFixture("optim-adamw") as OptimFixture;
  const run = (split: number | null): Float32Array[] => {
    let params = paramsOf(f);
    let opt = new Optimizer(f.config);
    f.steps.forEach((s, i) => {
      if (i === split) {
        const state = opt.state();
        const values = params.map((p) => p.value.slice());
        params = paramsOf(f);
        params.forEach((p, k) => p.value.set(values[k]));
        opt = new Optimizer(f.config);
        opt.loadState(state, params);
      }
      params[0].grad.set(s.grads.w);
      params[1].grad.set(s.grads.thr);
      opt.step(params, s.lr);
    });
    return params.map((p) => p.value);
  };
  assert.deepEqual(run(3), run(null));
});

test("optimizer configuration and state are checked", () => {
  assert.throws(() => new Optimizer({ kind: "adam", beta1: 1 }), ValueError);
  assert.throws(() => new Optimizer({ kind: "rmsprop" as "adam" }), ValueError);
  assert.throws(() => new Optimizer({ kind: "sgd", weightDecay: -1 }), ValueError);
  const f = loadFixture("optim-adamw") as OptimFixture;
  const opt = new Optimizer(f.config);
  assert.throws(
    () => opt.loadState({ step: 1, buffers: { "m.cells.0.kernel": new Float32Array(3) } }, paramsOf(f)),
    ShapeError,
  );
  assert.throws(() => opt.loadState({ step: 1, buffers: { "m.nope": new Float32Array(3) } }, paramsOf(f)), ShapeError);
});

test("clipping leaves small gradients alone and scales large ones to the limit", () => {
  const p: Param[] = [{ name: "a", value: new Float32Array(2), grad: Float32Array.from([3, 4]), group: "default" }];
  assert.equal(clipGradNorm(p, 10), 5);
  assert.deepEqual(Array.from(p[0].grad), [3, 4]);
  assert.equal(clipGradNorm(p, 1), 5);
  assert.ok(Math.abs(Math.hypot(p[0].grad[0], p[0].grad[1]) - 1) < 1e-6);
  assert.ok(Math.abs(clipGradNorm(p, 0) - Math.hypot(p[0].grad[0], p[0].grad[1])) < 1e-12, "0 only measures");
});

test("schedules: constant, step decay, cosine from a start epoch, linear warm-up", () => {
  assert.equal(learningRate(0.1, { kind: "constant" }, 7, 100, 10), 0.1);
  assert.ok(Math.abs(learningRate(0.1, { kind: "step", every: 3, gamma: 0.5 }, 7, 0, 10) - 0.025) < 1e-15);
  const cos = { kind: "cosine" as const, startEpoch: 4, minLr: 0.01 };
  assert.equal(learningRate(0.1, cos, 3, 0, 10), 0.1, "before the start");
  assert.equal(learningRate(0.1, cos, 4, 0, 10), 0.1, "at the start");
  assert.ok(Math.abs(learningRate(0.1, cos, 7, 0, 10) - (0.01 + 0.09 * 0.5 * (1 + Math.cos(Math.PI / 2)))) < 1e-15);
  assert.ok(Math.abs(learningRate(0.1, { kind: "constant", warmupSteps: 4 }, 0, 0, 10) - 0.025) < 1e-15);
  assert.equal(learningRate(0.1, { kind: "constant", warmupSteps: 4 }, 0, 3, 10), 0.1);
});
