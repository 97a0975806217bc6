// Models with int8 weights (quantize(), model/int8-network.ts): EGRU, GRU and LSTM classifiers and
// language models on every kernel set — outputs within the stated tolerance of the float32 model,
// and within the activations' integer rounding (kernels/int8.ts: about 2^−16 of a product's largest
// input) of the float32 model holding the dequantised weights (so the int8 path computes what the
// int8 weights stand for); the steppers and the LM token stream on int8
// weights give the bits of the whole-sequence forward; training is refused (StateError); save()
// writes I8 tensors with their scales, about a quarter of the float32 bytes, and loadModel() reads
// them back to the same bits; malformed int8 files give typed errors naming the tensor.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ShapeError, StateError, ValueError } from "../../packages/egru/src/core/errors.js";
import {
  type ClassifierConfig,
  type ClassifierModel,
  type LmModel,
  createModel,
  decodeSafetensors,
  decodeSafetensorsInt8,
  encodeSafetensors,
  type Int8Tensor,
  type LanguageModelConfig,
  LmStream,
  loadModel,
  type Model,
  quantize,
  type Tensor,
} from "../../packages/egru/src/index.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { fusedProducts, KERNEL_SETS } from "../kernel-sets.js";

type Cell = "egru" | "gru" | "lstm";
const CELLS: Cell[] = ["egru", "gru", "lstm"];
const [T, N, I, H, C] = [7, 6, 5, 11, 4];

const classifier = (cell: Cell, hiddenSize = H, inputSize = I): ClassifierConfig => ({
  type: "sequence-classifier",
  cell,
  inputSize,
  hiddenSize,
  layers: 2,
  classes: C,
  readout: cell === "egru" ? "trace" : "last",
  seed: 3,
  // low thresholds and larger weights: the EGRU layers emit events (some, not all)
  egru: { thresholdMean: 0.05, weightGain: 2 },
});
const lm = (cell: Cell): LanguageModelConfig => ({
  type: "language-model",
  cell,
  vocab: 23,
  embedding: 6,
  hidden: 9,
  layers: 3,
  seed: 5,
  egru: { thresholdMean: 0.05, weightGain: 2 },
});
const x = Float32Array.from({ length: N * T * I }, (_, k) => Math.sin(0.7 * k) + 0.3 * Math.cos(2.1 * k));
const tokens = Int32Array.from({ length: 40 }, (_, k) => (k * 7 + (k >> 2)) % 23);

/** max |a − b| and max |b|. */
function gap(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; size: number } {
  let diff = 0;
  let size = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    size = Math.max(size, Math.abs(b[i]));
  }
  return { diff, size };
}

/** The float32 model holding the values the int8 weights stand for (its state dict is float32). */
function dequantised<M extends Model>(q: M, kernels: Kernels): M {
  const m = createModel(q.config, { kernels }) as M;
  m.loadStateDict(q.stateDict());
  return m.eval() as M;
}

/** How far the int8 products may take outputs from the dequantised float32 model's, relative to their size. */
const DEQUANTISED_TOL = 2e-4;

test("quantised classifiers: logits within 2 % of the float32 model's scale, and within the activations' rounding of the dequantised model", () => {
  for (const kernels of KERNEL_SETS) {
    for (const cell of CELLS) {
      const m = createModel(classifier(cell), { kernels });
      const q = quantize(m);
      assert.equal(q.weightFormat, "int8");
      assert.equal(m.weightFormat, "float32", "quantize() leaves the model it copies alone");
      const want = m.predict(x, { T }).logits;
      const got = q.predict(x, { T }).logits;
      const g = gap(got, want);
      assert.ok(g.diff > 0, `${cell} [${kernels.name}]: the int8 model differs from the float32 one at all`);
      assert.ok(g.diff <= 0.02 * g.size, `${cell} [${kernels.name}]: |Δ logit| ${g.diff} ≤ 2 % of ${g.size}`);
      const d = gap(got, dequantised(q, kernels).predict(x, { T }).logits);
      assert.ok(d.diff <= DEQUANTISED_TOL * d.size, `${cell} [${kernels.name}]: ${d.diff} from the dequantised model`);
      if (cell === "egru") {
        const s = q.evaluate({ x, labels: new Int32Array(N), T }).activitySparsity;
        assert.ok(s > 0.05 && s < 0.95, `EGRU activity sparsity ${s}: events, and silent units`);
      }
    }
  }
});

