// A run goes to PyTorch, trains there and comes back: `egru export --format pytorch` of a run of
// `egru train`, one optimizer step in PyTorch (tools/pytorch_train_step.py: Adam or SGD on given
// inputs), tools/evnn_to_safetensors.py and `egru import --preset … --config RUN/config.json`. The
// imported run's weights, read by the library's loader, equal PyTorch's updated weights exactly
// (float32 copies), every trainable tensor differs from the exported one (the step moved it), and
// egru's evaluation of the imported run gives the logits and events of PyTorch's model after the step
// (test/pytorch-bridge.ts: the comparison). For an MNIST EGRU classifier with the clip inside
// backward, a GRU classifier and a three-layer EGRU language model.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { pytorchStateDict, Rng, type StateDict, type Tensor } from "../../packages/egru/src/index.js";
import { loadModel } from "../../packages/egru/src/node.js";
import { startRun } from "../../packages/cli/src/run/index.js";
import { mergeConfig, parseConfig } from "../../packages/cli/src/train/config.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { jsKernels } from "../../packages/egru/src/kernels/backend.js";
import { exportCommand } from "../../packages/cli/src/cli/export.js";
import { importCommand } from "../../packages/cli/src/cli/import.js";
import {
  assertAgree,
  CONVERTER,
  EVNN_CONSTANT,
  egruOutputs,
  maxAbsDiff,
  python,
  readTensors,
  tinyCorpus,
  tmp,
  torchStep,
  wellPosedTorchOutputs,
} from "../pytorch-bridge.js";

interface Trip {
  /** The run of egru train, its preset, and the optimizer step PyTorch takes. */
  runDir: string;
  preset: string;
  optimizer: "adam" | "sgd";
  lr: number;
  /** The step's inputs: x or tokens, with labels or targets. */
  batch: Record<string, Tensor>;
  /** Evaluation inputs for the logits comparison (drawn until well-posed). */
  shape: number[];
  draw: (r: Rng) => Float32Array;
  what: string;
}

/** Export, one PyTorch step, convert, import; check the weights and the logits. Returns the exported config. */
async function roundTrip(t: Trip): Promise<Record<string, unknown>> {
  const work = tmp();
  const exported = join(work, "export");
  await exportCommand(t.runDir, { format: "pytorch", out: exported }, {});
  const config = join(exported, "config.json");
  const pt = join(work, "updated.pt");
  const step = torchStep(config, join(exported, "model.safetensors"), t.batch, { ...t, out: pt });
  const updatedFile = join(work, "updated.safetensors");
  python([CONVERTER, pt, updatedFile]);
  const importDir = join(work, "imported");
  await importCommand(updatedFile, { preset: t.preset, config: join(t.runDir, "config.json"), out: importDir }, {});

  // the imported run's weights (the library's loader) are PyTorch's updated weights
  const updated = readTensors(updatedFile);
  const before = readTensors(join(exported, "model.safetensors"));
  const imported: StateDict = pytorchStateDict(loadModel(importDir));
  assert.deepEqual(Object.keys(imported).sort(), Object.keys(updated).sort(), `${t.what}: tensor names`);
  let worst = 0;
  let moved = 0;
  let values = 0;
  for (const [name, u] of Object.entries(updated)) {
    const d = maxAbsDiff(imported[name], u);
    worst = Math.max(worst, d);
    assert.equal(d, 0, `${t.what}: ${name}: the imported weight differs from PyTorch's by ${d}`);
    const change = maxAbsDiff(u, before[name]);
    if (EVNN_CONSTANT.test(name)) assert.equal(change, 0, `${t.what}: ${name} is a constant`);
    else assert.ok(change > 0, `${t.what}: ${name} did not change in PyTorch's step`);
    if (!EVNN_CONSTANT.test(name)) {
      values += u.data.length;
      moved += u.data.filter((v, i) => v !== before[name].data[i]).length;
    }
  }

  // egru's evaluation of the imported run gives PyTorch's logits after the step
  const key = t.shape.length === 2 ? "tokens" : "x";
  const { input, torch } = wellPosedTorchOutputs(config, updatedFile, (seed) => ({
    [key]: { shape: t.shape, data: t.draw(new Rng(seed)) },
  }));
  const [T, B] = t.shape;
  const rel = assertAgree(egruOutputs(loadModel(importDir), input[key].data, T, B), torch, t.what);
  assert.ok(
    torch.events.every((e) => e === null || e > 0),
    `${t.what}: every EGRU layer has events (the logits depend on each)`,
  );
  process.stderr.write(
    `# round trip ${t.what} (${t.optimizer} step, loss ${step.loss.toFixed(4)}): ${Object.keys(updated).length} tensors, max |imported − PyTorch| = ${worst}; ${moved} of ${values} values moved; max |Δlogit| / max |logit| = ${rel.toExponential(2)}, events ${JSON.stringify(torch.events)}\n`,
  );
  return JSON.parse(readFileSync(config, "utf8")) as Record<string, unknown>;
}

