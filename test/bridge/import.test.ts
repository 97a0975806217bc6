// `egru import`: checkpoints written by PyTorch in EvNN's state-dict layout (tools/egru_pytorch.py
// init: seeded weights, torch.save of the state_dict; v0.2 clamped `thr` and v0.1 `thr_reparam`,
// float32, float16 and bfloat16; a language model with its tied decoder), converted by
// tools/evnn_to_safetensors.py and imported, give PyTorch's logits and event counts in egru
// (test/pytorch-bridge.ts: the comparison). The imported run is what eval and the library's
// loadModel() read; --resume refuses it; a name, shape or dtype that does not fit is an error naming
// the tensor (and both shapes), never a stack dump.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { encodeSafetensors, pytorchConfig, Rng } from "../../packages/egru/src/index.js";
import { loadModel } from "../../packages/egru/src/node.js";
import { kindOf } from "../../packages/cli/src/run/index.js";
import { mergeConfig, parseConfig } from "../../packages/cli/src/train/config.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { evalCommand } from "../../packages/cli/src/cli/eval.js";
import { exportCommand } from "../../packages/cli/src/cli/export.js";
import { importCommand } from "../../packages/cli/src/cli/import.js";
import { runEgru } from "../helpers.js";
import {
  assertAgree,
  CONVERTER,
  egruOutputs,
  python,
  TOOL,
  tinyCorpus,
  tmp,
  wellPosedTorchOutputs,
} from "../pytorch-bridge.js";

const rng = new Rng(23);

/**
 * A checkpoint of the model `fields` (a configuration over `preset`) describes, written by PyTorch:
 * the training configuration file, the PyTorch config, the .pt and its safetensors conversion.
 */
function checkpoint(preset: string, fields: Record<string, unknown>, seed: number, dtype = "float32") {
  const dir = tmp();
  const configFile = join(dir, "train.json");
  writeFileSync(configFile, JSON.stringify(fields));
  const config = parseConfig(mergeConfig(loadPresets()[preset], fields), configFile);
  const { model } = kindOf(config).blankModel(config);
  const torchConfig = join(dir, "pytorch.json");
  writeFileSync(torchConfig, JSON.stringify(pytorchConfig(model)));
  const pt = join(dir, "model.pt");
  python([TOOL, "init", "--config", torchConfig, "--seed", String(seed), "--dtype", dtype, "--out", pt]);
  const file = join(dir, "model.safetensors");
  python([CONVERTER, pt, file]);
  return { configFile, torchConfig, file, runDir: join(dir, "run") };
}

const MNIST = { trainLimit: 16, validation: 16, testLimit: 16, model: { hidden: 10, layers: 2 } };
/** One EGRU checkpoint (v0.2) for the tests of the run and the errors (Python starts slowly). */
let shared: ReturnType<typeof checkpoint> | undefined;
const sharedCheckpoint = (): ReturnType<typeof checkpoint> => {
  shared ??= checkpoint("default", { ...MNIST }, 3);
  return shared;
};

const cases = [
  {
    what: "EGRU, EvNN v0.2 (thr), float32",
    fields: { model: { ...MNIST.model, thresholdMode: "clamp" } },
    dtype: "float32",
  },
  {
    what: "EGRU, EvNN v0.1 (thr_reparam), float16",
    fields: { model: { ...MNIST.model, thresholdMode: "sigmoid" } },
    dtype: "float16",
  },
  { what: "GRU, bfloat16", fields: { model: { ...MNIST.model, cell: "gru", readout: "last" } }, dtype: "bfloat16" },
  { what: "LSTM, float32", fields: { model: { ...MNIST.model, cell: "lstm", readout: "mean" } }, dtype: "float32" },
];

for (const [k, c] of cases.entries()) {
  test(`an MNIST checkpoint from PyTorch (${c.what}) imports with PyTorch's logits and events`, async () => {
    const ck = checkpoint("default", { ...MNIST, ...c.fields }, 100 + k, c.dtype);
    await importCommand(ck.file, { preset: "default", config: ck.configFile, out: ck.runDir }, {});
    const T = 28,
      B = 3;
    const draw = (seed: number) => {
      const r = new Rng(seed);
      return { x: { shape: [T, B, 28], data: Float32Array.from({ length: T * B * 28 }, () => r.uniform()) } };
    };
    const { input, torch } = wellPosedTorchOutputs(ck.torchConfig, ck.file, draw);
    const rel = assertAgree(egruOutputs(loadModel(ck.runDir), input.x.data, T, B), torch, c.what);
    process.stderr.write(
      `# import ${c.what}: max |Δlogit| / max |logit| = ${rel.toExponential(2)}, events ${JSON.stringify(torch.events)}\n`,
    );
  });
}