test("int8 models give the same bits on every kernel set (those fusing their multiply-adds among themselves)", () => {
  for (const cell of CELLS) {
    const outs = KERNEL_SETS.map((kernels) => {
      const q = quantize(createModel(classifier(cell), { kernels }));
      return q.predict(x, { T }).logits;
    });
    for (let k = 1; k < outs.length; k++) {
      const fused = fusedProducts(KERNEL_SETS[k]);
      const same = KERNEL_SETS.findIndex((s) => fusedProducts(s) === fused);
      assert.deepEqual(
        new Uint32Array(outs[k].buffer),
        new Uint32Array(outs[same].buffer),
        `${cell} ${KERNEL_SETS[k].name}`,
      );
      if (fused) {
        // the relaxed-SIMD build: one rounding less per multiply-add than the TypeScript kernels
        const g = gap(outs[k], outs[0]);
        assert.ok(g.diff <= 1e-5 * g.size, `${cell} ${KERNEL_SETS[k].name}: ${g.diff} from the TypeScript kernels`);
      }
    }
  }
});

test("steppers on int8 layers give the bits of the whole-sequence forward; the LM stream those of evaluation", () => {
  for (const kernels of KERNEL_SETS) {
    for (const cell of CELLS) {
      const q = quantize(createModel(classifier(cell), { kernels }));
      const layer = q.cells[0].layer;
      const B = 2;
      const xs = x.subarray(0, T * B * I); // time-major [T, B, I]
      const whole = layer.forward({ x: xs, T, B }).output;
      const stepper = layer.stepper(B);
      for (let t = 0; t < T; t++) {
        const y = stepper.step(xs.slice(t * B * I, (t + 1) * B * I));
        assert.deepEqual(
          new Uint32Array(y.buffer),
          new Uint32Array(whole.slice(t * B * H, (t + 1) * B * H).buffer),
          `${cell} [${kernels.name}] step ${t}`,
        );
      }
      stepper.dispose();
    }
    for (const cell of CELLS) {
      const m = createModel(lm(cell), { kernels });
      const q = quantize(m);
      const segment = 8;
      const want = new Float32Array(tokens.length * 23);
      let state = null;
      for (let t = 0; t < tokens.length; t += segment) {
        const r = q.forward(tokens.subarray(t, t + segment), segment, 1, state);
        want.set(r.logits, t * 23);
        state = r.state;
      }
      const s = new LmStream(q, { segment });
      const got = new Float32Array(tokens.length * 23);
      tokens.forEach((tok, t) => got.set(s.feed(tok), t * 23));
      assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer), `LM ${cell} [${kernels.name}]`);
      const f = dequantised(q, kernels).forward(tokens.subarray(0, segment), segment, 1).logits;
      const g = gap(want.subarray(0, segment * 23), f);
      assert.ok(
        g.diff <= DEQUANTISED_TOL * g.size,
        `LM ${cell} [${kernels.name}]: ${g.diff} from the dequantised model (${g.size})`,
      );
      assert.notDeepEqual(
        m.eval().forward(tokens.subarray(0, segment), segment, 1).logits,
        f,
        "int8 differs from float32",
      );
    }
  }
});

test("int8 models refuse training: fit, a training forward, backward and new float32 weights are StateErrors", async () => {
  for (const cell of CELLS) {
    const q = quantize(createModel(classifier(cell)));
    await assert.rejects(q.fit({ x, labels: new Int32Array(N), T }), StateError);
    q.train();
    assert.throws(
      () => q.forward(x, T, N),
      (e: unknown) => e instanceof StateError && /training mode/.test(String(e)),
    );
    q.eval();
    const layer = q.cells[0].layer;
    const r = layer.forward({ x: x.subarray(0, T * I), T, B: 1 });
    assert.throws(() => (layer.backward as (r: unknown, u: unknown) => void)(r, {}), StateError);
    assert.throws(() => layer.setWeights({}), /int8 weights/);
    assert.throws(() => q.head.backward(q.head.forward(new Float32Array(H), 1), new Float32Array(C)), StateError);
  }
  const ql = quantize(createModel(lm("egru")));
  await assert.rejects(ql.fit({ tokens }), StateError);
  const run = ql.forward(tokens.subarray(0, 4), 4, 1);
  assert.throws(() => ql.backward(run, new Float32Array(4 * 23)), StateError);
});

