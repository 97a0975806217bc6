// safetensors and checkpoints: exact round trips, every kind of damage named, atomic replacement
// (the previous checkpoint stays current until the new one is complete), and a trainer restored
// from a checkpoint continuing with exactly the losses of an uninterrupted run.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ShapeError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { MnistSplit } from "../../packages/cli/src/data/mnist.js";
import { decodeSafetensors, encodeSafetensors } from "../../packages/egru/src/io/safetensors.js";
import { loadCheckpoint, restoreTrainer, saveCheckpoint, saveTrainer } from "../../packages/cli/src/run/checkpoint.js";
import { buildTrainer } from "../../packages/cli/src/train/build.js";
import { parseConfig, type TrainConfig } from "../../packages/cli/src/train/config.js";
import { mnistTask } from "../../packages/cli/src/train/task.js";

const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-ckpt-"));

test("safetensors: float32 tensors and metadata round-trip exactly, 8-byte aligned data", () => {
  const t = {
    b: { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, Number.MIN_VALUE, -0, 1e30]) },
    a: { shape: [1], data: Float32Array.from([0.1]) },
  };
  const bytes = encodeSafetensors(t, { format: "x" });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0);
  const d = decodeSafetensors(bytes, "f");
  assert.deepEqual(d.metadata, { format: "x" });
  assert.deepEqual(d.tensors.b.shape, [2, 3]);
  assert.deepEqual(d.tensors.b.data, t.b.data);
  assert.deepEqual(d.tensors.a.data, t.a.data);
  assert.throws(() => encodeSafetensors({ x: { shape: [2, 2], data: new Float32Array(3) } }), ShapeError);
});

test("safetensors: truncation, bad headers, dtypes and offsets name the file and tensor", () => {
  const good = encodeSafetensors({ w: { shape: [4], data: new Float32Array(4) } });
  assert.throws(() => decodeSafetensors(good.subarray(0, 5), "m.st"), /m\.st/);
  assert.throws(() => decodeSafetensors(good.subarray(0, good.length - 4), "m.st"), /m\.st: tensor w: data_offsets/);
  const header = (h: object): Uint8Array => {
    const j = new TextEncoder().encode(JSON.stringify(h));
    const out = new Uint8Array(8 + j.length + 16);
    new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
    out.set(j, 8);
    return out;
  };
  assert.throws(
    () => decodeSafetensors(header({ w: { dtype: "I32", shape: [4], data_offsets: [0, 16] } }), "h.st"),
    /h\.st: tensor w: dtype/,
  );
  assert.throws(
    () => decodeSafetensors(header({ w: { dtype: "F32", shape: [3], data_offsets: [0, 16] } }), "h.st"),
    ShapeError,
  );
  const bad = new Uint8Array(20);
  new DataView(bad.buffer).setBigUint64(0, 4n, true);
  bad.set(new TextEncoder().encode("{{{{"), 8);
  assert.throws(() => decodeSafetensors(bad, "j.st"), /j\.st: header/);
});

/** A synthetic MNIST-shaped dataset (no files needed): digit c is a bright row at 2c. */
function toyMnist(n: number, seed: number): MnistSplit {
  const rng = new Rng(seed);
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = rng.int(10);
    labels[i] = c;
    for (let p = 0; p < 784; p++) images[i * 784 + p] = rng.int(40);
    for (let k = 0; k < 28; k++) images[i * 784 + 2 * c * 28 + k] = 200 + rng.int(55);
  }
  return { images, labels, count: n };
}

const config = (over: object = {}): TrainConfig =>
  parseConfig({
    model: { cell: "egru", hidden: 12, zoneout: 0.1, dropConnect: 0.2 },
    optimizer: { kind: "adamw", lr: 5e-3, clip: 1, weightDecay: 0.01 },
    schedule: { kind: "cosine", startEpoch: 1 },
    epochs: 3,
    batchSize: 16,
    validation: 20,
    seed: 5,
    ...over,
  });

test("a trainer restored from a checkpoint continues with exactly the losses of an uninterrupted run", () => {
  const train = toyMnist(100, 1);
  const testSplit = toyMnist(30, 2);
  const task = mnistTask("mnist-row", train, testSplit, { validation: 20 });
  const c = config();
  resumesExactly(c, task, [7, 10], 15); // 3 epochs × ⌈80 / 16⌉
});

