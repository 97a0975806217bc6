// Steppers: streaming inference with the weights bound once must equal the sequence forward in
// evaluation mode, step by step, bit for bit (the same kernels compute both), on every kernel set.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { StateError, ShapeError } from "../../packages/egru/src/core/errors.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { randomArray } from "../helpers.js";
import { describeOnKernelSets } from "../kernel-sets.js";

const T = 7;
const B = 3;
const I = 5;
const H = 11;

describeOnKernelSets("steppers", (kernels) => {
  test("EGRU stepper equals forward() in evaluation mode, with zoneout, and counts MACs", () => {
    const layer = new EGRU({
      kernels,
      inputSize: I,
      hiddenSize: H,
      seed: 1,
      weightGain: 2,
      zoneout: 0.2,
      dropConnect: 0.3,
    }).eval();
    const x = Float32Array.from(randomArray(new Rng(2), T * B * I, 2));
    const r = layer.forward({ x, T, B });
    const s = layer.stepper(B);
    for (let t = 0; t < T; t++) {
      const y = s.step(x.slice(t * B * I, (t + 1) * B * I));
      assert.deepEqual(y, r.y.slice(t * B * H, (t + 1) * B * H), `step ${t}`);
    }
    assert.deepEqual(s.state.tr, r.state.tr);
    assert.equal(s.macs.executed, r.stats.executedMacs);
    assert.equal(s.macs.dense, r.stats.denseMacs);
    s.reset();
    assert.deepEqual(s.step(x.slice(0, B * I)), r.y.slice(0, B * H), "after reset the stream starts again");
  });

  test("a stepper keeps the weights it was made with", () => {
    const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: 3, weightGain: 2, kernels }).eval();
    const x = Float32Array.from(randomArray(new Rng(4), B * I, 2));
    const s = layer.stepper(B);
    const before = layer.forward({ x, T: 1, B }).y;
    layer.weights.recurrent_kernel.fill(0);
    layer.weights.kernel.fill(0);
    assert.deepEqual(s.step(x), before);
  });

  test("GRU stepper equals forward() in evaluation mode", () => {
    const layer = new GRU({ inputSize: I, hiddenSize: H, seed: 5, zoneout: 0.1, kernels }).eval();
    const x = Float32Array.from(randomArray(new Rng(6), T * B * I));
    const r = layer.forward({ x, T, B });
    const s = layer.stepper(B);
    for (let t = 0; t < T; t++) {
      assert.deepEqual(
        s.step(x.slice(t * B * I, (t + 1) * B * I)),
        r.output.slice(t * B * H, (t + 1) * B * H),
        `step ${t}`,
      );
    }
    assert.equal(s.macs.executed, r.stats.denseMacs);
  });
});

test("steppers check their input and refuse work after dispose()", () => {
  const s = new EGRU({ inputSize: I, hiddenSize: H }).stepper(2);
  assert.throws(() => s.step(new Float32Array(3)), ShapeError);
  assert.throws(() => s.step(new Float32Array(2 * I).fill(Number.NaN)), /finite/);
  s.dispose();
  assert.throws(() => s.step(new Float32Array(2 * I)), StateError);
});
