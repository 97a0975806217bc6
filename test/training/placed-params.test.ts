// Weights and gradients placed in the kernels' memory (WeightedLayer.placeIn, which the trainers
// do before their first step): a classifier with a CNN front-end and a language model train bit for
// bit as the same models on ordinary arrays, on one thread and on two; the optimizer, the clipping
// norm, the finiteness scans and the decoder's transposes then get the parameters in place (no
// copies per call), and a trainer built
// by the command line's builders holds its parameters there. Placed arrays go back to the kernels'
// memory once they are garbage themselves: one a caller holds stays valid after its model is gone.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { createModel } from "../../packages/egru/src/model/config.js";
import { classifierStep, languageModelStep } from "../../packages/egru/src/model/train-step.js";
import type { SequenceClassifier } from "../../packages/egru/src/nn/classifier.js";
import type { LanguageModel } from "../../packages/egru/src/nn/language-model.js";
import { createThreadedKernels } from "../../packages/egru/src/node/threaded-kernels.js";
import { Optimizer } from "../../packages/egru/src/optim/optimizer.js";
import { loadWasmKernels, type WasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { buildCorpus } from "../../packages/cli/src/data/corpus.js";
import { buildLmTrainer } from "../../packages/cli/src/train/build.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { settleGarbage } from "../helpers.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20");
const two = createThreadedKernels(wasm, 2, { minWork: 0, minColumnWork: 0, minPointwise: 0 });
after(() => two.close());

const [T, B] = [6, 5];
const frames = { channels: 2, height: 6, width: 6 };
const I = frames.channels * frames.height * frames.width;

const classifier = (kernels: Kernels): SequenceClassifier =>
  createModel(
    {
      type: "sequence-classifier",
      cell: "egru",
      inputSize: I,
      hiddenSize: 11,
      layers: 2,
      classes: 3,
      readout: "trace",
      seed: 4,
      dropConnect: 0.2,
      frontEnd: { ...frames, layers: [{ kind: "conv", out: 3, kernel: 3 }, { kind: "relu" }] },
    },
    { kernels },
  ) as SequenceClassifier;

const languageModel = (kernels: Kernels): LanguageModel =>
  createModel(
    {
      type: "language-model",
      cell: "egru",
      vocab: 17,
      embedding: 5,
      hidden: 9,
      layers: 2,
      seed: 3,
      dropoutOutput: 0.3,
      dropConnect: 0.2,
    },
    { kernels },
  ) as LanguageModel;

const x = Float32Array.from({ length: T * B * I }, (_, k) => (Math.sin(k * 0.37) > 0.6 ? 1 : 0));
const labels = Int32Array.from({ length: B }, (_, b) => b % 3);
const tokens = Int32Array.from({ length: (T + 1) * B }, (_, k) => (k * 7 + 3) % 17);

/** The kernels' arrays are views of its shared memory; ordinary arrays are not. */
const inMemory = (k: WasmKernels, a: Float32Array): boolean => k.inMemory(a);

/** The calls that take whole parameters or gradients: the optimizer, the clipping norm, the finiteness scans, Embᵀ. */
const PARAMETER_CALLS = new Set(["adamUpdate", "sgdUpdate", "sumSquares", "firstNonFinite", "transposeRows"]);

/**
 * Kernels that record the parameter calls given a float32 array of one of the lengths n that was an
 * ordinary array (one the call copies in).
 */
function spying(k: Kernels, n: Set<number>): { kernels: Kernels; copied: string[] } {
  const copied: string[] = [];
  const kernels = new Proxy(k, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function" || !PARAMETER_CALLS.has(String(prop))) return v;
      return (...args: unknown[]) => {
        const arrays = args.flatMap((a) =>
          a instanceof Float32Array ? [a] : a && typeof a === "object" ? Object.values(a) : [],
        );
        for (const a of arrays)
          if (a instanceof Float32Array && n.has(a.length) && !wasm!.inMemory(a)) copied.push(String(prop));
        return v.apply(target, args);
      };
    },
  });
  return { kernels, copied };
}

for (const [name, kernels] of [
  ["one thread", wasm],
  ["two threads", two],
] as [string, Kernels][]) {
  test(`placed parameters train bit for bit as ordinary ones: CNN + EGRU classifier and EGRU language model (${name})`, () => {
    for (const make of ["classifier", "language model"]) {
      const steps = (placed: boolean) => {
        const out: number[][] = [];
        if (make === "classifier") {
          const m = classifier(kernels);
          if (placed) m.placeIn(kernels);
          const optimizer = new Optimizer({ kind: "adam" });
          for (let s = 0; s < 3; s++) {
            const r = classifierStep(m, x, labels, T, { optimizer, lr: 0.01, clip: 0.5, where: `step ${s}` });
            out.push([r.loss, r.gradNorm]);
          }
          for (const p of m.params()) {
            assert.equal(inMemory(wasm!, p.value), placed, `${p.name}: placed in the kernels' memory or not`);
            out.push(Array.from(p.value));
          }
        } else {
          const m = languageModel(kernels);
          if (placed) m.placeIn(kernels);
          const optimizer = new Optimizer({ kind: "adamw", weightDecay: 0.01 });
          let state = null;
          for (let s = 0; s < 3; s++) {
            const r = languageModelStep(m, tokens.slice(0, T * B), tokens.slice(B), T, state, {
              optimizer,
              lr: 0.01,
              clip: 0.25,
              where: `step ${s}`,
            });
            state = r.state ?? null;
            out.push([r.loss, r.gradNorm]);
          }
          for (const p of m.params()) out.push(Array.from(p.value));
        }
        return out;
      };
      const ordinary = steps(false);
      const placed = steps(true);
      assert.ok(Number.isFinite(ordinary[0][0]), `${make}: a finite loss`);
      ordinary.forEach((v, i) => assert.deepEqual(placed[i], v, `${make}: record ${i}`));
    }
  });
}

