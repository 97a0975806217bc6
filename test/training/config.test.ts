// Training configuration: defaults, presets, merging, and errors that name the field, what was
// expected and what was found; the paper's sMNIST preset builds the paper's parameter count.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { MnistSplit } from "../../packages/cli/src/data/mnist.js";
import { buildModel, parameterCount } from "../../packages/cli/src/train/build.js";
import { ConfigError, mergeConfig, parseConfig, PRESETS } from "../../packages/cli/src/train/config.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { mnistTask, type MnistTaskName } from "../../packages/cli/src/train/task.js";

test("every preset is a valid configuration", () => {
  for (const [name, p] of Object.entries(loadPresets())) assert.doesNotThrow(() => parseConfig(p, name), name);
  const c = parseConfig({});
  assert.equal(c.model.cell, "egru");
  assert.equal(c.optimizer.kind, "adam");
  assert.equal(c.schedule.kind, "constant");
});

test("errors name the field, the expectation and the value", () => {
  const cases: [unknown, RegExp][] = [
    [{ model: { hidden: -3 } }, /^f\.model\.hidden: expected a number ≥ 1, got -3$/],
    [{ epochs: 1.5 }, /^f\.epochs: expected a whole number, got 1\.5$/],
    [{ model: { cell: "rnn" } }, /^f\.model\.cell: expected one of "egru", "gru", "lstm", got "rnn"$/],
    [{ optimizer: { lr: "x" } }, /^f\.optimizer\.lr: expected a number, got "x"$/],
    [{ foo: 1 }, /^f\.foo: expected no such field/],
    [{ schedule: { kind: "step", gamma: 0.5 } }, /^f\.schedule\.every: expected a number, got nothing$/],
    [{ model: { cell: "lstm", readout: "trace" } }, /^f\.model\.readout: expected "last" or "mean"/],
    [{ model: { zoneout: 1 } }, /^f\.model\.zoneout: expected a number < 1, got 1$/],
  ];
  for (const [v, re] of cases)
    assert.throws(
      () => parseConfig(v, "f"),
      (e: ConfigError) => e instanceof ConfigError && re.test(e.message),
      JSON.stringify(v),
    );
});

test("merging: later parts win field by field, undefined fields are dropped", () => {
  const m = mergeConfig(PRESETS.default, { model: { cell: "gru", hidden: undefined } }, { epochs: 2 });
  const c = parseConfig(m);
  assert.equal(c.model.cell, "gru");
  assert.equal(c.model.hidden, 128);
  assert.equal(c.epochs, 2);
  assert.equal(c.optimizer.lr, 3e-3);
});

test("the paper's sMNIST presets (presets/*.json) build the paper's model: 1,056,110 parameters (docs/paper-setups.md#parameter-counts)", () => {
  const split: MnistSplit = { images: new Uint8Array(784 * 2), labels: new Uint8Array(2), count: 2 };
  const presets = loadPresets();
  for (const name of ["smnist-paper", "psmnist-paper"]) {
    const c = parseConfig(presets[name], name);
    assert.equal(c.batchSize, 500, name);
    const task = mnistTask(c.task as MnistTaskName, split, split, { validation: 1 });
    assert.equal(task.T, 784, name);
    assert.equal(parameterCount(buildModel(c, task)), 1_056_110, name);
    // the ICLR-era code (v0.1) the paper's sMNIST runs come from: sigmoid thresholds, logit mean 0
    // (median threshold 0.5), the script's seed 3000
    assert.equal(c.model.thresholdMode, "sigmoid", `${name}: model.thresholdMode`);
    assert.equal(c.model.thresholdMean, 0, `${name}: model.thresholdMean`);
    assert.equal(c.seed, 3000, `${name}: seed`);
  }
});

test("the clip inside the EGRU backward: off by default, on at the global clip in the paper's LM and sMNIST recipes (docs/paper-setups.md)", () => {
  assert.equal(parseConfig({}).model.gradClip, 0, "off by default");
  const presets = loadPresets();
  // the paper's code sets the layers' grad_clip to its global clip_grad_norm_ limit (spec §7.3, §10)
  const on: Record<string, number> = {
    "ptb-iclr-1350": 2,
    "ptb-iclr-2000": 2,
    "ptb-v0.2": 0.1,
    "wikitext-2-v0.2": 0.1,
    "ptb-small": 0.25,
    "smnist-paper": 0.25,
    "psmnist-paper": 0.25,
  };
  for (const [name, p] of Object.entries({ ...presets, ...PRESETS })) {
    const c = parseConfig(p, name);
    const want = on[name] ?? 0;
    assert.equal(c.model.gradClip, want, `${name}: model.gradClip`);
    if (want > 0) assert.equal(c.optimizer.clip, want, `${name}: the same value as the global clip`);
    if (c.model.cell !== "egru") assert.equal(c.model.gradClip, 0, `${name}: GRU and LSTM have no such clip`);
  }
  assert.deepEqual(
    Object.keys(on).filter((k) => !(k in presets)),
    [],
    "every preset named exists",
  );
});
