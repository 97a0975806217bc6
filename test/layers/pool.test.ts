// The array pool: recycled arrays come back zeroed, only whole float32 buffers the pool made are pooled, and an
// EGRU layer that releases its results computes exactly what a fresh one does.

import assert from "node:assert/strict";
import { test } from "node:test";
import { StateError } from "../../packages/egru/src/core/errors.js";
import { clearPool, POOL_MIN_LENGTH, pooledByteCount, recycle, takeZeroed } from "../../packages/egru/src/core/pool.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import { randomArray } from "../helpers.js";

test("recycled arrays come back zeroed, once, and only whole float32 buffers are kept", () => {
  clearPool();
  const n = POOL_MIN_LENGTH + 3;
  const a = takeZeroed(n).fill(7);
  recycle(a, a); // twice: kept once
  assert.equal(pooledByteCount(), 4 * n);
  const b = takeZeroed(n);
  assert.equal(b, a);
  assert.ok(b.every((v) => v === 0));
  assert.notEqual(takeZeroed(n), a, "the pool is empty again");
  recycle(new Float32Array(2 * n).subarray(0, n), new Float64Array(n) as unknown as Float32Array, new Float32Array(5));
  assert.equal(pooledByteCount(), 0, "views, float64 arrays and small arrays are not pooled");
  // an array the pool did not make is not taken in: recycling one each step would grow the pool
  // by one array a step (once ~80 MiB an epoch in a classifier) instead of reusing the working set
  recycle(new Float32Array(n));
  assert.equal(pooledByteCount(), 0, "arrays made elsewhere are left to the garbage collector");
});

test("an EGRU layer that releases its results gives the bits of a fresh run; a released result is refused", () => {
  clearPool();
  const T = 9,
    B = 40,
    I = 50,
    H = 70; // T·B·H above the pool's minimum length
  const x = Float32Array.from(randomArray(new Rng(1), T * B * I, 1.5));
  const dy = Float32Array.from(randomArray(new Rng(2), T * B * H));
  const run = () => {
    const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: 3, weightGain: 1.5, zoneout: 0.1 }).train();
    const r = layer.forward({ x, T, B, batchFirst: true });
    const y = r.y.slice();
    const d = layer.backward(r, { dy });
    const grads = Object.values(layer.grads).map((g) => g.slice());
    r.release();
    assert.throws(() => layer.backward(r, { dy }), StateError);
    assert.throws(() => layer.receiveMask(r), StateError);
    return [y, d.dx, d.dy0, ...grads];
  };
  const first = run();
  assert.ok(pooledByteCount() > 0, "the run handed arrays back");
  const second = run(); // now served from the pool
  second.forEach((a, i) => assert.deepEqual(a, first[i], `array ${i}`));
});

test("GRU and LSTM results release too, and the next run is unchanged", () => {
  clearPool();
  const T = 7,
    B = 30,
    I = 20,
    H = 90;
  const x = Float32Array.from(randomArray(new Rng(5), T * B * I));
  const d = Float32Array.from(randomArray(new Rng(6), T * B * H));
  for (const make of [
    () => new GRU({ inputSize: I, hiddenSize: H, seed: 7 }),
    () => new LSTM({ inputSize: I, hiddenSize: H, seed: 7 }),
  ]) {
    const run = () => {
      const layer = make();
      const r = layer.forward({ x, T, B });
      const out = r.output.slice();
      const g = layer.backward(r as never, { dOutput: d });
      const grads = Object.values(layer.grads).map((v) => v.slice());
      r.release();
      assert.throws(() => layer.backward(r as never, { dOutput: d }), StateError);
      return [out, g.dx, ...grads];
    };
    const first = run();
    run().forEach((a, i) => assert.deepEqual(a, first[i], `array ${i}`));
  }
  assert.ok(pooledByteCount() > 0);
});
