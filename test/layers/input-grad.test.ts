// A backward told that its input needs no gradient (inputGrad: false, the bottom layer of a model on
// data) skips the input product: the parameter gradients and the initial state's gradient are the
// bits of a full backward, dx comes back empty, and the multiply-accumulates counted (executed and
// dense) drop by the skipped product's T·B·G·I. EGRU, GRU and LSTM, on the TypeScript and the
// WebAssembly kernels, at odd sizes; and a classifier on data skips its bottom layer's dx.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import { SequenceClassifier } from "../../packages/egru/src/nn/classifier.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { randomArray } from "../helpers.js";

const [T, B, I, H] = [5, 3, 7, 11];
const bits = (a: ArrayLike<number>): string => Buffer.from(Float32Array.from(a).buffer).toString("hex");
const wasm = await loadWasmKernels();
const sets: [string, Kernels | null][] = [
  ["TypeScript", jsKernels],
  ["WebAssembly", wasm],
];

type Cell = "egru" | "gru" | "lstm";
/** One forward and backward of a fresh layer; the backward with or without the input's gradient. */
function run(cell: Cell, kernels: Kernels, inputGrad: boolean) {
  const x = randomArray(new Rng(4), T * B * I, 2);
  const up = randomArray(new Rng(6), T * B * H);
  if (cell === "egru") {
    const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: 3, weightGain: 2, kernels });
    const r = layer.forward({ x, T, B, y0: randomArray(new Rng(5), B * H, 0.3) });
    const d = layer.backward(r, { dy: up }, { inputGrad });
    return { grads: layer.grads, dx: d.dx, state: [d.dy0], macs: d.macs };
  }
  if (cell === "gru") {
    const layer = new GRU({ inputSize: I, hiddenSize: H, seed: 3, kernels });
    const r = layer.forward({ x, T, B, h0: randomArray(new Rng(5), B * H, 0.3) });
    const d = layer.backward(r, { dOutput: up }, { inputGrad });
    return { grads: layer.grads, dx: d.dx, state: [d.dh0], macs: null };
  }
  const layer = new LSTM({ inputSize: I, hiddenSize: H, seed: 3, kernels });
  const r = layer.forward({ x, T, B, h0: randomArray(new Rng(5), B * H, 0.3), c0: randomArray(new Rng(8), B * H) });
  const d = layer.backward(r, { dOutput: up }, { inputGrad });
  return { grads: layer.grads, dx: d.dx, state: [d.dh0, d.dc0], macs: null };
}

describe("inputGrad: false skips the input's gradient and changes nothing else", () => {
  for (const [name, kernels] of sets)
    for (const cell of ["egru", "gru", "lstm"] as const)
      test(`${cell}, ${name} kernels`, { skip: kernels ? false : "WebAssembly SIMD is not available here" }, () => {
        const full = run(cell, kernels as Kernels, true);
        const skip = run(cell, kernels as Kernels, false);
        assert.equal(full.dx.length, T * B * I);
        assert.ok(
          full.dx.some((v) => v !== 0),
          "the full backward's dx is not all zero",
        );
        assert.equal(skip.dx.length, 0, "no dx");
        for (const k of Object.keys(full.grads)) assert.equal(bits(skip.grads[k]), bits(full.grads[k]), k);
        full.state.forEach((s, i) => assert.equal(bits(skip.state[i]), bits(s), `initial state ${i}`));
        if (full.macs && skip.macs) {
          const dx = T * B * 3 * H * I;
          assert.equal(skip.macs.dense, full.macs.dense - dx, "dense MACs without dx");
          assert.equal(skip.macs.executed, full.macs.executed - dx, "executed MACs without dx (computed dense here)");
        }
      });
});

test("a classifier on data does not compute its bottom layer's input gradient", () => {
  const opts = {
    cell: "egru" as const,
    inputSize: I,
    hiddenSize: H,
    layers: 2,
    classes: 4,
    readout: "mean" as const,
    seed: 2,
  };
  const m = new SequenceClassifier({ ...opts, kernels: jsKernels });
  const x = Float32Array.from(randomArray(new Rng(9), T * B * I, 1.5));
  const run = m.forward(x, T, B);
  const dlogits = Float32Array.from(randomArray(new Rng(10), B * 4));
  m.zeroGrad();
  m.backward(run, dlogits);
  const l0 = run.layers[0].backwardMacs;
  const l1 = run.layers[1].backwardMacs;
  // the top layer (input H) counts its dx; the bottom one (input I, on data) does not
  assert.equal(l1.dense - T * B * 3 * H * (2 * H + H) - T * B * 3 * H * H, 0, "layer 1 counts dx");
  assert.equal(l0.dense - T * B * 3 * H * (I + H) - T * B * 3 * H * H, 0, "layer 0 counts no dx");
  // and the gradients equal those of a backward that computes dx and drops it: the parameters of a
  // second model, run through the layer API with inputGrad true, agree bit for bit
  const ref = new SequenceClassifier({ ...opts, kernels: jsKernels });
  const r2 = ref.forward(x, T, B);
  ref.zeroGrad();
  const orig = ref.cells[0].backward.bind(ref.cells[0]);
  ref.cells[0].backward = (r, up, mask) => orig(r, up, mask, true);
  ref.backward(r2, dlogits);
  const a = m.params();
  const b = ref.params();
  a.forEach((p, i) => assert.equal(bits(p.grad), bits(b[i].grad), p.name));
  m.release(run);
  ref.release(r2);
});