test("an EGRU language model from PyTorch imports with its tied decoder; eval and generate read it", async () => {
  const { data, vocab: V } = tinyCorpus(rng);
  const fields = {
    task: "ptb",
    data,
    model: { cell: "egru", hidden: 12, layers: 3, thresholdMode: "clamp" },
    lm: { embedding: 8, bptt: 10, testBatchSize: 1 },
  };
  const ck = checkpoint("ptb-small", fields, 7);
  const r = runEgru([
    "import",
    ck.file,
    "--preset",
    "ptb-small",
    "--config",
    ck.configFile,
    "--out",
    ck.runDir,
    "--json",
  ]);
  assert.equal(r.code, 0, r.err);
  const T = 12,
    B = 2;
  const draw = (seed: number) => {
    const r = new Rng(seed);
    return { tokens: { shape: [T, B], data: Float32Array.from({ length: T * B }, () => r.int(V)) } };
  };
  const { input, torch } = wellPosedTorchOutputs(ck.torchConfig, ck.file, draw);
  const rel = assertAgree(egruOutputs(loadModel(ck.runDir), input.tokens.data, T, B), torch, "language model");
  assert.ok(
    torch.events.every((e) => e !== null && e > 0),
    "every layer has events (the decoder reads them)",
  );
  process.stderr.write(
    `# import language model EGRU: max |Δlogit| / max |logit| = ${rel.toExponential(2)}, events ${JSON.stringify(torch.events)}\n`,
  );
  await evalCommand(ck.runDir, { json: true }, { kernelName: "default" });
  const record = JSON.parse(readFileSync(join(ck.runDir, "eval-test.json"), "utf8")) as {
    split: string;
    perplexity: number;
    step: unknown;
  };
  assert.equal(record.split, "test");
  assert.ok(record.perplexity > 1 && Number.isFinite(record.perplexity));
  assert.equal(record.step, null);
  const gen = runEgru(["generate", ck.runDir, "--tokens", "5", "--temperature", "0", "--json"]);
  assert.equal(gen.code, 0, gen.err);
});

test("an imported classifier run: egru eval reads it, --resume refuses it, export gives the checkpoint's tensors back", async () => {
  const ck = sharedCheckpoint();
  await importCommand(ck.file, { preset: "default", config: ck.configFile, out: ck.runDir }, {});
  await evalCommand(ck.runDir, { json: true }, { kernelName: "default" });
  assert.equal((JSON.parse(readFileSync(join(ck.runDir, "eval-test.json"), "utf8")) as { count: number }).count, 16);
  const resume = runEgru(["train", "--resume", ck.runDir]);
  assert.equal(resume.code, 1);
  assert.match(resume.err, /a run of weights only \(made by egru import\)/);
  assert.doesNotMatch(resume.err, /\n\s+at /); // no stack
  const out = join(tmp(), "back");
  await exportCommand(ck.runDir, { format: "pytorch", out }, {});
  const names = (f: string): string[] => {
    const bytes = readFileSync(f);
    const n = Number(bytes.readBigUInt64LE(0));
    return Object.keys(JSON.parse(bytes.subarray(8, 8 + n).toString()) as object)
      .filter((k) => k !== "__metadata__")
      .sort();
  };
  assert.deepEqual(names(join(out, "model.safetensors")), names(ck.file));
});

test("a checkpoint that does not fit is refused naming the tensor, both shapes, the parameterisation or the dtype", () => {
  const ck = sharedCheckpoint();
  const bigger = join(tmp(), "bigger.json");
  writeFileSync(bigger, JSON.stringify({ ...MNIST, model: { ...MNIST.model, hidden: 11 } }));
  const shape = runEgru(["import", ck.file, "--preset", "default", "--config", bigger, "--out", join(tmp(), "r")]);
  assert.equal(shape.code, 1);
  assert.match(
    shape.err,
    /model\.safetensors: layers\.0\.kernel: expected shape \[28, 33\] \(the model's\), got shape \[28, 30\]/,
  );
  assert.doesNotMatch(shape.err, /\n\s+at /);
  const v01 = runEgru([
    "import",
    ck.file,
    "--preset",
    "default",
    "--config",
    ck.configFile,
    "--threshold-mode",
    "sigmoid",
    "--out",
    join(tmp(), "r"),
  ]);
  assert.equal(v01.code, 1);
  assert.match(v01.err, /missing layers\.0\.thr_reparam.*unexpected layers\.0\.thr.*thresholdMode to "clamp"/);
  const ints = join(tmp(), "ints.safetensors");
  const head = JSON.stringify({ "layers.0.kernel": { dtype: "I64", shape: [1], data_offsets: [0, 8] } });
  const buf = Buffer.alloc(8 + head.length + 8);
  buf.writeBigUInt64LE(BigInt(head.length), 0);
  buf.write(head, 8);
  writeFileSync(ints, buf);
  const dtype = runEgru(["import", ints, "--preset", "default", "--config", ck.configFile, "--out", join(tmp(), "r")]);
  assert.equal(dtype.code, 1);
  assert.match(dtype.err, /tensor layers\.0\.kernel: dtype: expected one of F32, F16, BF16, F64, got "I64"/);
  const gamma = join(tmp(), "gamma.safetensors");
  writeFileSync(gamma, encodeSafetensors({ "layers.0.dampening_factor": { shape: [1], data: Float32Array.of(3.6) } }));
  const missing = runEgru([
    "import",
    gamma,
    "--preset",
    "default",
    "--config",
    ck.configFile,
    "--out",
    join(tmp(), "r"),
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /missing layers\.0\.kernel/);
});
