// The WebAssembly part of the memory estimate (packages/cli/src/train/memory.ts, memory-layers.ts)
// against what the code allocates: the working arrays an EGRU, GRU or LSTM layer holds in the
// kernels' memory are exactly the estimate's count (alloc/free recorded on the WebAssembly kernels,
// training and evaluation); a language model's GRU and LSTM estimate is those working arrays on
// top of the largest operand copies (the decoder's); and a GRU, LSTM or EGRU language model's
// training steps and evaluation run in a WebAssembly memory capped at the estimate (a configuration
// where the decoder's copies and the layers' working arrays together exceed either alone).

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import { setKernels } from "../../packages/egru/src/wasm/select.js";
import { loadWasmKernels, type WasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { buildCorpus } from "../../packages/cli/src/data/corpus.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { buildLmTrainer } from "../../packages/cli/src/train/build.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { lmCost, longestSegment, WASM_PAGE } from "../../packages/cli/src/train/memory.js";
import {
  gradientTempFloats,
  type LayerShape,
  TAPE_ARRAYS,
  workingFloats,
} from "../../packages/cli/src/train/memory-layers.js";
import { randomArray } from "../helpers.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20 (built by npm ci)");
after(() => setKernels(jsKernels));

/** The kernels, with the floats of the arrays live from alloc() and their peak since reset(). */
function recording(base: WasmKernels): { kernels: Kernels; peak(): number; reset(): void } {
  const live = new Map<Float32Array, number>();
  let now = 0;
  let peak = 0;
  const kernels = new Proxy(base, {
    get(target, prop) {
      if (prop === "alloc")
        return (n: number) => {
          const a = target.alloc(n);
          live.set(a, n);
          now += n;
          peak = Math.max(peak, now);
          return a;
        };
      if (prop === "free")
        return (a: Float32Array) => {
          now -= live.get(a) ?? 0;
          live.delete(a);
          target.free(a);
        };
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { kernels, peak: () => peak, reset: () => void (peak = now) };
}

/** A layer of `cell` after one training forward and backward. */
function trainedLayer(
  cell: "egru" | "gru" | "lstm",
  opts: { inputSize: number; hiddenSize: number; seed: number; kernels: Kernels },
  x: Float32Array,
  T: number,
  B: number,
  dOutput: Float32Array,
): EGRU | GRU | LSTM {
  if (cell === "egru") {
    const layer = new EGRU(opts);
    layer.backward(layer.forward({ x, T, B }), { dOutput });
    return layer;
  }
  if (cell === "gru") {
    const layer = new GRU(opts);
    layer.backward(layer.forward({ x, T, B }), { dOutput });
    return layer;
  }
  const layer = new LSTM(opts);
  layer.backward(layer.forward({ x, T, B }), { dOutput });
  return layer;
}

describe("the layers' working arrays in the WebAssembly memory", () => {
  const [T, B, I, H] = [7, 5, 6, 11];
  for (const cell of ["egru", "gru", "lstm"] as const) {
    test(`${cell}: the estimate's count per row, B rows, training and evaluation, besides the resident recurrent matrix`, () => {
      const rec = recording(wasm);
      const shape: LayerShape = { I, H, G: (cell === "lstm" ? 4 : 3) * H };
      const rng = new Rng(5);
      const x = Float32Array.from(randomArray(rng, T * B * I));
      const dOutput = Float32Array.from(randomArray(rng, T * B * H));
      const resident = H * shape.G; // EGRU's and GRU's R [H, 3H], LSTM's W_hh [4H, H], held across calls
      // training: a forward and its backward
      const layer = trainedLayer(
        cell,
        { inputSize: I, hiddenSize: H, seed: 2, kernels: rec.kernels },
        x,
        T,
        B,
        dOutput,
      );
      // the training forward's outputs and tape, and its input staged from an ordinary array, stay in
      // the layer's arenas (the result is not released)
      const tape = B * T * (TAPE_ARRAYS[cell] * H + I);
      // (an EGRU layer's weight and bias gradients of the call, gradientTempFloats, where the memory
      // has room, which here it has: outside the estimate, and not growing with rows)
      const temps = gradientTempFloats(cell, shape, true);
      assert.equal(rec.peak(), resident + tape + B * workingFloats(cell, T, shape, true) + temps, `${cell} training`);
      // evaluation: a forward alone (the resident matrix is already there)
      layer.eval();
      rec.reset();
      const before = rec.peak();
      layer.forward({ x, T, B });
      assert.equal(rec.peak() - before, B * workingFloats(cell, T, shape, false), `${cell} evaluation`);
      assert.equal(before, resident + tape, `${cell}: only the resident matrix and the tape stay between calls`);
    });
  }
});

describe("a language model's WebAssembly estimate", () => {
  test("GRU and LSTM presets: the largest layer's working arrays on top of the decoder's copies", () => {
    const presets = loadPresets();
    const V = 10_000;
    for (const [name, gates, working] of [
      ["ptb-iclr-2000-gru", 3, 2], // dp and dq [T, 3H] (the forward's a and q are fewer), dhRec and dhNext [H]
      ["ptb-iclr-2000-lstm", 4, 1], // P, then dP [T, 4H], dhRec and dcRec [H]
    ] as const) {
      const c = parseConfig(presets[name], name);
      const T = longestSegment(c);
      const { hidden: H } = c.model;
      const E = c.lm.embedding;
      const decoder = T * (2 * V + 2 * E); // logits and their gradient, the decoder's input and dx
      // every layer's training tape, GRU h z r g hr, LSTM h c i f g o k [T, H] (the top layer has E units),
      // and its input staged from an ordinary array [T, I] (the bottom layer reads E, the others H)
      const tapes = (gates === 3 ? 5 : 7) * T * ((c.model.layers - 1) * H + E) + T * (E + (c.model.layers - 1) * H);
      const layerWorking = working * T * gates * H + 2 * H;
      assert.equal(lmCost(c, V, T, true).wasm, 4 * (layerWorking + tapes + decoder), `${name} training`);
      // evaluation: a [T, 3H] and q [3H], or P [T, 4H]; logits and the decoder's input
      const evalWorking = gates === 3 ? T * 3 * H + 3 * H : T * 4 * H;
      assert.equal(lmCost(c, V, T, false).wasm, 4 * (evalWorking + T * (V + E)), `${name} evaluation`);
    }
  });

  // V = 1000, E = 32, H = 256, B = 64, T = 20: the decoder's copies are the largest, and the layers'
  // working arrays (GRU, EGRU: 2·3H; LSTM: 4H per row and step) exceed what the estimate once
  // counted beyond them, so a memory of max(layer, decoder) per row was too small for each cell
  const [V, E, H, B, T] = [1000, 32, 256, 64, 20];
  let seed = 1;
  const word = (): string => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return `w${seed % V}`;
  };
  const text = (n: number): string => `${Array.from({ length: n }, word).join(" ")}\n`;
  const every = `${Array.from({ length: V - 1 }, (_, i) => `w${i}`).join(" ")}\n`; // with <eos>, V words
  const corpus = buildCorpus({ train: every + text(2 * B * (T + 1)), valid: text(B * (T + 1)), test: text(T + 1) });

  for (const cell of ["gru", "lstm", "egru"] as const) {
    test(`${cell}: two training steps and an evaluation of B = ${B} rows run in a memory capped at the estimate`, async () => {
      const c = parseConfig({
        task: "ptb",
        model: { cell, hidden: H, layers: 2 },
        batchSize: B,
        seed: 1,
        lm: { embedding: E, bptt: T, randomBptt: false },
      });
      assert.equal(corpus.vocab.size, V);
      const cost = lmCost(c, V, T, true);
      const pages = Math.ceil((cost.fixedWasm + B * cost.wasm) / WASM_PAGE);
      const capped = await loadWasmKernels({ initialPages: 1, maximumPages: pages });
      assert.ok(capped);
      setKernels(capped); // the loss's softmax runs on the default kernels
      const budget = { limits: { wasm: pages * WASM_PAGE, host: 2 ** 40 }, source: "test" };
      const trainer = buildLmTrainer(c, corpus, { kernels: capped, budget });
      assert.equal(trainer.options.microBatch, B, "the whole batch in one block");
      for (let s = 0; s < 2; s++) assert.ok(Number.isFinite(trainer.trainStep().loss));
      assert.ok(Number.isFinite(trainer.evaluate("valid", B).loss));
      assert.ok(capped.memoryBytes() <= pages * WASM_PAGE);
      setKernels(jsKernels);
    });
  }
});
