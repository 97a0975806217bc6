// Linear layer: forward and backward against a float64 computation, central differences (the
// layer is affine, so differences with a large step are exact up to float32 rounding), the
// event-input path against the dense one (each on every kernel set, test/kernel-sets.ts), and the
// PyTorch layout conversion.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { ShapeError } from "../../packages/egru/src/core/errors.js";
import { Linear } from "../../packages/egru/src/layers/linear.js";
import { assertClose, dot, randomArray } from "../helpers.js";
import { describeOnKernelSets } from "../kernel-sets.js";

const N = 7;
const I = 9;
const O = 5;

function eventInput(seed: number): Float32Array {
  const x = Float32Array.from(randomArray(new Rng(seed), N * I));
  for (let i = 0; i < x.length; i++) if (i % 3 !== 0) x[i] = 0; // two thirds silent
  return x;
}

describeOnKernelSets("forward, backward and the event-input path", (kernels) => {
  test("forward and backward equal the float64 formulas", () => {
    const layer = new Linear({ kernels, inputSize: I, outputSize: O, seed: 1 });
    const x = Float32Array.from(randomArray(new Rng(2), N * I));
    const G = Float32Array.from(randomArray(new Rng(3), N * O));
    const r = layer.forward(x, N);
    const W = layer.weights.weight;
    const b = layer.weights.bias;
    const y = new Float64Array(N * O);
    const dx = new Float64Array(N * I);
    const dW = new Float64Array(I * O);
    for (let n = 0; n < N; n++)
      for (let o = 0; o < O; o++) {
        y[n * O + o] = b[o];
        for (let i = 0; i < I; i++) {
          y[n * O + o] += x[n * I + i] * W[i * O + o];
          dx[n * I + i] += G[n * O + o] * W[i * O + o];
          dW[i * O + o] += x[n * I + i] * G[n * O + o];
        }
      }
    assertClose(r.y, y, { atol: 1e-6, rtol: 1e-5, name: "y" });
    const d = layer.backward(r, G);
    assertClose(d.dx, dx, { atol: 1e-6, rtol: 1e-5, name: "dx" });
    assertClose(layer.grads.weight, dW, { atol: 1e-6, rtol: 1e-5, name: "dW" });
    const db = Array.from({ length: O }, (_, o) =>
      Array.from({ length: N }, (_, n) => G[n * O + o]).reduce((a, v) => a + v, 0),
    );
    assertClose(layer.grads.bias, db, { atol: 1e-6, rtol: 1e-5, name: "db" });
  });

  test("central differences of L = Σ y ⊙ G for every weight, bias and input", () => {
    const layer = new Linear({ kernels, inputSize: I, outputSize: O, seed: 4 });
    const x = Float32Array.from(randomArray(new Rng(5), N * I));
    const G = randomArray(new Rng(6), N * O);
    const loss = (): number => dot(layer.forward(x, N).y, G);
    const d = layer.backward(layer.forward(x, N), Float32Array.from(G));
    const eps = 0.25; // L is affine in each coordinate: no truncation error, only float32 rounding
    for (const [name, arr, grad] of [
      ["weight", layer.weights.weight, layer.grads.weight],
      ["bias", layer.weights.bias, layer.grads.bias],
      ["x", x, d.dx],
    ] as const) {
      for (let i = 0; i < arr.length; i++) {
        const keep = arr[i];
        arr[i] = keep + eps;
        const up = loss();
        arr[i] = keep - eps;
        const down = loss();
        arr[i] = keep;
        const fd = (up - down) / (2 * eps);
        assert.ok(Math.abs(fd - grad[i]) < 2e-5 + 1e-4 * Math.abs(fd), `${name}[${i}]: ${grad[i]} vs ${fd}`);
      }
    }
  });

  test("event input: same numbers as the dense path, fewer MACs, dx only where masked in", () => {
    const dense = new Linear({ kernels, inputSize: I, outputSize: O, seed: 7 });
    const events = new Linear({ kernels, inputSize: I, outputSize: O, seed: 7, inputEvents: true });
    const x = eventInput(8);
    const G = Float32Array.from(randomArray(new Rng(9), N * O));
    const rd = dense.forward(x, N);
    const re = events.forward(x, N);
    assert.deepEqual(re.y, rd.y);
    let nz = 0;
    for (const v of x) if (v !== 0) nz++;
    assert.equal(re.macs.executed, nz * O);
    assert.equal(rd.macs.executed, N * I * O);
    const mask = x.map((v) => (v !== 0 ? 1 : 0));
    const dd = dense.backward(rd, G);
    const de = events.backward(re, G, { dxMask: mask });
    for (let i = 0; i < x.length; i++) assert.equal(de.dx[i], mask[i] ? dd.dx[i] : 0);
    assert.deepEqual(events.grads.weight, dense.grads.weight);
    assert.deepEqual(events.grads.bias, dense.grads.bias);
    assert.equal(de.macs.executed, 2 * nz * O);
  });
});

test("PyTorch layout round trip and checks", () => {
  const layer = new Linear({ inputSize: I, outputSize: O, seed: 10 });
  const t = layer.getTorchWeights();
  assert.equal(t.weight[1 * I + 2], layer.weights.weight[2 * O + 1], "torch weight[o, i] = ours[i, o]");
  const other = new Linear({ inputSize: I, outputSize: O, seed: 11 });
  other.setTorchWeights(t);
  assert.deepEqual(other.weights, layer.weights);
  assert.throws(() => layer.forward(new Float32Array(3), N), ShapeError);
  assert.throws(
    () => new Linear({ inputSize: I, outputSize: O, bias: false }).setTorchWeights({ bias: [1, 2, 3, 4, 5] }),
    ShapeError,
  );
});