test("a placed model's optimizer, clipping norm, finiteness scans and decoder transposes get the parameters in place", () => {
  const m = languageModel(wasm);
  m.placeIn(wasm);
  const sizes = new Set(m.params().map((p) => p.value.length));
  sizes.delete(17); // the decoder's bias stays an ordinary array (V floats)
  const spy = spying(wasm, sizes);
  const again = languageModel(spy.kernels);
  again.placeIn(wasm);
  languageModelStep(again, tokens.slice(0, T * B), tokens.slice(B), T, null, {
    optimizer: new Optimizer({ kind: "adam" }),
    lr: 0.01,
    clip: 0.25,
    where: "step 0",
    kernels: spy.kernels,
  });
  assert.deepEqual(spy.copied, [], "no parameter call got a parameter or gradient as an ordinary array");
  // the check can fail: the same step on an unplaced model hands ordinary parameter arrays to kernels
  const spy2 = spying(wasm, sizes);
  languageModelStep(languageModel(spy2.kernels), tokens.slice(0, T * B), tokens.slice(B), T, null, {
    optimizer: new Optimizer({ kind: "adam" }),
    lr: 0.01,
    clip: 0.25,
    where: "step 0",
    kernels: spy2.kernels,
  });
  assert.ok(spy2.copied.includes("adamUpdate"), `unplaced: ${[...new Set(spy2.copied)].join(", ")}`);
});

test("the command line's language-model trainer holds its parameters in the kernels' memory", () => {
  const text = Array.from({ length: 400 }, (_, i) => `w${(i * 7) % 13}`).join(" ");
  const corpus = buildCorpus({ train: text, valid: text.slice(0, 200), test: text.slice(0, 200) });
  const c = parseConfig(
    {
      task: "ptb",
      model: { cell: "egru", hidden: 8, layers: 2 },
      lm: { embedding: 4, bptt: 5 },
      batchSize: 4,
      epochs: 1,
    },
    "test",
  );
  const t = buildLmTrainer(c, corpus, { kernels: wasm });
  for (const p of t.model.params())
    if (p.name !== "decoder.bias") assert.ok(wasm!.inMemory(p.value) && wasm!.inMemory(p.grad), p.name);
  const layer = t.model.cells[0].layer;
  const kernel = layer.weights.kernel;
  layer.placeIn(wasm!); // the same kernels: nothing to do
  assert.equal(layer.weights.kernel, kernel);
  const before = Object.values(layer.weights).map((w) => w.slice());
  layer.placeIn(two); // another kernel set: new arrays, the same values
  assert.notEqual(layer.weights.kernel, kernel);
  Object.values(layer.weights).forEach((w, i) => assert.deepEqual(w, before[i], "values kept"));
});

test("placed arrays go back to the kernels' memory once they are garbage, and not before: one a caller holds outlives its model", async () => {
  const settle = settleGarbage;
  const allocated = new Set<number>();
  const freed = new Set<number>();
  const recording = new Proxy(wasm!, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (prop === "alloc")
        return (n: number, zeroed?: boolean) => {
          const a = target.alloc(n, zeroed);
          allocated.add(a.byteOffset);
          return a;
        };
      if (prop === "free")
        return (a: Float32Array) => {
          freed.add(a.byteOffset);
          target.free(a);
        };
      return typeof v === "function" ? v.bind(target) : v;
    },
  }) as Kernels;
  let model: LanguageModel | null = languageModel(wasm!);
  model.placeIn(recording);
  const kept = model.cells[0].layer.weights.recurrent_kernel;
  const values = kept.slice();
  const placed = allocated.size;
  assert.equal(placed, 2 * (model.params().length - 1), "a weight and a gradient per parameter but the decoder's bias");
  model = null;
  for (let i = 0; i < 8 && freed.size < placed - 1; i++) await settle();
  assert.equal(freed.size, placed - 1, "every placed array but the one held went back");
  assert.ok(!freed.has(kept.byteOffset), "the held one did not");
  // new blocks reuse the freed memory, not the held array's
  const fresh = Array.from({ length: 16 }, () => wasm!.alloc(kept.length).fill(7));
  assert.deepEqual(kept, values, "the held array still holds its values");
  for (const a of fresh) wasm!.free(a);
});
