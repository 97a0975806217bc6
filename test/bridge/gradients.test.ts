// The exported model trains in PyTorch as in egru: for the same weights, inputs and upstream gradient
// at the logits, torch.autograd through tools/egru_pytorch.py's modules (the event's backward is the
// pseudo-derivative, the thresholds' two parameterisations, the clip inside backward) gives egru's
// backward's gradient for every parameter, within 1e-5 of each tensor's largest (GRAD_TOLERANCE):
// stacked EGRU classifiers (clamped and sigmoid thresholds, trace and mean readouts, the clip acting),
// a three-layer EGRU language model with its tied decoder, and GRU and LSTM baselines. And the model
// trains in DistributedDataParallel (two CPU processes, gloo) to the one-process step's weights.
// test/pytorch-bridge.ts says how the inputs are chosen so that both sides make the same events.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { createModel, exportPytorch, type Model, type ModelConfig, Rng } from "../../packages/egru/src/index.js";
import {
  assertTensorsClose,
  EVNN_CONSTANT,
  egruGradients,
  GRAD_TOLERANCE,
  maxAbsDiff,
  randomDlogits,
  readTensors,
  smallLmConfig,
  tmp,
  torchGradients,
  torchStep,
  wellPosedTorchOutputs,
  withBiases,
} from "../pytorch-bridge.js";

/** `model` as `egru export --format pytorch` writes it: its config.json and model.safetensors. */
function exported(model: Model): { configFile: string; weightsFile: string } {
  const dir = tmp();
  const { weights, config } = exportPytorch(model);
  const configFile = join(dir, "config.json");
  const weightsFile = join(dir, "model.safetensors");
  writeFileSync(configFile, JSON.stringify(config));
  writeFileSync(weightsFile, weights);
  return { configFile, weightsFile };
}

/** Export `model`, choose well-posed inputs, and compare the two sides' gradients for a random dlogits. */
function compareGradients(model: Model, shape: number[], draw: (r: Rng) => Float32Array, what: string) {
  const { configFile, weightsFile } = exported(model);
  const key = shape.length === 2 ? "tokens" : "x";
  const { input, torch } = wellPosedTorchOutputs(configFile, weightsFile, (seed) => ({
    [key]: { shape, data: draw(new Rng(seed)) },
  }));
  const [T, B] = shape;
  const dlogits = randomDlogits(torch.logits.length, 17);
  const egru = egruGradients(model, input[key].data, T, B, dlogits);
  const grads = torchGradients(configFile, weightsFile, {
    ...input,
    dlogits: { shape: [dlogits.length], data: dlogits },
  });
  assert.ok(Object.keys(grads).length >= 5, `${what}: PyTorch's gradients`);
  const rel = assertTensorsClose(egru.grads, grads, GRAD_TOLERANCE, `${what}: gradients`);
  process.stderr.write(
    `# gradients ${what}: worst max |Δgrad| / max |grad| = ${rel.toExponential(2)} over ${Object.keys(grads).length} tensors, events ${JSON.stringify(torch.events)}, clip ${JSON.stringify(egru.clipScales)}\n`,
  );
  return { events: torch.events, clipScales: egru.clipScales };
}

const uniform =
  (n: number) =>
  (r: Rng): Float32Array =>
    Float32Array.from({ length: n }, () => r.uniform());

const classifier = (fields: Partial<ModelConfig> & Record<string, unknown>): ModelConfig =>
  ({
    type: "sequence-classifier",
    cell: "egru",
    inputSize: 6,
    hiddenSize: 12,
    layers: 2,
    classes: 5,
    readout: "trace",
    seed: 3,
    ...fields,
  }) as ModelConfig;

test("a stacked EGRU classifier (clamped thresholds, trace readout) has egru's gradients in PyTorch", () => {
  const model = withBiases(createModel(classifier({ egru: { thresholdMean: 0.1 } })));
  const { events } = compareGradients(model, [9, 3, 6], uniform(9 * 3 * 6), "EGRU classifier, clamp, trace");
  assert.ok(
    events.every((e) => e !== null && e > 0),
    "every layer has events",
  );
});

test("EGRU with sigmoid thresholds, mean readout and the clip inside backward acting has egru's gradients in PyTorch", () => {
  const config = classifier({
    readout: "mean",
    seed: 8,
    egru: { thresholdMode: "sigmoid", thresholdMean: -2, gradClip: 0.05, pseudoDerivativeSupport: 1.7 },
  });
  const model = withBiases(createModel(config));
  const { events, clipScales } = compareGradients(model, [9, 3, 6], uniform(9 * 3 * 6), "EGRU, sigmoid, clip");
  assert.ok(
    events.every((e) => e !== null && e > 0),
    "every layer has events",
  );
  assert.ok(
    clipScales.every((s) => s !== null && s < 1),
    `the clip acts on every layer: ${JSON.stringify(clipScales)}`,
  );
});

test("an EGRU language model (three layers, tied decoder) has egru's gradients in PyTorch", () => {
  const V = 30;
  const egru = { thresholdMean: 0.05, dampeningFactor: 3.6, pseudoDerivativeSupport: 3.6, gradClip: 0.25 };
  const model = withBiases(createModel(smallLmConfig(V, egru)));
  const T = 8,
    B = 3;
  const tokens = (r: Rng): Float32Array => Float32Array.from({ length: T * B }, () => r.int(V));
  const { events } = compareGradients(model, [T, B], tokens, "EGRU language model");
  assert.ok(
    events.every((e) => e !== null && e > 0),
    "every layer has events",
  );
});

test("GRU and LSTM baselines have egru's gradients in PyTorch", () => {
  for (const cell of ["gru", "lstm"] as const) {
    const model = withBiases(createModel(classifier({ cell, readout: "last", seed: 4 })));
    compareGradients(model, [7, 2, 6], uniform(7 * 2 * 6), `${cell.toUpperCase()} classifier`);
  }
  const lstmLm = withBiases(
    createModel({ type: "language-model", cell: "lstm", vocab: 20, embedding: 6, hidden: 10, layers: 2, seed: 1 }),
  );
  compareGradients(lstmLm, [6, 2], (r) => Float32Array.from({ length: 12 }, () => r.int(20)), "LSTM language model");
});

test("the exported EGRU classifier steps in DistributedDataParallel on two processes as on one", () => {
  const { configFile, weightsFile } = exported(createModel(classifier({ egru: { thresholdMean: 0.1 } })));
  const r = new Rng(5);
  const T = 9,
    B = 4;
  const batch = {
    x: { shape: [T, B, 6], data: uniform(T * B * 6)(r) },
    labels: { shape: [B], data: Float32Array.from({ length: B }, () => r.int(5)) },
  };
  const [one, two] = [1, 2].map((processes) => {
    const out = join(tmp(), `step-${processes}.safetensors`);
    torchStep(configFile, weightsFile, batch, { optimizer: "adam", lr: 0.01, out, processes });
    return readTensors(out);
  });
  const before = readTensors(weightsFile);
  let worst = 0;
  for (const [name, t] of Object.entries(one)) {
    worst = Math.max(worst, maxAbsDiff(t, two[name]));
    if (!EVNN_CONSTANT.test(name)) assert.ok(maxAbsDiff(t, before[name]) > 0, `${name} did not change`);
  }
  assert.ok(worst <= 1e-6, `two processes' step differs from one's by ${worst}`);
  process.stderr.write(`# DistributedDataParallel, 2 processes vs 1: max |Δweight| = ${worst.toExponential(2)}\n`);
});
