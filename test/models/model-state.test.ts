// The model API's configurations, state dicts and saving: JSON configs that rebuild the model (EGRU's
// clip inside backward among their options), PyTorch-style names and shapes (EvNN's for EGRU,
// nn.GRU/nn.LSTM's for the baselines, the LM's encoder/rnns/decoder), load round trips, typed errors
// listing missing/unexpected names and naming wrong shapes, save()/loadModel() in memory and on
// disk, and kernels passed to every layer.

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ShapeError, StateError, ValueError } from "../../packages/egru/src/core/errors.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import { getKernels, setKernels } from "../../packages/egru/src/wasm/select.js";
import type { EGRU } from "../../packages/egru/src/layers/egru.js";
import type { GRU } from "../../packages/egru/src/layers/gru.js";
import {
  bundleModel,
  createModel,
  loadModel,
  RecurrentStack,
  type ClassifierConfig,
  type LanguageModelConfig,
  type StateDict,
} from "../../packages/egru/src/index.js";
import { loadModel as loadModelFile, saveModel } from "../../packages/egru/src/node.js";

const [T, B, I, H, C] = [4, 3, 5, 6, 3];
const classifier = (cell: "egru" | "gru" | "lstm", seed = 1): ClassifierConfig => ({
  type: "sequence-classifier",
  cell,
  inputSize: I,
  hiddenSize: H,
  layers: 2,
  classes: C,
  readout: cell === "egru" ? "trace" : "last",
  seed,
});
const lmConfig = (cell: "egru" | "gru" | "lstm", seed = 1): LanguageModelConfig => ({
  type: "language-model",
  cell,
  vocab: 11,
  embedding: 4,
  hidden: 6,
  layers: 3,
  seed,
  dropoutOutput: 0.5,
});
const xs = Float32Array.from({ length: T * B * I }, (_, k) => Math.sin(k));
const tokens = Int32Array.from({ length: T * B }, (_, k) => (k * 7) % 11);
const shapes = (d: StateDict): Record<string, number[]> =>
  Object.fromEntries(Object.entries(d).map(([k, t]) => [k, t.shape]));

test("a model's config is plain JSON that builds the same model again", () => {
  for (const config of [classifier("egru"), classifier("lstm"), lmConfig("gru")]) {
    const m = createModel(config);
    const again = createModel(JSON.parse(JSON.stringify(m.config)));
    assert.equal(m.config.type, config.type);
    assert.deepEqual(again.stateDict(), m.stateDict());
  }
  assert.throws(() => createModel({ ...classifier("gru"), type: "nope" } as never), ValueError);
});

test("a config field its type does not have is refused, naming it, not ignored", () => {
  // an EGRU option at the top level (it belongs under "egru") would otherwise build another model silently
  const misplaced = { ...lmConfig("egru"), pseudoDerivativeSupport: 3.6 } as LanguageModelConfig;
  assert.throws(
    () => createModel(misplaced),
    (e: unknown) => {
      assert.ok(e instanceof ValueError);
      assert.match(e.message, /model config: pseudoDerivativeSupport/);
      assert.match(e.message, /under "egru"/);
      return true;
    },
  );
  const typo = { ...classifier("gru"), hiddenSise: 7 } as ClassifierConfig;
  assert.throws(() => createModel(typo), /model config: hiddenSise/);
  const inner = { ...lmConfig("egru"), egru: { thresholdMean: 0.3, supportt: 1 } } as LanguageModelConfig;
  assert.throws(() => createModel(inner), /model config: egru\.supportt/);
  // every field a built model reports is accepted again, for each kind
  for (const cell of ["egru", "gru", "lstm"] as const) {
    for (const config of [classifier(cell), lmConfig(cell)]) {
      const built = createModel(config).config;
      assert.deepEqual(createModel(built).config, built);
    }
  }
  const withEgru = createModel({ ...lmConfig("egru"), egru: { pseudoDerivativeSupport: 3.6 } });
  assert.equal((withEgru.cells[0].layer as EGRU).pseudoDerivativeSupport, 3.6);
});