/** The I8 tensors and their scales of a saved model. */
function int8Of(weights: Uint8Array): { int8: Record<string, Int8Tensor>; tensors: Record<string, Tensor> } {
  return decodeSafetensorsInt8(weights, "saved");
}

test("save() writes I8 tensors and their scales; loadModel() gives the same int8 weights and bits, for both scale axes", () => {
  for (const cell of CELLS) {
    for (const axis of ["output", "input"] as const) {
      const q = quantize(createModel(classifier(cell)), { axis });
      const saved = q.save();
      const { int8, tensors } = int8Of(saved.weights);
      const names = Object.keys(int8).sort();
      assert.equal(names.length, 5, `${cell}: two layers' two matrices and the head: ${names.join(", ")}`);
      for (const n of names) {
        const s = tensors[`${n}.scale`];
        assert.ok(s, `${n}.scale`);
        const [rows, cols] = int8[n].shape;
        // GRU, LSTM and Linear tensors are [outputs, inputs]; EGRU's are [inputs, outputs]
        const outputsAlongRows = cell !== "egru" || n.startsWith("head.");
        const perRow = (axis === "output") === outputsAlongRows;
        assert.deepEqual(s.shape, perRow ? [rows, 1] : [1, cols], `${n}: scales per ${axis} unit`);
      }
      const r = loadModel(saved) as ClassifierModel;
      assert.equal(r.weightFormat, "int8");
      for (const [l, c] of r.cells.entries())
        for (const k of Object.keys(c.layer.int8Slots()))
          assert.deepEqual(c.layer.int8Weight(k), q.cells[l].layer.int8Weight(k), `${cell} ${axis} layer ${l} ${k}`);
      assert.deepEqual(r.head.int8Weight("weight"), q.head.int8Weight("weight"));
      const a = q.predict(x, { T }).logits;
      const b = r.eval().predict(x, { T }).logits;
      assert.deepEqual(new Uint32Array(b.buffer), new Uint32Array(a.buffer), `${cell} ${axis}: the same bits`);
    }
  }
  const ql = quantize(createModel(lm("lstm")));
  const rl = loadModel(ql.save()) as LmModel;
  assert.deepEqual(rl.embedding.int8Weight("weight"), ql.embedding.int8Weight("weight"));
  assert.deepEqual(rl.eval().forward(tokens, 8, 5).logits, ql.forward(tokens, 8, 5).logits);
});

test("an int8 file is at most 0.27 of the float32 file of a weight-dominated model (EGRU, GRU, LSTM classifiers; a language model)", () => {
  const models: [string, Model][] = [
    ...CELLS.map((cell): [string, Model] => [cell, createModel(classifier(cell, 256, 64))]),
    ["LM egru", createModel({ ...lm("egru"), vocab: 4000, embedding: 128, hidden: 256 })],
  ];
  for (const [what, m] of models) {
    const f32 = m.save().weights.length;
    const i8 = quantize(m).save().weights.length;
    assert.ok(i8 / f32 <= 0.27, `${what}: ${i8} / ${f32} = ${(i8 / f32).toFixed(3)}`);
    assert.ok(i8 / f32 >= 0.25, `${what}: int8 values (a quarter) plus float32 biases and scales`);
  }
});

test("createModel and loadModel take weights: int8 (quantised after building or loading)", () => {
  const m = createModel(classifier("gru"));
  const a = loadModel(m.save(), { weights: "int8" });
  assert.equal(a.weightFormat, "int8");
  assert.deepEqual(a.predict(x, { T }).logits, quantize(m).predict(x, { T }).logits);
  assert.equal(createModel(classifier("egru"), { weights: "int8" }).weightFormat, "int8");
  assert.throws(() => createModel(classifier("egru"), { weights: "int4" as "int8" }), ValueError);
  assert.throws(() => quantize(m, { axis: "rows" as "input" }), /axis/);
});

