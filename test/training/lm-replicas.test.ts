// Replicas of a language model (node/replica-pool.ts): a step whose row blocks (streams) run on
// worker threads gives the same bits as one thread running the same blocks in turn — losses,
// gradient norms, every parameter, the random state and the carried state after each step — for a
// model like ptb-small at reduced size (3 EGRU layers with DropConnect, "step" dropout masks shared
// by the blocks, random BPTT, AdamW, EGRU's clip inside backward), with "locked" masks (each block
// its own seed), and for a GRU with AR/TAR; in one wave (two blocks, one replica) and in waves
// (three blocks, one replica).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { countParams } from "../../packages/egru/src/nn/params.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { buildCorpus } from "../../packages/cli/src/data/corpus.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { createReplicaPool } from "../../packages/cli/src/node/replica-pool.js";
import { buildLmTrainer, languageModelConfig } from "../../packages/cli/src/train/build.js";
import { parseConfig, type TrainConfigInput } from "../../packages/cli/src/train/config.js";
import type { Replicas } from "../../packages/cli/src/train/replicas.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20");
const opened: Replicas[] = [];
after(() => Promise.all(opened.map((r) => r.close())));

const rng = new Rng(11);
const words = Array.from({ length: 50 }, (_, i) => `w${i}`);
const text = (n: number) => Array.from({ length: n }, () => words[Math.floor(rng.uniform() * words.length)]).join(" ");
const corpus = buildCorpus({ train: text(6000), valid: text(300), test: text(300) });
const preset = loadPresets()["ptb-small"];

const cases: { name: string; config: TrainConfigInput; microBatch: number }[] = [
  {
    name: "EGRU like ptb-small (DropConnect, shared step masks, clip inside backward), 2 blocks",
    config: {
      ...preset,
      model: { ...preset.model, hidden: 24 },
      batchSize: 10,
      lm: { ...preset.lm, embedding: 16, bptt: 9 },
    },
    microBatch: 5,
  },
  {
    name: "EGRU with locked masks (a seed per block), 3 blocks in two waves",
    config: {
      ...preset,
      model: { ...preset.model, hidden: 24 },
      batchSize: 10,
      lm: { ...preset.lm, embedding: 16, bptt: 9, dropoutMask: "locked" },
    },
    microBatch: 4,
  },
  {
    name: "GRU with AR/TAR and row DropConnect, 2 blocks",
    config: {
      ...preset,
      model: { ...preset.model, cell: "gru", hidden: 24, dropConnectShape: "row" },
      batchSize: 10,
      lm: { ...preset.lm, embedding: 16, bptt: 9, arWeight: 2, tarWeight: 1 },
    },
    microBatch: 5,
  },
];

for (const { name, config, microBatch } of cases) {
  test(`language model on a replica gives one thread's bits: ${name}`, () => {
    const c = parseConfig({ ...config, microBatch } as TrainConfigInput, name);
    const one = buildLmTrainer(c, corpus, { kernels: wasm! });
    const many = buildLmTrainer(c, corpus, { kernels: wasm! });
    const pool = createReplicaPool(
      languageModelConfig(c, corpus.vocab.size),
      countParams(many.model.params()),
      1,
      wasm!,
    );
    opened.push(pool);
    many.replicas = pool;
    for (let s = 1; s <= 14; s++) {
      const a = one.trainStep();
      const b = many.trainStep();
      assert.equal(b.loss, a.loss, `step ${s}: loss`);
      assert.equal(b.gradNorm, a.gradNorm, `step ${s}: gradient norm`);
      assert.deepEqual(b.layerClipScale, a.layerClipScale, `step ${s}: clip factors`);
      const pb = many.model.params();
      one.model.params().forEach((p, k) => assert.deepEqual(pb[k].value, p.value, `step ${s}: ${p.name}`));
      assert.deepEqual(many.model.rng.getState(), one.model.rng.getState(), `step ${s}: random state`);
      assert.deepEqual(many.hidden, one.hidden, `step ${s}: carried state`);
    }
  });
}