test("EGRU's clip inside backward is part of a model's config: every layer gets it, saving keeps it", () => {
  for (const config of [
    { ...classifier("egru"), egru: { gradClip: 0.25 } },
    { ...lmConfig("egru"), egru: { gradClip: 0.1 } },
  ]) {
    const m = createModel(config);
    const layers = m.cells.map((c) => c.layer as EGRU);
    assert.deepEqual(
      layers.map((l) => l.gradClip),
      layers.map(() => config.egru.gradClip),
    );
    assert.equal(m.config.egru?.gradClip, config.egru.gradClip);
    const copy = loadModel(m.save());
    assert.deepEqual(
      copy.cells.map((c) => (c.layer as EGRU).gradClip),
      layers.map((l) => l.gradClip),
    );
  }
  assert.equal((createModel(classifier("egru")).cells[0].layer as EGRU).gradClip, 0, "off by default");
});

test("state-dict names and shapes: EvNN's for EGRU, nn.GRU/nn.LSTM's, the LM's encoder, rnns and decoder", () => {
  assert.deepEqual(shapes(createModel(classifier("egru")).stateDict()), {
    "rnn.layers.0.kernel": [I, 3 * H],
    "rnn.layers.0.recurrent_kernel": [H, 3 * H],
    "rnn.layers.0.bias": [3 * H],
    "rnn.layers.0.recurrent_bias": [3 * H],
    "rnn.layers.0.thr": [H],
    "rnn.layers.1.kernel": [H, 3 * H],
    "rnn.layers.1.recurrent_kernel": [H, 3 * H],
    "rnn.layers.1.bias": [3 * H],
    "rnn.layers.1.recurrent_bias": [3 * H],
    "rnn.layers.1.thr": [H],
    "head.weight": [C, H],
    "head.bias": [C],
  });
  const gru = createModel(classifier("gru"));
  const d = gru.stateDict();
  assert.deepEqual(
    Object.keys(d).filter((k) => k.startsWith("rnn.")),
    [
      "rnn.weight_ih_l0",
      "rnn.weight_hh_l0",
      "rnn.bias_ih_l0",
      "rnn.bias_hh_l0",
      "rnn.weight_ih_l1",
      "rnn.weight_hh_l1",
      "rnn.bias_ih_l1",
      "rnn.bias_hh_l1",
    ],
  );
  assert.deepEqual(d["rnn.weight_ih_l1"].shape, [3 * H, H]);
  assert.deepEqual(d["rnn.weight_ih_l1"].data, (gru.cells[1].layer as GRU).getTorchWeights().weight_ih_l0); // nn.GRU's layout
  assert.deepEqual(shapes(createModel(classifier("lstm")).stateDict())["rnn.weight_hh_l1"], [4 * H, H]);
  assert.deepEqual(Object.keys(createModel(lmConfig("egru")).stateDict()), [
    "encoder.weight",
    ...[0, 1, 2].flatMap((l) =>
      ["kernel", "recurrent_kernel", "bias", "recurrent_bias", "thr"].map((k) => `rnns.${l}.${k}`),
    ),
    "decoder.bias",
    "decoder.weight",
  ]);
  const lstmLm = shapes(createModel(lmConfig("lstm")).stateDict());
  assert.deepEqual(
    [lstmLm["rnns.0.weight_ih_l0"], lstmLm["rnns.2.weight_hh_l0"], lstmLm["decoder.weight"]],
    [
      [24, 4],
      [16, 4],
      [11, 4],
    ],
  );
  // a stack alone: nn.GRU(num_layers=2)'s names
  const stack = new RecurrentStack({ cell: "gru", inputSize: I, hiddenSize: H, numLayers: 2 });
  assert.deepEqual(Object.keys(stack.stateDict()).slice(4), [
    "weight_ih_l1",
    "weight_hh_l1",
    "bias_ih_l1",
    "bias_hh_l1",
  ]);
});

