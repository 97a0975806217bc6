// The backward passes store adjoints below 2^−100 as zero (src/kernels/f32-math.ts: flushTiny;
// assembly/cells.ts does the same), so gradients carried back over long sequences never reach the
// float32 subnormals that slow x86 SIMD arithmetic about seventy-fold. Checked through the layers on
// every kernel set by scaling the upstream gradient with powers of two, which float arithmetic
// follows exactly: at 2^−60 every gradient is exactly 2^−60 times the unscaled one (the flush changes
// nothing at ordinary magnitudes), at 2^−110 every adjoint falls under the flush and every gradient
// is exactly zero (without the flush they would be 2^−110 times the unscaled ones, all normal floats),
// but the EGRU thresholds' own sum.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { flushTiny, FLUSH_BELOW } from "../../packages/egru/src/kernels/f32-math.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import { randomArray } from "../helpers.js";
import { describeOnKernelSets } from "../kernel-sets.js";

const T = 6;
const B = 3;
const I = 5;
const H = 11;
const rng = new Rng(41);
const x = Float32Array.from(randomArray(rng, T * B * I));
const up = Float32Array.from(randomArray(rng, T * B * H));

/** Every gradient a layer's backward gives for upstream `up`·scale (input and parameter gradients). */
type Grads = Record<string, Float32Array>;

const cells: Record<string, (kernels: Kernels, scale: number) => Grads> = {
  egru: (kernels, scale) => {
    const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: 3, thresholdMean: 0.05, kernels });
    const r = layer.forward({ x, T, B });
    const d = layer.backward(r, { dy: up.map((v) => v * scale) });
    return { dx: d.dx, ...layer.grads };
  },
  gru: (kernels, scale) => {
    const layer = new GRU({ inputSize: I, hiddenSize: H, seed: 3, kernels });
    const r = layer.forward({ x, T, B });
    const d = layer.backward(r, { dOutput: up.map((v) => v * scale) });
    return { dx: d.dx, ...layer.grads };
  },
  lstm: (kernels, scale) => {
    const layer = new LSTM({ inputSize: I, hiddenSize: H, seed: 3, kernels });
    const r = layer.forward({ x, T, B });
    const d = layer.backward(r, { dOutput: up.map((v) => v * scale) });
    return { dx: d.dx, dh0: d.dh0, dc0: d.dc0, ...layer.grads };
  },
};

test("flushTiny keeps 2^−100 and above, zeroes what is below (either sign)", () => {
  assert.equal(FLUSH_BELOW, 2 ** -100);
  for (const v of [2 ** -100, -(2 ** -100), 1e-20, -3.5, 0]) assert.equal(flushTiny(v), v);
  for (const v of [2 ** -101, -(2 ** -101), 1e-38, -1e-45, 2 ** -149]) assert.equal(flushTiny(v), 0);
});

describeOnKernelSets("backward adjoints under 2^−100 are stored as zero", (kernels) => {
  for (const [name, run] of Object.entries(cells)) {
    test(`${name}: at 2^−60 the gradients are exactly 2^−60 times the unscaled ones; at 2^−110 all are zero`, () => {
      const one = run(kernels, 1);
      const small = run(kernels, 2 ** -60);
      const tiny = run(kernels, 2 ** -110);
      let nonzero = 0;
      for (const [k, g] of Object.entries(one)) {
        nonzero += g.filter((v) => v !== 0).length;
        assert.deepEqual(
          Array.from(small[k]),
          Array.from(g, (v) => v * 2 ** -60),
          `${name} ${k}: scaled exactly`,
        );
        if (k === "thr") {
          // the thresholds' gradient adds this step's terms straight into its sum, which no product
          // reads: not flushed itself, only its share from the (flushed) carried adjoints vanishes
          assert.ok(
            tiny[k].every((v) => Math.abs(v) < 2 ** -95),
            `${name} thr: of the scaled size`,
          );
          continue;
        }
        assert.ok(
          tiny[k].every((v) => v === 0),
          `${name} ${k}: every adjoint of an upstream gradient scaled by 2^−110 is flushed`,
        );
      }
      assert.ok(nonzero > 0, `${name}: the unscaled gradients are not all zero`);
    });
  }
});