const MNIST = { trainLimit: 16, validation: 16, testLimit: 16, epochs: 1, batchSize: 8 };
const pixels = (n: number) => (r: Rng) => Float32Array.from({ length: n }, () => r.uniform());
const rng = new Rng(31);
const mnistBatch = (T: number, B: number): Record<string, Tensor> => ({
  x: { shape: [T, B, 28], data: pixels(T * B * 28)(rng) },
  labels: { shape: [B], data: Float32Array.from({ length: B }, () => rng.int(10)) },
});

/** A run of egru train of `fields` over `preset`, as `egru train --preset … --config …` makes it. */
async function trainedRun(preset: string, fields: Record<string, unknown>): Promise<string> {
  const config = parseConfig(mergeConfig(loadPresets()[preset], fields), "test");
  const dir = join(tmp(), "run");
  assert.equal(await startRun(config, dir, { kernels: jsKernels, kernelName: "js", quiet: true }), 0);
  return dir;
}

const MNIST_CASES = [
  {
    what: "MNIST EGRU",
    title: "an MNIST EGRU run (clip inside backward) trained one Adam step",
    model: { hidden: 12, layers: 2, thresholdMean: 0.05, gradClip: 0.5 },
    optimizer: "adam",
    lr: 0.01,
  },
  {
    what: "MNIST GRU",
    title: "an MNIST GRU run trained one SGD step",
    model: { cell: "gru", hidden: 10, layers: 2, readout: "last" },
    optimizer: "sgd",
    lr: 0.5,
  },
] as const;

for (const c of MNIST_CASES) {
  test(`${c.title} in PyTorch imports with PyTorch's weights and logits`, async () => {
    const runDir = await trainedRun("default", { ...MNIST, model: c.model });
    const exported = await roundTrip({
      ...c,
      runDir,
      preset: "default",
      batch: mnistBatch(28, 4),
      shape: [28, 3, 28],
      draw: pixels(28 * 3 * 28),
    });
    if ("gradClip" in c.model) {
      // the clip inside backward reaches PyTorch: in the config and as each layer's _max_norm
      assert.equal((exported.egru as { gradClip: number }).gradClip, c.model.gradClip);
      assert.deepEqual((exported.tensors as Record<string, number[]>)["layers.1._max_norm"], [1]);
    }
  });
}

test("an EGRU language-model run trained one step in PyTorch imports with PyTorch's weights and logits", async () => {
  const { data, vocab: V } = tinyCorpus(rng);
  const fields = {
    task: "ptb",
    data,
    epochs: 1,
    batchSize: 4,
    model: { cell: "egru", hidden: 12, layers: 3, thresholdMode: "clamp", thresholdMean: 0.05, gradClip: 0.25 },
    lm: { embedding: 8, bptt: 10, testBatchSize: 1 },
  };
  const runDir = await trainedRun("ptb-small", fields);
  const T = 10,
    B = 3;
  const ids = (r: Rng): Float32Array => Float32Array.from({ length: T * B }, () => r.int(V));
  await roundTrip({
    runDir,
    preset: "ptb-small",
    optimizer: "adam",
    lr: 0.01,
    batch: { tokens: { shape: [T, B], data: ids(rng) }, targets: { shape: [T, B], data: ids(rng) } },
    shape: [T, B],
    draw: ids,
    what: "EGRU language model",
  });
});