test("a classifier with a CNN front end: its Conv2d and Linear tensors in PyTorch's shapes, and a load round trip", () => {
  const config: ClassifierConfig = {
    ...classifier("egru"),
    inputSize: 2 * 6 * 6,
    frontEnd: {
      layers: [
        { kind: "conv", out: 3, kernel: 3, padding: 1 },
        { kind: "relu" },
        { kind: "pool", kernel: 2 },
        { kind: "linear", out: 5 },
      ],
      channels: 2,
      height: 6,
      width: 6,
    },
  };
  const m = createModel(config);
  assert.deepEqual(
    Object.entries(shapes(m.stateDict())).filter(([k]) => k.startsWith("frontEnd.")),
    [
      ["frontEnd.0.weight", [3, 2, 3, 3]],
      ["frontEnd.0.bias", [3]],
      ["frontEnd.3.weight", [5, 27]],
      ["frontEnd.3.bias", [5]],
    ],
  );
  const other = createModel({ ...config, seed: 4 });
  other.loadStateDict(m.stateDict());
  assert.deepEqual(other.stateDict(), m.stateDict());
  const x = Float32Array.from({ length: T * B * 72 }, (_, k) => Math.cos(k));
  assert.deepEqual(other.eval().forward(x, T, B).logits, m.eval().forward(x, T, B).logits);
});

test("loadStateDict: another model's weights give its outputs exactly", () => {
  for (const cell of ["egru", "gru", "lstm"] as const) {
    const [a, b] = [createModel(classifier(cell, 1)).eval(), createModel(classifier(cell, 2)).eval()];
    assert.notDeepEqual(b.forward(xs, T, B).logits, a.forward(xs, T, B).logits);
    b.loadStateDict(a.stateDict());
    assert.deepEqual(b.forward(xs, T, B).logits, a.forward(xs, T, B).logits);
    const [la, lb] = [createModel(lmConfig(cell, 1)).eval(), createModel(lmConfig(cell, 2)).eval()];
    lb.forward(tokens, T, B); // the decoder's transposed copy is made, then must be refreshed by the load
    lb.loadStateDict(la.stateDict());
    assert.deepEqual(lb.forward(tokens, T, B).logits, la.forward(tokens, T, B).logits);
  }
});

test("loadStateDict errors: missing and unexpected names listed, a wrong shape named with both shapes, nothing changed", () => {
  const m = createModel(classifier("gru"));
  const before = m.stateDict();
  const d = m.stateDict();
  delete d["rnn.bias_hh_l1"];
  d["rnn.extra"] = { shape: [1], data: new Float32Array(1) };
  assert.throws(
    () => m.loadStateDict(d),
    (e: unknown) =>
      e instanceof ShapeError && /missing rnn\.bias_hh_l1/.test(e.message) && /unexpected rnn\.extra/.test(e.message),
  );
  const bad = createModel(classifier("gru", 5)).stateDict();
  bad["rnn.weight_ih_l0"] = { shape: [I, 3 * H], data: new Float32Array(I * 3 * H) }; // transposed
  assert.throws(
    () => m.loadStateDict(bad),
    (e: unknown) =>
      e instanceof ShapeError &&
      e.argument.endsWith("rnn.weight_ih_l0") &&
      /\[18, 5\]/.test(e.expected) &&
      /\[5, 18\]/.test(e.got),
  );
  assert.deepEqual(m.stateDict(), before);
  const lm = createModel(lmConfig("gru"));
  const ld = lm.stateDict();
  ld["decoder.weight"] = { shape: [4, 11], data: ld["decoder.weight"].data };
  assert.throws(() => lm.loadStateDict(ld), /decoder\.weight/);
  delete ld["decoder.weight"]; // tied: optional
  lm.loadStateDict(ld);
});

