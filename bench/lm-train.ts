// Whole language-model training steps (embedding, the recurrent stack, tied decoder, softmax
// cross-entropy, backward, Adam), tokens per second, with the softmax of the loss computed by the
// TypeScript kernel and by the WebAssembly one, side by side in one run, on one and two threads.
// The model is the ptb-converge preset's (10,000 words, embedding 128, two layers of 256, B = 32,
// BPTT 35) on random tokens (Zipf-distributed like words; the speed does not depend on the text).
//
//   node --conditions=egru-source --import tsx bench/lm-train.ts [--steps 6] [--cells egru,gru,lstm]

import { cpus } from "node:os";
import { fit } from "../packages/egru/src/model/fit.js";
import { createModel } from "../packages/egru/src/model/config.js";
import { jsKernels, type Kernels } from "../packages/egru/src/kernels/backend.js";
import { createThreadedKernels } from "../packages/egru/src/node/threaded-kernels.js";
import { setKernels } from "../packages/egru/src/wasm/select.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { zipfTokens } from "./zipf-tokens.js";

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const STEPS = Number(arg("steps", "6"));
const CELLS = arg("cells", "egru,gru,lstm").split(",") as ("egru" | "gru" | "lstm")[];
const V = 10000;
const B = 32;
const T = 35;
const HIDDEN: Record<string, number> = { egru: 256, gru: 256, lstm: 205 }; // the ptb-converge presets

const base = await loadWasmKernels({ maximumPages: 32768 });
if (!base) throw new Error("WebAssembly SIMD is not available here");
const data = { tokens: zipfTokens(B * T * (STEPS + 1) + 1, V, 7) };

/** Tokens per second over `STEPS` timed steps after one warm-up step. */
async function tokensPerSecond(cell: string, kernels: Kernels): Promise<number> {
  setKernels(kernels);
  const model = createModel({
    type: "language-model",
    cell: cell as "egru",
    vocab: V,
    embedding: 128,
    hidden: HIDDEN[cell],
    layers: 2,
    seed: 1,
    ...(cell === "egru" ? { egru: { thresholdMean: 0.3, dampeningFactor: 3.6, pseudoDerivativeSupport: 3.6 } } : {}),
  });
  let t0 = 0;
  await fit(model, data, {
    epochs: 1,
    batchSize: B,
    bptt: T,
    lr: 2e-3,
    onStep: (i) => {
      if (i.step === 1) t0 = performance.now();
    },
  });
  return (B * T * STEPS) / ((performance.now() - t0) / 1000);
}

console.log(`Language-model training steps, ptb-converge sizes, ${cpus()[0]?.model ?? "?"}, Node ${process.version}\n`);
console.log("cell   threads  softmax      tokens/s  ratio");
for (const threads of [1, 2]) {
  const k = threads === 1 ? base : createThreadedKernels(base, threads);
  // the same kernels with the softmax of the TypeScript kernels (the path before softmaxRows moved to WebAssembly)
  const tsSoftmax = Object.assign(Object.create(k) as Kernels, { softmaxRows: jsKernels.softmaxRows });
  for (const cell of CELLS) {
    const ts = await tokensPerSecond(cell, tsSoftmax);
    const wasm = await tokensPerSecond(cell, k);
    console.log(`${cell.padEnd(5)}  ${String(threads).padStart(7)}  typescript  ${ts.toFixed(0).padStart(9)}`);
    console.log(
      `${cell.padEnd(5)}  ${String(threads).padStart(7)}  wasm        ${wasm.toFixed(0).padStart(9)}  ${(wasm / ts).toFixed(2)}×`,
    );
  }
  if ("close" in k) await (k as { close(): Promise<void> }).close();
}
