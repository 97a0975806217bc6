// Replicas (node/replica-pool.ts): a classifier's training step whose row blocks run on worker
// threads gives the same bits as one thread running the same blocks in turn: losses, gradient norms
// and every parameter after each step, with input and output dropout and the activity regulariser
// on (the blocks' own random states and the two-phase event rate), in waves (three blocks on one
// replica, leftover block included) and in one wave (three blocks, two replicas), with and without
// EGRU's clip inside backward (the replicas' gradient-group sums merged in block order); the evaluation
// through replicas equals one thread's; an error a replica raises comes back as the same kind of
// error naming the step; and `egru train --threads 2` (the default job's batch of 128 in blocks of 64,
// one on each thread) equals `--threads 1` (the same blocks in turn), as a whole run, test figures
// included; and which runs get replicas (blocks, threads, and copies that fit the memory).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { NonFiniteError } from "../../packages/egru/src/core/errors.js";
import { countParams } from "../../packages/egru/src/nn/params.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { createReplicaPool } from "../../packages/cli/src/node/replica-pool.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { replicaPeak } from "../../packages/cli/src/run/classifier.js";
import { replicaThreads } from "../../packages/cli/src/run/replica-threads.js";
import { buildTrainer, classifierConfig } from "../../packages/cli/src/train/build.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { blockPeak, classifierCost, type RowPlans } from "../../packages/cli/src/train/memory.js";
import type { Replicas } from "../../packages/cli/src/train/replicas.js";
import type { ClassificationTask } from "../../packages/cli/src/train/task.js";
import { randomTask } from "../helpers.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20");
const opened: Replicas[] = [];
after(() => Promise.all(opened.map((r) => r.close())));

const task = randomTask(9, 7, 5, 200, { seed: 3, evaluated: true });
const configOf = (gradClip: number) =>
  parseConfig(
    {
      batchSize: 22,
      microBatch: 8, // blocks of 7, 7 and 8 rows
      evalBatchSize: 30,
      model: { hidden: 13, inputDropout: 0.2, outputDropout: 0.1, activityWeight: 0.5, activityTarget: 0.1, gradClip },
    },
    "test",
  );
const config = configOf(0);

function trainers(replicas: number, config = configOf(0)) {
  const one = buildTrainer(config, task, { kernels: wasm! });
  const many = buildTrainer(config, task, { kernels: wasm! });
  const pool = createReplicaPool(classifierConfig(config, task), countParams(many.model.params()), replicas, wasm!);
  opened.push(pool);
  many.replicas = pool;
  return { one, many };
}

for (const [replicas, gradClip] of [
  [1, 0],
  [2, 0],
  [1, 0.001],
  [2, 0.001],
]) {
  const clip = gradClip ? `, EGRU's clip inside backward acting on the blocks' group` : "";
  test(`three blocks on ${replicas} replica(s) give one thread's bits, step by step${clip}`, () => {
    const { one, many } = trainers(replicas, configOf(gradClip));
    assert.equal(one.options.microBatch, 8);
    for (let s = 0; s < 4; s++) {
      const idx = Int32Array.from({ length: 22 }, (_, i) => (s * 22 + i) % 200);
      const a = one.trainStep(idx, 4);
      const b = many.trainStep(idx, 4);
      assert.equal(b.loss, a.loss, `step ${s + 1}: loss`);
      assert.equal(b.gradNorm, a.gradNorm, `step ${s + 1}: gradient norm`);
      assert.deepEqual(b.layerSparsity, a.layerSparsity, `step ${s + 1}: sparsity`);
      assert.deepEqual(b.macs, a.macs, `step ${s + 1}: MACs`);
      const pb = many.model.params();
      one.model.params().forEach((p, k) => assert.deepEqual(pb[k].value, p.value, `step ${s + 1}: ${p.name}`));
      assert.deepEqual(many.model.rng.getState(), one.model.rng.getState(), `step ${s + 1}: random state`);
      if (gradClip) {
        assert.deepEqual(b.layerClipScale, a.layerClipScale, `step ${s + 1}: clip factors`);
        assert.ok(a.layerClipScale && a.layerClipScale[0] < 1, `step ${s + 1}: the clip acts`);
      }
    }
    assert.ok(one.model.options.activityWeight > 0 && one.model.options.inputDropout > 0);
    assert.deepEqual(many.evaluate("test"), one.evaluate("test"));
  });
}

test("a step in blocks is not a whole-batch step (the bits compared above are not trivially equal)", () => {
  const whole = buildTrainer({ ...config, microBatch: 22 }, task, { kernels: wasm! });
  const { one } = trainers(1);
  const idx = Int32Array.from({ length: 22 }, (_, i) => i);
  const a = whole.trainStep(idx, 1);
  const b = one.trainStep(idx, 1);
  // dropout masks differ (per block), so the losses differ, but not by much
  assert.notEqual(a.loss, b.loss);
  assert.ok(Math.abs(a.loss - b.loss) < 0.5, `${a.loss} vs ${b.loss}`);
});