test("save() and loadModel(): in memory, as one bundle, and on disk; damaged input is a typed error", () => {
  for (const config of [classifier("egru"), lmConfig("lstm")]) {
    const m = createModel(config);
    m.loadStateDict(createModel({ ...config, seed: 9 }).stateDict()); // weights that the seed alone does not give
    const saved = m.save();
    assert.ok(saved.weights instanceof Uint8Array);
    for (const back of [loadModel(saved), loadModel(bundleModel(saved))])
      assert.deepEqual(back.stateDict(), m.stateDict());
    const dir = mkdtempSync(join(tmpdir(), "egru-model-"));
    saveModel(m, dir);
    assert.deepEqual(loadModelFile(dir).stateDict(), m.stateDict());
    writeFileSync(join(dir, "bundle.safetensors"), bundleModel(saved));
    assert.deepEqual(loadModelFile(join(dir, "bundle.safetensors")).stateDict(), m.stateDict());
  }
  const saved = createModel(classifier("gru")).save();
  assert.throws(() => loadModel({ ...saved, weights: saved.weights.subarray(0, 20) }), ValueError);
  assert.throws(
    () => loadModel(saved.weights),
    (e: unknown) => e instanceof ValueError && /config/.test(e.message),
  );
  assert.throws(() => loadModel({ ...saved, config: classifier("lstm") }), ShapeError);
  assert.throws(() => loadModelFile(join(tmpdir(), "no-such-egru-model")), StateError);
  assert.throws(
    () => loadModelFile(mkdtempSync(join(tmpdir(), "egru-empty-"))),
    (e: unknown) => e instanceof StateError && /model\.json/.test(e.message),
  );
});

/** Default kernels that refuse any use: a model given its own kernels must never reach them. */
const refusing = new Proxy(jsKernels, {
  get: () => {
    throw new Error("the default kernels were used");
  },
});

test("fit() and evaluate() run the loss's softmax on the model's kernels, never the default ones", async () => {
  let softmaxCalls = 0;
  const counting = new Proxy(jsKernels, {
    get(target, key) {
      const v = target[key as keyof Kernels];
      if (key !== "softmaxRows" || typeof v !== "function") return v;
      return (...a: unknown[]) => (softmaxCalls++, (v as (...b: unknown[]) => unknown).apply(target, a));
    },
  });
  const labels = Int32Array.from({ length: B }, (_, k) => k % C);
  const before = getKernels();
  setKernels(refusing);
  try {
    for (const cell of ["egru", "gru"] as const) {
      const c = createModel(classifier(cell), { kernels: counting });
      await c.fit({ x: xs, labels, T }, { epochs: 1, batchSize: B, lr: 0.01 });
      c.evaluate({ x: xs, labels, T });
      const lm = createModel(lmConfig(cell), { kernels: counting });
      await lm.fit({ tokens }, { epochs: 1, batchSize: 1, bptt: 4, lr: 0.01 });
      lm.evaluate({ tokens }, { batchSize: 1, bptt: 4 });
    }
  } finally {
    setKernels(before);
  }
  assert.ok(softmaxCalls >= 8, `${softmaxCalls} softmax calls on the model's kernels`);
});

test("kernels given to a model reach every layer (EGRU, GRU, LSTM, readout, tied decoder)", () => {
  let calls = 0;
  const counting = new Proxy(jsKernels, {
    get(target, key) {
      const v = target[key as keyof Kernels];
      return typeof v === "function"
        ? (...a: unknown[]) => (calls++, (v as (...b: unknown[]) => unknown).apply(target, a))
        : v;
    },
  });
  const before = getKernels();
  setKernels(refusing);
  try {
    for (const cell of ["egru", "gru", "lstm"] as const) {
      const c = createModel(classifier(cell), { kernels: counting });
      c.forward(xs, T, B);
      const lm = createModel(lmConfig(cell), { kernels: counting });
      const run = lm.forward(tokens, T, B);
      lm.backward(run, new Float32Array(run.logits.length).fill(0.01));
    }
    const c = createModel(classifier("egru"), { kernels: counting });
    const back = loadModel(c.save(), { kernels: counting });
    back.forward(xs, T, B);
  } finally {
    setKernels(before);
  }
  assert.ok(calls > 10, `${calls} kernel calls`);
});
