// One name for the same thing across the three cells: every forward result has `output` [T, B, H]
// and `state`, every backward takes `dOutput`; for EGRU these are y and dy under the shared names.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import { randomArray } from "../helpers.js";

const T = 4,
  B = 3,
  I = 5,
  H = 6;

test("every cell's result has output [T, B, H] and state, and its backward takes dOutput", () => {
  const x = randomArray(new Rng(1), T * B * I, 1);
  const g = randomArray(new Rng(2), T * B * H, 1);
  for (const make of [
    () => new EGRU({ inputSize: I, hiddenSize: H, seed: 3, thresholdMean: 0.1 }),
    () => new GRU({ inputSize: I, hiddenSize: H, seed: 3 }),
    () => new LSTM({ inputSize: I, hiddenSize: H, seed: 3 }),
  ]) {
    const layer = make();
    const r = layer.forward({ x, T, B });
    assert.equal(r.output.length, T * B * H, layer.constructor.name);
    assert.ok(r.state);
    const d = layer.backward(r as never, { dOutput: g });
    assert.ok(
      d.dx.some((v) => v !== 0),
      `${layer.constructor.name}: dOutput reaches dx`,
    );
  }
});

test("EGRU: output is y and dOutput is dy, bit for bit; both at once is an error", () => {
  const x = randomArray(new Rng(4), T * B * I, 1);
  const g = randomArray(new Rng(5), T * B * H, 1);
  const run = (up: { dy?: ArrayLike<number>; dOutput?: ArrayLike<number> }) => {
    const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: 6, thresholdMean: 0.1 });
    const r = layer.forward({ x, T, B });
    assert.equal(r.output, r.y);
    const d = layer.backward(r, up);
    return { dx: Array.from(d.dx), dR: Array.from(layer.grads.recurrent_kernel) };
  };
  assert.deepEqual(run({ dOutput: g }), run({ dy: g }));
  const layer = new EGRU({ inputSize: I, hiddenSize: H });
  assert.throws(() => layer.backward(layer.forward({ x, T, B }), { dy: g, dOutput: g }), ValueError);
});
