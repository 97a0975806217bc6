// The blocks other models need: the token embedding with word-level dropout, and the three
// dropout variants (per value, locked per sequence, per time step) with their backward.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { dropoutBackward, dropoutForward } from "../../packages/egru/src/nn/dropout.js";
import { Embedding } from "../../packages/egru/src/nn/embedding.js";

test("embedding: rows by token id, init in ±0.1, gradient scatter-added into the rows used", () => {
  const emb = new Embedding({ vocab: 7, dim: 3, rng: new Rng(1) });
  assert.ok(emb.weights.weight.every((v) => Math.abs(v) <= 0.1));
  const tokens = [2, 5, 2];
  const r = emb.forward(tokens);
  assert.deepEqual(Array.from(r.out.subarray(3, 6)), Array.from(emb.weights.weight.subarray(15, 18)));
  const g = Float32Array.from({ length: 9 }, (_, i) => i + 1);
  emb.backward(r, g);
  assert.deepEqual(Array.from(emb.grads.weight.subarray(6, 9)), [1 + 7, 2 + 8, 3 + 9], "token 2 twice");
  assert.deepEqual(Array.from(emb.grads.weight.subarray(15, 18)), [4, 5, 6]);
  assert.equal(
    emb.grads.weight.subarray(0, 6).reduce((a, b) => a + Math.abs(b), 0),
    0,
  );
  assert.throws(() => emb.forward([7]), ValueError);
});

test("embedding word dropout drops whole vocabulary rows, rescales the rest, and only in training", () => {
  const emb = new Embedding({ vocab: 400, dim: 2, wordDropout: 0.25, rng: new Rng(2) });
  const tokens = Array.from({ length: 2000 }, (_, i) => i % 400);
  const r = emb.forward(tokens);
  let dropped = 0;
  for (let n = 0; n < 400; n++) {
    const again = r.out[(n + 400) * 2] / emb.weights.weight[n * 2];
    const first = r.out[n * 2] / emb.weights.weight[n * 2];
    assert.ok(Math.abs(again - first) < 1e-6, "every occurrence of a word gets the same mask");
    if (first === 0) dropped++;
    else assert.ok(Math.abs(first - 1 / 0.75) < 1e-6);
  }
  assert.ok(dropped > 60 && dropped < 140, `dropped ${dropped} of 400 words`);
  emb.zeroGrad();
  emb.backward(r, new Float32Array(4000).fill(1));
  for (let n = 0; n < 400; n++) assert.equal(emb.grads.weight[n * 2] === 0, r.out[n * 2] === 0);
  emb.eval();
  assert.deepEqual(Array.from(emb.forward([3]).out), Array.from(emb.weights.weight.subarray(6, 8)));
});

test("dropout variants: mask shapes, drop rates, scaling, backward and evaluation", () => {
  const T = 30,
    B = 20,
    F = 10;
  const x = new Float32Array(T * B * F).fill(1);
  for (const kind of ["dropout", "locked", "step"] as const) {
    const r = dropoutForward(kind, x, T, B, F, 0.3, new Rng(3), true);
    const zeros = r.out.filter((v) => v === 0).length / r.out.length;
    assert.ok(Math.abs(zeros - 0.3) < 0.06, `${kind}: dropped ${zeros}`);
    assert.ok(r.out.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6));
    const at = (t: number, b: number, f: number) => r.out[(t * B + b) * F + f];
    if (kind === "locked")
      for (let t = 1; t < T; t++) assert.equal(at(t, 4, 2), at(0, 4, 2), "locked: the same for every step");
    if (kind === "step")
      for (let b = 1; b < B; b++) assert.equal(at(5, b, 2), at(5, 0, 2), "step: the same for every sequence");
    const d = Float32Array.from({ length: x.length }, (_, i) => i % 7);
    const g = dropoutBackward(kind, d, r.mask, T, B, F);
    for (let i = 0; i < x.length; i += 37) assert.equal(g[i], Math.fround(d[i] * r.out[i]));
    assert.deepEqual(dropoutForward(kind, x, T, B, F, 0.3, new Rng(3), false).out, x, "evaluation: identity");
  }
  assert.throws(() => dropoutForward("dropout", x, T, B, F, 1, new Rng(1), true), ValueError);
});