test("the plateau schedule's decays and early stopping resume exactly from a checkpoint", () => {
  const task = mnistTask("mnist-row", toyMnist(100, 1), toyMnist(30, 2), { validation: 20 });
  // decay ×0.5 at every validation that does not improve; stop after 2 epochs without improvement
  const c = config({ epochs: 12, earlyStop: 2, schedule: { kind: "plateau", factor: 0.5, patience: 0 } });
  const t = buildTrainer(c, task);
  const lrs: number[] = [];
  const decays: number[] = [0]; // before each epoch
  assert.equal(t.run({ onStep: (s) => lrs.push(s.lr), onEpoch: () => decays.push(t.watch.state.decays) }), "done");
  const early = t.stoppedEarly;
  assert.ok(early && early.epoch < 12 && early.epoch - early.bestEpoch === 2, JSON.stringify(early));
  assert.ok(t.watch.state.decays >= 2, `decays ${t.watch.state.decays}`);
  // every step of epoch e runs at 5e-3 · 0.5^(decays before e)
  assert.deepEqual(
    lrs,
    decays.slice(0, -1).flatMap((d) => Array(5).fill(5e-3 * 0.5 ** d)),
  );
  const steps = early.epoch * 5;
  assert.equal(lrs.length, steps);
  // interrupted mid-epoch, and just before the validation that stopped the run
  resumesExactly(c, task, [7, 12, steps], steps);
  // the checkpoint saved after that validation: a resumed run ends at once, stopped early as before
  const dir = tmp();
  saveTrainer(dir, t, { config: c, seconds: 0, kind: {} });
  const again = buildTrainer(c, task);
  restoreTrainer(again, loadCheckpoint(dir));
  let more = 0;
  assert.equal(again.run({ onStep: () => more++ }), "done");
  assert.equal(more, 0);
  assert.deepEqual(again.stoppedEarly, early);
});

/** Whether runs interrupted at each of `stops` (saved, loaded into a fresh trainer) give the uninterrupted losses. */
function resumesExactly(c: TrainConfig, task: ReturnType<typeof mnistTask>, stops: number[], steps: number): void {
  const losses = (stopAt: number | null): number[] => {
    let t = buildTrainer(c, task);
    const out: number[] = [];
    const dir = tmp();
    for (;;) {
      const r = t.run({ onStep: (s) => out.push(s.loss), stop: () => true });
      if (r === "done") break;
      if (t.position.step === stopAt) {
        saveTrainer(dir, t, { config: c, seconds: 0, kind: {} });
        const ck = loadCheckpoint(dir);
        t = buildTrainer(c, task); // a fresh process would start here
        restoreTrainer(t, ck);
      }
    }
    return out;
  };
  const whole = losses(null);
  assert.equal(whole.length, steps);
  for (const at of stops) assert.deepEqual(losses(at), whole, `stopped at step ${at}`);
  assert.ok(whole.every(Number.isFinite));
}

test("checkpoints replace each other atomically and damage is detected", () => {
  const dir = tmp();
  const c = config();
  const model = { w: { shape: [3], data: Float32Array.from([1, 2, 3]) } };
  const state = (step: number) => ({
    config: c,
    position: { epoch: 0, batch: step, step },
    sums: { loss: 0, correct: 0, seen: 0 },
    rng: [1, 2, 3, 4] as [number, number, number, number],
    optimizerStep: step,
    seconds: 1,
  });
  saveCheckpoint(dir, model, {}, state(5));
  saveCheckpoint(dir, model, {}, state(9));
  assert.deepEqual(
    readdirSync(dir).filter((d) => d.startsWith("ckpt-")),
    ["ckpt-00000009"],
    "the older one is removed",
  );
  assert.equal(loadCheckpoint(dir).state.position.step, 9);
  // a crash while writing the next checkpoint: a partial directory, checkpoint.json still names step 9
  mkdirSync(join(dir, "ckpt-00000012"));
  writeFileSync(join(dir, "ckpt-00000012", "model.safetensors"), "partial");
  assert.equal(loadCheckpoint(dir).state.position.step, 9, "the previous checkpoint is still the current one");
  saveCheckpoint(dir, model, {}, state(14));
  assert.deepEqual(
    readdirSync(dir).filter((d) => d.startsWith("ckpt-")),
    ["ckpt-00000014"],
    "the partial one is cleaned up",
  );
  const d2 = tmp();
  saveCheckpoint(d2, model, {}, state(3));
  const f = join(d2, "ckpt-00000003", "model.safetensors");
  const bytes = readFileSync(f);
  bytes[bytes.length - 1] ^= 1;
  writeFileSync(f, bytes);
  assert.throws(
    () => loadCheckpoint(d2),
    (e: ValueError) => e.argument.endsWith("model.safetensors: sha256"),
  );
  assert.throws(() => loadCheckpoint(tmp()), /checkpoint/);
  assert.ok(!readdirSync(d2).some((n) => n.includes(".tmp-")), "no temporary files left");
  assert.ok(existsSync(join(d2, "checkpoint.json")));
});
