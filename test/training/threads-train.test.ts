// Whole training steps on one and on two kernel threads give the same bits: losses, gradient norms
// and every parameter after each step, for the default `egru train` job (row-sequential MNIST,
// 1×EGRU(128), batch 128, with the split kernels' default thresholds; `--threads 2` itself now
// trains it on replicas, test/training/replicas.test.ts), a language model like
// ptb-small at reduced size (3 EGRU layers with DropConnect, dropouts, random BPTT, AdamW, on a
// random corpus), the dvs-synth DVS Gesture model with zoneout and dropouts (on a synthetic set),
// and a classifier with a per-frame CNN front-end on those frames. All but the first use kernels
// that split every call however small, so that every split path of a step is the one compared.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { createModel } from "../../packages/egru/src/model/config.js";
import { createThreadedKernels, type ThreadOptions } from "../../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { buildCorpus } from "../../packages/cli/src/data/corpus.js";
import { writeSynthGestures } from "../../packages/cli/src/node/dvs-files.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { loadTask } from "../../packages/cli/src/run/task-data.js";
import { buildLmTrainer, buildTrainer } from "../../packages/cli/src/train/build.js";
import { parseConfig, type TrainConfigInput } from "../../packages/cli/src/train/config.js";

const one = await loadWasmKernels();
assert.ok(one, "WebAssembly SIMD kernels must load in Node 20");
const opened: { close(): Promise<void> }[] = [];
after(() => Promise.all(opened.map((k) => k.close())));

/** The WebAssembly kernels on two threads (opts: the split thresholds; default: as --threads 2). */
function two(opts: ThreadOptions = {}): Kernels {
  const k = createThreadedKernels(one!, 2, opts);
  assert.equal(k.threads, 2, "Node has SharedArrayBuffer: the kernels must run on two threads");
  opened.push(k);
  return k;
}
const everySplit = { minWork: 0, minColumnWork: 0, minPointwise: 0 };

interface Trainable {
  step(): { loss: number; gradNorm: number };
  params(): { name: string; value: Float32Array }[];
}

/** `steps` steps of two trainers made alike on one and on two threads: the same bits after each step. */
function assertSameSteps(make: (k: Kernels) => Trainable, threaded: Kernels, steps: number): void {
  const a = make(one!);
  const b = make(threaded);
  for (let s = 1; s <= steps; s++) {
    const ra = a.step();
    const rb = b.step();
    assert.ok(Number.isFinite(ra.loss), `step ${s}: a finite loss`);
    assert.equal(rb.loss, ra.loss, `step ${s}: loss`);
    assert.equal(rb.gradNorm, ra.gradNorm, `step ${s}: gradient norm`);
    const pb = b.params();
    a.params().forEach((p, i) => assert.deepEqual(pb[i].value, p.value, `step ${s}: ${p.name}`));
  }
}

test("the default egru train job trains bit-identically on one and two threads (three steps)", () => {
  const B = 128;
  const c = parseConfig({ ...loadPresets().default, validation: 0, trainLimit: 3 * B, testLimit: 1 }, "default");
  const task = loadTask(c, () => {});
  const order = Int32Array.from({ length: 3 * B }, (_, i) => i);
  assertSameSteps(
    (kernels) => {
      const t = buildTrainer(c, task, { kernels });
      let i = 0;
      return {
        step: () => t.trainStep(order.subarray(B * i, B * ++i), 3),
        params: () => t.model.params().map((p) => ({ name: p.name, value: p.value })),
      };
    },
    two(),
    3,
  );
});

