// fit(), evaluate() and predict(): one fit step is exactly a hand-written step (forward, loss,
// backward, clipping, optimizer); training lowers the loss of a classifier and a language model;
// callbacks per step and epoch; an AbortSignal stops after the current step (fit resolves with
// aborted: true), including one aborted from a timer, which only runs because fit yields
// macrotasks between batches; predict agrees with the forward; bad data is a typed error; fit puts
// the weights in the kernels' memory unless told not to, with the same results.

import assert from "node:assert/strict";
import { test } from "node:test";
import { NonFiniteError, ShapeError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import {
  clipGradNorm,
  createModel,
  gatherBatch,
  Optimizer,
  softmaxCrossEntropy,
  type ClassifierConfig,
  type FitStepInfo,
  type SequenceData,
} from "../../packages/egru/src/index.js";

const [T, I] = [6, 3];
const config = (cell: "egru" | "gru" | "lstm"): ClassifierConfig => ({
  type: "sequence-classifier",
  cell,
  inputSize: I,
  hiddenSize: 16,
  layers: 2,
  classes: 2,
  readout: cell === "egru" ? "trace" : "last",
  seed: 3,
});

/** Class 1 when the sum of the first feature over time is positive. */
function toyData(n: number, seed: number): SequenceData {
  const r = new Rng(seed);
  const x = Float32Array.from({ length: n * T * I }, () => r.normal(0, 1));
  const labels = Int32Array.from({ length: n }, (_, k) => {
    let s = 0;
    for (let t = 0; t < T; t++) s += x[(k * T + t) * I];
    return s > 0 ? 1 : 0;
  });
  return { x, labels, T };
}

test("one fit step is exactly the hand-written step: forward, loss, backward, clip, optimizer", async () => {
  const data = toyData(20, 1);
  const [a, b] = [createModel(config("gru")), createModel(config("gru"))];
  const opt = { kind: "adam" as const };
  const r = await a.fit(data, { epochs: 1, batchSize: 20, shuffle: false, optimizer: opt, lr: 0.01, clip: 0.05 });
  assert.equal(r.steps, 1);
  b.train();
  b.zeroGrad();
  const run = b.forward(
    gatherBatch(
      data.x,
      T,
      I,
      Int32Array.from({ length: 20 }, (_, k) => k),
    ),
    T,
    20,
  );
  b.backward(run, softmaxCrossEntropy(run.logits, data.labels, 2).dlogits);
  const norm = clipGradNorm(b.params(), 0.05);
  assert.ok(norm > 0.05, `the clip is active (norm ${norm})`);
  new Optimizer(opt).step(b.params(), 0.01);
  assert.deepEqual(a.stateDict(), b.stateDict());
});

test("fit puts the weights in the kernels' memory before its first step (the same bits); placeWeights: false does not", async () => {
  const wasm = await loadWasmKernels();
  assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20");
  const data = toyData(40, 4);
  const [placed, left] = [
    createModel(config("egru"), { kernels: wasm }),
    createModel(config("egru"), { kernels: wasm }),
  ];
  const before = left.params().map((p) => p.value);
  const opts = { epochs: 1, batchSize: 20, shuffle: false, lr: 0.01, clip: 1 };
  await placed.fit(data, opts);
  await left.fit(data, { ...opts, placeWeights: false });
  assert.ok(
    placed.params().every((p) => wasm.inMemory?.(p.value) && wasm.inMemory?.(p.grad)),
    "placed",
  );
  assert.ok(
    left.params().every((p, k) => !wasm.inMemory?.(p.value) && p.value === before[k]),
    "left where they were",
  );
  assert.deepEqual(placed.stateDict(), left.stateDict());
});

for (const cell of ["egru", "gru", "lstm"] as const) {
  test(`${cell}: fit lowers the loss; onStep and onEpoch are called; evaluate and predict agree`, async () => {
    const [train, valid] = [toyData(192, 2), toyData(64, 3)];
    const m = createModel(config(cell));
    const before = m.evaluate(valid);
    const steps: FitStepInfo[] = [];
    const epochs: number[] = [];
    const optimizer = new Optimizer({ kind: "adam" });
    const r = await m.fit(train, {
      epochs: 4,
      batchSize: 32,
      optimizer,
      lr: 0.01,
      clip: 1,
      validationData: valid,
      onStep: (s) => steps.push(s),
      onEpoch: (e) => epochs.push(e.epoch),
    });
    assert.equal(r.aborted, false);
    assert.equal(r.steps, 24);
    assert.equal(optimizer.steps, 24);
    assert.deepEqual(epochs, [0, 1, 2, 3]);
    assert.deepEqual(
      steps.map((s) => s.step),
      Array.from({ length: 24 }, (_, k) => k + 1),
    );
    assert.ok(steps.every((s) => s.batches === 6 && Number.isFinite(s.loss) && s.accuracy !== undefined));
    const after = m.evaluate(valid);
    assert.ok(after.loss < before.loss, `valid loss ${before.loss} → ${after.loss}`);
    assert.ok(r.history[3].loss < r.history[0].loss);
    assert.deepEqual(r.history[3].validation, m.evaluate(valid, { batchSize: 32 })); // validated at the training batch size
    assert.equal(m.training, true, "fit and evaluate leave the model in training mode");
    const p = m.predict(valid.x, { T, batchSize: 10 });
    assert.equal(p.classes.length, 64);
    const correct = p.classes.filter((c, k) => c === valid.labels[k]).length;
    assert.equal(correct / 64, after.accuracy);
    if (cell === "egru")
      assert.ok(after.activitySparsity > 0 && after.macsPerExample.executed < after.macsPerExample.dense);
  });
}

test("an AbortSignal stops fit after the current step; a timer can abort it because fit yields macrotasks", async () => {
  const data = toyData(256, 4);
  const m = createModel(config("egru"));
  const pre = new AbortController();
  pre.abort();
  const none = await m.fit(data, { epochs: 1, batchSize: 8, signal: pre.signal });
  assert.deepEqual([none.aborted, none.steps], [true, 0]);
  const ac = new AbortController();
  let timerRan = false;
  setTimeout(() => {
    timerRan = true;
    ac.abort();
  }, 0);
  let steps = 0;
  const r = await m.fit(data, { epochs: 5, batchSize: 8, signal: ac.signal, onStep: () => steps++ });
  assert.ok(timerRan);
  assert.equal(r.aborted, true);
  assert.ok(r.steps >= 1 && r.steps < 160, `${r.steps} steps`);
  assert.equal(steps, r.steps);
});

test("a language model: fit on a token stream lowers the perplexity", async () => {
  const pattern = [1, 2, 3, 4, 5, 1, 2, 6, 7, 8];
  const tokens = Int32Array.from({ length: 2000 }, (_, k) => pattern[k % pattern.length]);
  for (const cell of ["egru", "gru"] as const) {
    const m = createModel({ type: "language-model", cell, vocab: 10, embedding: 8, hidden: 16, layers: 2, seed: 1 });
    const before = m.evaluate({ tokens }, { batchSize: 4, bptt: 10 });
    const r = await m.fit({ tokens }, { epochs: 3, batchSize: 8, bptt: 10, lr: 0.01, clip: 0.5 });
    assert.equal(r.steps, 3 * Math.ceil((250 - 1) / 10));
    const after = m.evaluate({ tokens }, { batchSize: 4, bptt: 10 });
    assert.ok(
      after.perplexity < before.perplexity / 2,
      `${cell}: perplexity ${before.perplexity} → ${after.perplexity}`,
    );
    assert.equal(m.predict(tokens.subarray(0, 12), { B: 2 }).logits.length, 12 * 10);
  }
});

test("typed errors for bad data and options", async () => {
  const m = createModel(config("gru"));
  await assert.rejects(m.fit({ x: new Float32Array(10), labels: [0, 1], T }), ShapeError);
  await assert.rejects(m.fit(toyData(4, 1), { epochs: 0 }), ValueError);
  await assert.rejects(m.fit({ tokens: [1, 2, 3] } as never), ValueError);
  assert.throws(() => m.evaluate({ x: new Float32Array(0), labels: [], T }), ShapeError);
  const d = toyData(4, 1);
  assert.throws(() => m.evaluate({ ...d, labels: [0, 1, 2, 0] }), ValueError);
  m.cells[0].layer.weights.kernel[0] = NaN;
  await assert.rejects(
    m.fit(d, { batchSize: 2 }),
    (e: unknown) => e instanceof NonFiniteError && /^step 1 \(epoch 1, batch 1\): /.test(e.message),
  );
});
