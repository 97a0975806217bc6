// Steppers: streaming inference with the weights bound once must equal the sequence forward in
// evaluation mode, step by step, bit for bit (the same kernels compute both), on every kernel set.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { StateError, ShapeError } from "../../packages/egru/src/core/errors.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import type { EgruStepArgs } from "../../packages/egru/src/kernels/egru-step.js";
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

  test("EGRU stepper at B = 1, float and int8 weights: one fused kernel call a step where the kernels have it, with the bits of the separate calls", () => {
    // I > 256: the dense input product sums in blocks; H odd; steps whose inputs are dense, sparse
    // (below the event crossover) and all zero; thresholds that leave from none to most units firing
    const [I1, H1, T1] = [301, 37, 12];
    const x = Float32Array.from(randomArray(new Rng(8), T1 * I1, 2));
    for (let t = 0; t < T1; t++) {
      const row = x.subarray(t * I1, (t + 1) * I1);
      if (t % 3 === 1) row.forEach((_, i) => i % 10 !== 0 && (row[i] = 0));
      if (t === 5) row.fill(0);
    }
    for (const [inputEvents, int8] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ]) {
      let fusedCalls = 0;
      /** The kernels with egruStep counted (fused) or hidden (the separate calls). */
      const view = (fused: boolean, under: Kernels): Kernels =>
        new Proxy(under, {
          get(target, key) {
            if (key === "egruStep") {
              if (!fused || !target.egruStep) return undefined;
              return (a: EgruStepArgs) => {
                fusedCalls++;
                return target.egruStep?.(a) ?? -1;
              };
            }
            const v: unknown = Reflect.get(target, key, target);
            return typeof v === "function" ? v.bind(target) : v;
          },
        });
      // dense: kernels derived with event crossover 0 (the dense path), which the fused step must follow
      const run = (fused: boolean, dense = false) => {
        const under = dense ? (Object.assign(Object.create(kernels), { eventCrossover: 0 }) as Kernels) : kernels;
        const layer = new EGRU({
          kernels: view(fused, under),
          inputSize: I1,
          hiddenSize: H1,
          seed: 7,
          weightGain: 2,
          inputEvents,
        });
        layer.eval();
        layer.weights.thr.forEach((_, j, thr) => (thr[j] = (j % 5) * 0.2));
        layer.weights.bias.set(randomArray(new Rng(9), 3 * H1, 0.5));
        layer.weights.recurrent_bias.set(randomArray(new Rng(10), 3 * H1, 0.5));
        if (int8) layer.quantize();
        const s = layer.stepper(1);
        const ys = Array.from({ length: T1 }, (_, t) => s.step(x.slice(t * I1, (t + 1) * I1)));
        const out = { ys, state: s.state, macs: { ...s.macs } };
        s.dispose();
        return out;
      };
      const separate = run(false);
      const fused = run(true);
      for (let t = 0; t < T1; t++)
        assert.deepEqual(fused.ys[t], separate.ys[t], `inputEvents ${inputEvents}, int8 ${int8}, step ${t}`);
      assert.deepEqual(fused.state, separate.state);
      assert.deepEqual(fused.macs, separate.macs);
      assert.ok(separate.macs.executed < separate.macs.dense, "some steps skip silent units");
      assert.equal(fusedCalls, kernels.egruStep ? T1 : 0, "the WebAssembly kernels take the fused step");
      if (int8) continue;
      const [denseSeparate, denseFused] = [run(false, true), run(true, true)];
      assert.deepEqual(denseFused.ys, denseSeparate.ys, `inputEvents ${inputEvents}, crossover 0`);
      assert.deepEqual(denseFused.macs, denseSeparate.macs, `inputEvents ${inputEvents}, crossover 0: MACs`);
      assert.ok(denseSeparate.macs.executed > separate.macs.executed, "crossover 0 takes the dense products");
    }
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
