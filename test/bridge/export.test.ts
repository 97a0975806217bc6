// `egru export --format pytorch`: the exported weights and config, loaded by tools/egru_pytorch.py
// into plain PyTorch modules, give egru's logits (within 1e-5 of the largest) and exactly egru's
// event counts per layer, for an MNIST classifier run of `egru train` (EGRU) and saved models (GRU,
// LSTM), a three-layer EGRU language model with its tied decoder, and the DVS Gesture ICLR model
// (AlexNet front-end, EGRU with sigmoid thresholds, trace-mean readout) on sparse event frames.
// test/pytorch-bridge.ts says how the comparison is made well-posed.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ALEXNET_FRONT_END, createModel, type ModelConfig, Rng } from "../../packages/egru/src/index.js";
import { loadModel, saveModel } from "../../packages/egru/src/node.js";
import { startRun } from "../../packages/cli/src/run/index.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { jsKernels } from "../../packages/egru/src/kernels/backend.js";
import { exportCommand } from "../../packages/cli/src/cli/export.js";
import { runEgru } from "../helpers.js";
import { assertAgree, egruOutputs, smallLmConfig, tmp, wellPosedTorchOutputs, withBiases } from "../pytorch-bridge.js";

/** Export `dir` with the CLI and compare PyTorch's outputs on a well-posed `draw(seed)` with egru's. */
async function exportAndCompare(
  dir: string,
  draw: (r: Rng) => Float32Array,
  shape: number[],
  what: string,
): Promise<number> {
  const out = join(tmp(), "torch");
  await exportCommand(dir, { format: "pytorch", out }, {});
  const [T, B] = shape;
  const key = shape.length === 2 ? "tokens" : "x";
  const { input, torch } = wellPosedTorchOutputs(join(out, "config.json"), join(out, "model.safetensors"), (seed) => ({
    [key]: { shape, data: draw(new Rng(seed)) },
  }));
  const rel = assertAgree(egruOutputs(loadModel(dir), input[key].data, T, B), torch, what);
  process.stderr.write(
    `# ${what}: max |Δlogit| / max |logit| = ${rel.toExponential(2)}, events ${JSON.stringify(torch.events)}\n`,
  );
  return rel;
}

const pixels =
  (n: number) =>
  (r: Rng): Float32Array =>
    Float32Array.from({ length: n }, () => r.uniform());

test("an MNIST EGRU run of egru train exports to PyTorch with the same logits and events", async () => {
  const dir = join(tmp(), "run");
  const config = parseConfig(
    { trainLimit: 16, validation: 16, testLimit: 16, epochs: 1, batchSize: 8, model: { hidden: 12, layers: 2 } },
    "test",
  );
  assert.equal(await startRun(config, dir, { kernels: jsKernels, kernelName: "js", quiet: true }), 0);
  await exportAndCompare(dir, pixels(28 * 4 * 28), [28, 4, 28], "mnist-row EGRU run");
});

for (const cell of ["gru", "lstm"] as const) {
  test(`an MNIST ${cell.toUpperCase()} classifier exports as nn.${cell.toUpperCase()} layers with the same logits`, async () => {
    const dir = join(tmp(), "model");
    const config: ModelConfig = {
      type: "sequence-classifier",
      cell,
      inputSize: 28,
      hiddenSize: 16,
      layers: 2,
      classes: 10,
      readout: "mean",
      seed: 5,
    };
    saveModel(withBiases(createModel(config)), dir);
    await exportAndCompare(dir, pixels(28 * 3 * 28), [28, 3, 28], `mnist-row ${cell}`);
  });
}

test("an EGRU language model exports with its tied decoder and the same logits and events", async () => {
  const dir = join(tmp(), "lm");
  const V = 40;
  saveModel(withBiases(createModel(smallLmConfig(V, { thresholdMean: 0.05 }))), dir);
  const T = 10,
    B = 3;
  const tokens = (r: Rng): Float32Array => Float32Array.from({ length: T * B }, () => r.int(V));
  await exportAndCompare(dir, tokens, [T, B], "language model EGRU");
  const out = join(tmp(), "again");
  await exportCommand(dir, { format: "pytorch", out, json: true }, {});
  const exported = JSON.parse(readFileSync(join(out, "config.json"), "utf8")) as { tensors: Record<string, number[]> };
  assert.deepEqual(exported.tensors["decoder.decoder.weight"], exported.tensors["embeddings.weight"]);
  assert.ok(existsSync(join(out, "model.safetensors")));
});

test("the DVS Gesture ICLR model (AlexNet front-end, sigmoid thresholds) exports with the same logits and events", async () => {
  const dir = join(tmp(), "dvs");
  const config: ModelConfig = {
    type: "sequence-classifier",
    cell: "egru",
    inputSize: 128 * 128,
    hiddenSize: 24,
    layers: 1,
    classes: 11,
    readout: "trace-mean",
    seed: 4,
    frontEnd: { layers: ALEXNET_FRONT_END, channels: 1, height: 128, width: 128 },
    inputDropout: 0.5,
    outputDropout: 0.5,
    egru: { thresholdMode: "sigmoid", thresholdMean: -0.2465, pseudoDerivativeSupport: 1.7 },
  };
  saveModel(withBiases(createModel(config)), dir);
  // sparse event-count frames, as the DVS pipeline makes them: mostly 0, a few events per pixel
  const T = 3,
    B = 2;
  const frames = (r: Rng): Float32Array =>
    Float32Array.from({ length: T * B * 128 * 128 }, () => (r.uniform() < 0.05 ? 1 + r.int(3) : 0));
  await exportAndCompare(dir, frames, [T, B, 128 * 128], "DVS AlexNet + EGRU");
});

test("export refuses to overwrite and names a missing run", () => {
  const out = tmp();
  const dir = join(tmp(), "model");
  saveModel(
    createModel({
      type: "sequence-classifier",
      cell: "gru",
      inputSize: 4,
      hiddenSize: 4,
      layers: 1,
      classes: 2,
      readout: "last",
      seed: 0,
    }),
    dir,
  );
  assert.equal(runEgru(["export", dir, "--format", "pytorch", "--out", out]).code, 0);
  const again = runEgru(["export", dir, "--format", "pytorch", "--out", out]);
  assert.equal(again.code, 2);
  assert.match(again.err, /nothing is overwritten/);
  const missing = runEgru(["export", join(out, "nope"), "--format", "pytorch", "--out", tmp()]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /does not exist/);
});
