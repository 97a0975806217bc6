// The layers across kernel sets (test/kernel-sets.ts), beyond each layer's own suite, which runs its
// PyTorch-fixture and float64-reference cases on every set: the WebAssembly sets agree with the
// TypeScript kernels on a larger EGRU layer (the same events and MAC counts); a layer's recurrent
// matrix (EGRU, GRU, LSTM), kept in the kernels' memory, still serves its own backward after another
// forward; and the EGRU stepper, its state kept in the kernels' memory, equals step() bit for bit.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels } from "../../packages/egru/src/kernels/backend.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import { egruData, egruForwardBackward } from "../egru-cases.js";
import { assertClose, randomArray } from "../helpers.js";
import { describeOnKernelSets, KERNEL_SETS } from "../kernel-sets.js";

for (const kernels of KERNEL_SETS.filter((k) => k !== jsKernels)) {
  test(`${kernels.name} and the TypeScript kernels agree on a larger EGRU layer (events and MAC counts identical)`, () => {
    const data = egruData({ T: 9, B: 5, I: 40, H: 97 }, 3);
    const a = egruForwardBackward(kernels, data, 5);
    const b = egruForwardBackward(jsKernels, data, 5);
    assert.deepEqual(Array.from(a.r.o), Array.from(b.r.o), "the same events");
    assertClose(a.r.y, b.r.y, { atol: 1e-5, rtol: 1e-4, name: "y" });
    assertClose(a.d.dx, b.d.dx, { atol: 1e-4, rtol: 1e-3, name: "dx" });
    assertClose(a.layer.grads.recurrent_kernel, b.layer.grads.recurrent_kernel, { atol: 1e-4, rtol: 1e-3, name: "dR" });
    assert.equal(a.r.stats.eventMacs, b.r.stats.eventMacs);
    assert.equal(a.d.macs.dense, b.d.macs.dense);
  });
}

/**
 * A layer's gradients from the backward of a forward with DropConnect mask m1 are the same bits
 * whether or not a forward with mask m2 ran in between (its recurrent matrix is its own).
 */
function assertOwnMatrix<L extends { grads: Record<string, Float32Array> }, R>(
  label: string,
  make: () => L,
  forward: (layer: L, dropConnect: Float32Array) => R,
  backward: (layer: L, r: R) => unknown,
  [m1, m2]: Float32Array[],
): void {
  const alone = make();
  backward(alone, forward(alone, m1));
  const interleaved = make();
  const r1 = forward(interleaved, m1);
  forward(interleaved, m2);
  backward(interleaved, r1);
  for (const k of Object.keys(alone.grads)) assert.deepEqual(interleaved.grads[k], alone.grads[k], `${label} ${k}`);
}

describeOnKernelSets("state kept in the kernels' memory", (kernels) => {
  test("the recurrent matrix: a backward after another forward still uses its own matrix", () => {
    const { T, B, I, H, x, G } = egruData({ T: 4, B: 3, I: 5, H: 9 }, 6);
    const masks = [3, 2].map((n) => Float32Array.from({ length: H * 3 * H }, (_, i) => (i % n === 0 ? 0 : 1)));
    assertOwnMatrix(
      "EGRU",
      () => new EGRU({ inputSize: I, hiddenSize: H, seed: 8, weightGain: 1.5, dropConnect: 0.3, kernels }),
      (layer, dropConnect) => layer.forward({ x, T, B, masks: { dropConnect } }),
      (layer, r) => layer.backward(r, { dy: G }),
      masks,
    );
    assertOwnMatrix(
      "GRU",
      () => new GRU({ inputSize: I, hiddenSize: H, seed: 9, dropConnect: 0.3, kernels }),
      (layer, dropConnect) => layer.forward({ x, T, B, masks: { dropConnect } }),
      (layer, r) => layer.backward(r, { dOutput: G }),
      masks,
    );
    // W_hh [4H, H]
    const lstmMasks = [3, 2].map((n) => Float32Array.from({ length: 4 * H * H }, (_, i) => (i % n === 0 ? 0 : 1)));
    assertOwnMatrix(
      "LSTM",
      () => new LSTM({ inputSize: I, hiddenSize: H, seed: 10, dropConnect: 0.3, kernels }),
      (layer, dropConnect) => layer.forward({ x, T, B, masks: { dropConnect } }),
      (layer, r) => layer.backward(r, { dOutput: G }),
      lstmMasks,
    );
  });

  test("the EGRU stepper's state: step by step equal to step() bit for bit", () => {
    const B = 2,
      I = 9,
      H = 23;
    for (const opts of [{ zoneout: 0.2 }, { inputEvents: true }]) {
      const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: 8, weightGain: 2, kernels, ...opts }).eval();
      const s = layer.stepper(B);
      let state = null;
      const rng = new Rng(9);
      for (let t = 0; t < 6; t++) {
        const x = Float32Array.from(randomArray(rng, B * I, 2)).map((v) => (opts.inputEvents && v < 0.5 ? 0 : v));
        const r = layer.step(x, B, state);
        state = r.state;
        assert.deepEqual(s.step(x), r.y, `step ${t}`);
      }
      assert.deepEqual(s.state.h, state!.h);
      assert.deepEqual(s.state.tr, state!.tr);
      s.dispose();
    }
  });
});
