// Fuzz format: a training run's checkpoint (saveTrainer of a small EGRU classifier at step 7: the
// run's checkpoint.json, and ckpt-00000007/ with state.json, model.safetensors, optimizer.safetensors),
// read as egru train --resume reads it (loadCheckpoint, then restoreTrainer into a fresh trainer).
// state.json records sha256.state over its other fields and the sha256 of both tensor files, so any
// damage that is accepted must load exactly what was saved: anything else is garbage accepted. The
// exception is an edit of state.json resealed with a matching sha256.state (a careful editor, or a
// bug): the schema and the checks against the run must still refuse it or read it, never crash.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { Tensor } from "../../packages/egru/src/io/safetensors.js";
import type { MnistSplit } from "../../packages/cli/src/data/mnist.js";
import { stateDigest } from "../../packages/cli/src/run/checkpoint-state.js";
import {
  type LoadedCheckpoint,
  loadCheckpoint,
  restoreTrainer,
  saveTrainer,
} from "../../packages/cli/src/run/checkpoint.js";
import { buildTrainer } from "../../packages/cli/src/train/build.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { mnistTask } from "../../packages/cli/src/train/task.js";
import { jsonFile, safetensorsFields, safetensorsHeader } from "./codecs.js";
import type { FuzzFormat } from "./harness.js";

const CKPT = "ckpt-00000007";

function toyMnist(n: number, seed: number): MnistSplit {
  const rng = new Rng(seed);
  const images = Uint8Array.from({ length: n * 784 }, () => rng.int(255));
  const labels = Uint8Array.from({ length: n }, () => rng.int(10));
  return { images, labels, count: n };
}

const config = parseConfig({
  model: { cell: "egru", hidden: 6, zoneout: 0.1 },
  optimizer: { kind: "adam", lr: 1e-2 },
  epochs: 3,
  batchSize: 16,
});
const task = mnistTask("mnist-row", toyMnist(80, 1), toyMnist(10, 2), { validation: 16 });
const makeTrainer = () => buildTrainer(config, task);
let trainer: ReturnType<typeof makeTrainer> | undefined;

/** The files of a checkpoint at step 7 (epoch 1, batch 3 of 4). */
function checkpointFiles(): Record<string, Uint8Array> {
  const dir = mkdtempSync(join(tmpdir(), "egru-fuzz-ckpt-"));
  try {
    const t = makeTrainer();
    t.run({ stop: (p) => p.step === 7 });
    saveTrainer(dir, t, {
      config,
      seconds: 1.5,
      kind: { best: { epoch: 1, accuracy: 0.25 }, lastEpoch: { trainLoss: 2.3, valid: { accuracy: 0.25 } } },
    });
    const files = [
      "checkpoint.json",
      `${CKPT}/state.json`,
      `${CKPT}/model.safetensors`,
      `${CKPT}/optimizer.safetensors`,
    ];
    return Object.fromEntries(files.map((f) => [f, readFileSync(join(dir, f))]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Record the sha256.state a careful editor would (when the edited value still has a sha256 object). */
function reseal(state: unknown): void {
  const s = state as { sha256?: unknown } | null;
  if (s === null || typeof s !== "object" || s.sha256 === null || typeof s.sha256 !== "object") return;
  (s.sha256 as Record<string, unknown>).state = stateDigest(s as Record<string, unknown>);
}

const tensors = (t: Record<string, Tensor>): Record<string, [number[], Buffer]> =>
  Object.fromEntries(
    Object.entries(t).map(([k, v]) => [k, [v.shape, Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength)]]),
  );

type Loaded = Omit<LoadedCheckpoint, "dir">;

export const CHECKPOINT: FuzzFormat<Loaded> = {
  name: "checkpoint",
  reads: "egru train --resume: loadCheckpoint(runDir), restoreTrainer",
  instance: checkpointFiles,
  files: [
    { path: `${CKPT}/state.json`, json: jsonFile(1, reseal) },
    { path: `${CKPT}/model.safetensors`, fields: safetensorsFields, json: safetensorsHeader },
    { path: `${CKPT}/optimizer.safetensors`, fields: safetensorsFields, json: safetensorsHeader },
    { path: "checkpoint.json", json: jsonFile() },
  ],
  read: (dir) => {
    trainer ??= makeTrainer();
    const ck = loadCheckpoint(dir);
    restoreTrainer(trainer, ck);
    const { dir: _, ...loaded } = ck;
    return loaded;
  },
  wrong: (r, valid, d) => {
    if (d.kind === "json" && d.reseal && d.target === 0) return null; // state.json edited and resealed
    if (!isDeepStrictEqual(r.state, valid.state)) return "state.json's value changed, and was accepted";
    if (!isDeepStrictEqual(tensors(r.model), tensors(valid.model))) return "the model's tensors changed";
    if (!isDeepStrictEqual(tensors(r.optimizer), tensors(valid.optimizer))) return "the optimizer's tensors changed";
    return null;
  },
};
