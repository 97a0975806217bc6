// The seeded generator (core/rng.ts): fillBernoulli gives the draws of bernoulli() called once per
// entry — the same values and the same state after, for any probability and scale — and the
// dropout and keep masks built on it keep their rates.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { drawKeepMask } from "../../packages/egru/src/layers/common.js";

test("fillBernoulli equals bernoulli() entry by entry and leaves the same state", () => {
  for (const [seed, n, p, value] of [
    [1, 0, 0.5, 1],
    [2, 1, 0.5, 1],
    [3, 1001, 0.9, 1],
    [4, 777, 0.1, 1 / 0.9],
    [2 ** 40 + 5, 513, 0, 2],
    [6, 333, 1, 1],
    [7, 4096, 0.37, 3.25],
  ] as const) {
    const a = new Rng(seed);
    const b = new Rng(seed);
    const want = new Float32Array(n);
    for (let i = 0; i < n; i++) want[i] = a.bernoulli(p) * value;
    const got = new Float32Array(n);
    b.fillBernoulli(got, p, value);
    assert.deepEqual(got, want, `seed ${seed}, n ${n}, p ${p}`);
    assert.deepEqual(b.getState(), a.getState(), `seed ${seed}: the state after`);
    assert.equal(b.nextUint32(), a.nextUint32(), `seed ${seed}: the next draw`);
  }
});

test("drawKeepMask keeps about 1 − p of the entries, each 0 or 1", () => {
  const m = drawKeepMask(new Rng(9), 100000, 0.3);
  let kept = 0;
  for (const v of m) {
    assert.ok(v === 0 || v === 1);
    kept += v;
  }
  assert.ok(Math.abs(kept / m.length - 0.7) < 0.01, `kept ${kept / m.length}`);
});