test("a ptb-small-like language model trains bit-identically on one and two threads (three steps)", () => {
  const rng = new Rng(3);
  const words = Array.from({ length: 60 }, (_, i) => `w${i}`);
  const text = (n: number) =>
    Array.from({ length: n }, () => words[Math.floor(rng.uniform() * words.length)]).join(" ");
  const corpus = buildCorpus({ train: text(4000), valid: text(300), test: text(300) });
  const preset = loadPresets()["ptb-small"];
  const c = parseConfig(
    {
      ...preset,
      model: { ...preset.model, hidden: 48 },
      batchSize: 10,
      lm: { ...preset.lm, embedding: 24, bptt: 12 },
    } as TrainConfigInput,
    "ptb-small, reduced",
  );
  assertSameSteps(
    (kernels) => {
      const t = buildLmTrainer(c, corpus, { kernels });
      return {
        step: () => t.trainStep(),
        params: () => t.model.params().map((p) => ({ name: p.name, value: p.value })),
      };
    },
    two(everySplit),
    3,
  );
});

test("a DVS Gesture model (dvs-synth) and one with a CNN front-end train bit-identically on one and two threads", async () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-threads-dvs-"));
  const cache = process.env.EGRU_CACHE;
  try {
    process.env.EGRU_CACHE = join(dir, "cache");
    writeSynthGestures(join(dir, "dvs"), { classes: 4, trainUsers: 4, testUsers: 1, rate: 8, seed: 0 });
    const preset = loadPresets()["dvs-synth"];
    const B = 6;
    const c = parseConfig(
      {
        ...preset,
        data: join(dir, "dvs"),
        model: { ...preset.model, hidden: 40, zoneout: 0.2, inputDropout: 0.3, outputDropout: 0.3 },
        batchSize: B,
        validation: 0,
        trainLimit: 2 * B,
        testLimit: 1,
        dvs: { ...preset.dvs, windowMs: 400, frameMs: 50 },
      } as TrainConfigInput,
      "dvs-synth, reduced",
    );
    const task = loadTask(c, () => {});
    const order = Int32Array.from({ length: 2 * B }, (_, i) => i);
    assertSameSteps(
      (kernels) => {
        const t = buildTrainer(c, task, { kernels });
        let i = 0;
        return {
          step: () => t.trainStep(order.subarray(B * i, B * ++i), 2),
          params: () => t.model.params().map((p) => ({ name: p.name, value: p.value })),
        };
      },
      two(everySplit),
      2,
    );
    // the same frames through a small per-frame CNN (convolutions, pooling) before the EGRU
    const frame = task.frame;
    assert.ok(frame, "DVS frames have a shape");
    const { x, labels } = task.batch("train", order, 0);
    const xBatchFirst = new Float32Array(x.length); // fit takes [N, T, I]
    const T = task.T;
    const I = task.I;
    for (let t = 0; t < T; t++)
      for (let b = 0; b < 2 * B; b++)
        xBatchFirst.set(x.subarray((t * 2 * B + b) * I, (t * 2 * B + b + 1) * I), (b * T + t) * I);
    const fitCnn = async (kernels: Kernels) => {
      const model = createModel(
        {
          type: "sequence-classifier",
          cell: "egru",
          inputSize: I,
          hiddenSize: 24,
          layers: 1,
          classes: task.classes,
          readout: "mean",
          seed: 2,
          frontEnd: {
            layers: [
              { kind: "conv", out: 6, kernel: 5, stride: 2, padding: 1 },
              { kind: "relu" },
              { kind: "pool", kernel: 3, stride: 2 },
              { kind: "conv", out: 10, kernel: 3, padding: 1 },
              { kind: "relu" },
            ],
            ...frame,
          },
        },
        { kernels },
      );
      const losses: number[] = [];
      await model.fit(
        { x: xBatchFirst, labels, T },
        { epochs: 1, batchSize: B, lr: 3e-3, onStep: (s) => losses.push(s.loss) },
      );
      return { losses, weights: model.save().weights };
    };
    const a = await fitCnn(one!);
    const b = await fitCnn(two(everySplit));
    assert.equal(a.losses.length, 2, "two steps");
    assert.deepEqual(b.losses, a.losses, "CNN: losses");
    assert.deepEqual(b.weights, a.weights, "CNN: weights after the steps");
  } finally {
    if (cache === undefined) delete process.env.EGRU_CACHE;
    else process.env.EGRU_CACHE = cache;
    rmSync(dir, { recursive: true, force: true });
  }
});