/** A saved int8 model's tensors, changed by `edit`, encoded again. */
function edited(edit: (t: Record<string, Tensor | Int8Tensor>) => void): {
  weights: Uint8Array;
  config: ClassifierConfig;
} {
  const q = quantize(createModel(classifier("gru")));
  const saved = q.save();
  const { tensors, int8, metadata } = decodeSafetensorsInt8(saved.weights, "saved");
  const all: Record<string, Tensor | Int8Tensor> = { ...tensors, ...int8 };
  edit(all);
  return { weights: encodeSafetensors(all, metadata), config: saved.config as ClassifierConfig };
}

test("malformed int8 files give typed errors naming the tensor", () => {
  const W = "rnn.weight_hh_l0";
  const cases: [string, (t: Record<string, Tensor | Int8Tensor>) => void, new (...a: never[]) => Error, RegExp][] = [
    ["no scales", (t) => delete t[`${W}.scale`], ShapeError, /rnn\.weight_hh_l0\.scale: expected the scales/],
    [
      "scales of another shape",
      (t) => (t[`${W}.scale`] = { shape: [2, 1], data: new Float32Array(2) }),
      ShapeError,
      /rnn\.weight_hh_l0\.scale: expected shape \[33, 1\] .* or \[1, 11\]/,
    ],
    [
      "a negative scale",
      (t) => ((t[`${W}.scale`].data as Float32Array)[3] = -1),
      ValueError,
      /rnn\.weight_hh_l0\.scale: expected finite scales ≥ 0, got -1 at 3/,
    ],
    [
      "an int8 tensor of another shape",
      (t) => (t[W] = { shape: [11, 33], data: (t[W] as Int8Tensor).data }),
      ShapeError,
      /rnn\.weight_hh_l0: expected shape \[33, 11\]/,
    ],
    [
      "an int8 bias",
      (t) => (t["rnn.bias_hh_l0"] = { shape: [33], data: new Int8Array(33) }),
      ValueError,
      /rnn\.bias_hh_l0: dtype: expected F32 \(this parameter cannot be int8\)/,
    ],
    [
      "an unexpected int8 tensor",
      (t) => (t["rnn.extra"] = { shape: [1], data: new Int8Array(1) }),
      ShapeError,
      /unexpected rnn\.extra/,
    ],
    [
      "a scale without its int8 tensor",
      (t) => (t["rnn.bias_ih_l0.scale"] = { shape: [1, 1], data: new Float32Array(1) }),
      ShapeError,
      /unexpected rnn\.bias_ih_l0\.scale/,
    ],
  ];
  for (const [what, edit, kind, re] of cases) {
    const bad = edited(edit);
    assert.throws(
      () => loadModel(bad, {}, "bad.safetensors"),
      (e: unknown) =>
        e instanceof kind && re.test((e as Error).message) && /^bad\.safetensors/.test((e as Error).message),
      what,
    );
  }
  // an I8 tensor whose bytes do not match its shape, and the float32-only reader
  const ok = edited(() => {});
  const header = new TextDecoder().decode(
    ok.weights.subarray(8, 8 + Number(new DataView(ok.weights.buffer).getBigUint64(0, true))),
  );
  assert.throws(
    () => decodeSafetensors(ok.weights, "f.safetensors"),
    (e: unknown) =>
      e instanceof ValueError && /f\.safetensors: tensor [\w.]+: dtype: .*I8: int8 weights/.test(String(e)),
  );
  const grown = header.replace(
    /"rnn\.weight_hh_l0":\{"dtype":"I8","shape":\[33,11\]/,
    '"rnn.weight_hh_l0":{"dtype":"I8","shape":[33,12]',
  );
  assert.notEqual(grown, header);
  const bytes = new Uint8Array(ok.weights);
  bytes.set(new TextEncoder().encode(grown), 8);
  assert.throws(
    () => loadModel({ weights: bytes, config: ok.config }, {}, "g.safetensors"),
    (e: unknown) =>
      e instanceof ShapeError && /g\.safetensors: tensor rnn\.weight_hh_l0: expected 396 bytes for I8/.test(String(e)),
  );
});