test("a NaN in a replica's rows is a NonFiniteError naming the step", () => {
  const { many } = trainers(1);
  const bad = {
    ...task,
    batch: (split: "train" | "valid" | "test", idx: ArrayLike<number>) => {
      const b = task.batch(split, idx);
      const B = b.labels.length;
      b.x[(0 * B + 9) * task.I] = Number.NaN; // time step 1, row 9: block 2 of 3 (rows 7–13), the replica's
      return b;
    },
  };
  const t = buildTrainer(config, bad, { kernels: wasm! });
  t.replicas = many.replicas;
  assert.throws(
    () =>
      t.trainStep(
        Int32Array.from({ length: 22 }, (_, i) => i),
        1,
      ),
    (e: unknown) => e instanceof NonFiniteError && /step 1 \(epoch 1, batch 1\)/.test(e.message),
  );
  // the replica is usable after its error
  const idx = Int32Array.from({ length: 22 }, (_, i) => i);
  assert.ok(Number.isFinite(many.trainStep(idx, 1).loss));
});

const CLI = join(import.meta.dirname, "..", "..", "packages", "cli", "src", "cli", "main.ts");
test("egru train --threads 2 runs blocks of 64 on replicas and equals --threads 1, test figures included", () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-replicas-"));
  try {
    const small = ["--train-limit", "640", "--validation", "128", "--test-limit", "256", "--hidden", "32"];
    const run = (out: string, threads: string, more: string[] = []) => {
      const r = spawnSync(
        process.execPath,
        ["--conditions=egru-source", "--import", "tsx", CLI, "--threads", threads, "train", ...small, ...more].concat([
          "--epochs",
          "1",
          "--quiet",
          "--out",
          join(dir, out),
        ]),
        { encoding: "utf8" },
      );
      assert.equal(r.status, 0, r.stderr);
      const records = readFileSync(join(dir, out, "metrics.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      return { records, config: JSON.parse(readFileSync(join(dir, out, "config.json"), "utf8")) };
    };
    const two = run("two", "2");
    assert.equal(
      two.config.microBatch,
      64,
      "two threads split the batch of 128 in blocks of 64 (pinned in config.json)",
    );
    const one = run("one", "1");
    assert.equal(one.config.microBatch, 64, "one thread runs the same blocks");
    // everything but the clocks
    const figures = (r: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(r).filter(([k]) => !/seconds|PerSecond/i.test(k)));
    assert.ok(two.records.some((r) => r.type === "test") && two.records.some((r) => r.type === "step"));
    assert.deepEqual(two.records.map(figures), one.records.map(figures));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("replicas run when the batch comes in blocks and their copies fit the memory, else the split products", () => {
  const two = { ...wasm!, threads: 2, base: wasm! } as unknown as Parameters<typeof replicaThreads>[0];
  const GiB = 2 ** 30;
  assert.equal(replicaThreads(two, 128, 64), 2, "two blocks, two threads");
  assert.equal(replicaThreads(two, 128, undefined), 1, "whole batches");
  assert.equal(replicaThreads(two, 64, 64), 1, "one block");
  assert.equal(replicaThreads(wasm!, 128, 64), 1, "one-thread kernels");
  const block = { wasmBytes: 3 * GiB, hostBytes: 4 * GiB };
  assert.equal(replicaThreads(two, 128, 64, block, 15 * GiB), 2, "two copies of 7 GiB fit in 15");
  assert.equal(replicaThreads(two, 128, 64, block, 13 * GiB), 1, "two copies of 7 GiB do not fit in 13");
});

test("a replica's estimated peak counts the evaluation blocks the plan gives, not the whole evaluation batch", () => {
  // dvs-iclr: blocks of 20 rows; the plan evaluates its batches of 40 in blocks of 20, so an
  // evaluation forward holds 20 rows (counting 40 had kept it to one replica on a 24 GiB machine)
  const c = parseConfig(loadPresets()["dvs-iclr"], "dvs-iclr");
  const task = { T: 68, I: 128 * 128, classes: 11, frame: { channels: 1, height: 128, width: 128 } };
  const plans = { train: { rows: 20 }, eval: { rows: 20 } } as RowPlans;
  const peak = replicaPeak(c, task as unknown as ClassificationTask, plans, 20, 128);
  const bytes = (p: { wasmBytes: number; hostBytes: number }) => p.wasmBytes + p.hostBytes;
  const train = blockPeak(classifierCost(c, task, true), 20);
  const eval20 = blockPeak(classifierCost(c, task, false), 20);
  const eval40 = blockPeak(classifierCost(c, task, false), 40);
  assert.equal(bytes(peak), Math.max(bytes(train), bytes(eval20)));
  assert.ok(bytes(peak) < bytes(eval40), "less than an evaluation block of the whole batch of 40");
  // without a plan: the evaluation batch, at most evalRows
  assert.equal(
    bytes(replicaPeak(c, task as unknown as ClassificationTask, null, 20, 128)),
    Math.max(bytes(train), bytes(eval40)),
  );
});
