// Training configuration: defaults, presets, merging, and errors that name the field, what was
// expected and what was found; the paper's sMNIST preset builds the paper's parameter count; the
// baselines' DropConnect mask shape and AR/TAR fields reach the models they build.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { MnistSplit } from "../../packages/cli/src/data/mnist.js";
import { buildLanguageModel, buildModel, parameterCount } from "../../packages/cli/src/train/build.js";
import {
  checkConfigShape,
  ConfigError,
  mergeConfig,
  parseConfig,
  PRESETS,
} from "../../packages/cli/src/train/config.js";
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

test("what cannot be a configuration is refused by name: non-objects, reserved keys, absurd nesting, huge or non-finite values", () => {
  const refused = (v: unknown, re: RegExp): void => {
    assert.throws(
      () => parseConfig(v, "f.json"),
      (e: Error) => e instanceof ConfigError && re.test(e.message),
    );
  };
  refused([1, 2, 3], /^f\.json: expected a JSON object of configuration fields, got an array \[1,2,3\]$/);
  refused(null, /^f\.json: expected a JSON object of configuration fields, got null$/);
  refused("x", /^f\.json: expected a JSON object .*, got "x"$/);
  refused(42, /^f\.json: expected a JSON object .*, got 42$/);
  // JSON.parse keeps "__proto__" as an own key; a merge would have dropped it (and its fields) silently
  refused(
    JSON.parse('{"epochs": 2, "__proto__": {"epochs": 3}}'),
    /^f\.json\.__proto__: expected no such field \(a reserved name\)/,
  );
  refused(JSON.parse('{"model": {"constructor": 1}}'), /^f\.json\.model\.constructor: expected no such field/);
  const deep = JSON.parse(`${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`);
  refused(deep, /^f\.json(\.a){8}: expected at most 8 levels of nesting, got more$/);
  assert.throws(() => checkConfigShape(deep, "g"), /at most 8 levels/); // before mergeConfig can recurse into it
  refused(
    JSON.parse('{"optimizer": {"lr": 1e999}}'),
    /^f\.json\.optimizer\.lr: expected .*, got Infinity \(not a finite number\)$/,
  );
  const huge = { task: "x".repeat(2 ** 20) };
  assert.throws(
    () => parseConfig(huge, "f.json"),
    (e: Error) => e instanceof ConfigError && e.message.length < 1000 && /… \(1048578 characters\)$/.test(e.message),
  );
});

test("DropConnect's mask shape and the language model's AR/TAR: defaults, values, errors naming the field", () => {
  const d = parseConfig({});
  assert.equal(d.model.dropConnectShape, "element");
  assert.deepEqual([d.lm.arWeight, d.lm.tarWeight, d.lm.arOutput], [0, 0, "dropped"]);
  const c = parseConfig({
    task: "ptb",
    model: { cell: "lstm", layers: 2, dropConnect: 0.5, dropConnectShape: "row" },
    lm: { arWeight: 2, tarWeight: 1, arOutput: "raw" },
  });
  const lm = buildLanguageModel(c, 50);
  assert.deepEqual(
    lm.cells.map((cell) => "dropConnectShape" in cell.layer && cell.layer.dropConnectShape),
    ["row", "row"],
  );
  assert.deepEqual([lm.options.arWeight, lm.options.tarWeight, lm.options.arOutput], [2, 1, "raw"]);
  const gru = parseConfig({ model: { cell: "gru", readout: "last", dropConnect: 0.2, dropConnectShape: "row" } });
  const task = mnistTask("mnist-row", tinySplit, tinySplit, { validation: 1 });
  const classifier = buildModel(gru, task);
  assert.equal("dropConnectShape" in classifier.cells[0].layer && classifier.cells[0].layer.dropConnectShape, "row");
  const cases: [unknown, RegExp][] = [
    [
      { model: { dropConnectShape: "column" } },
      /^f\.model\.dropConnectShape: expected one of "element", "row", got "column"$/,
    ],
    [{ lm: { arWeight: -1 } }, /^f\.lm\.arWeight: expected a number ≥ 0, got -1$/],
    [{ lm: { tarWeight: "x" } }, /^f\.lm\.tarWeight: expected a number, got "x"$/],
    [{ lm: { arOutput: "dropout" } }, /^f\.lm\.arOutput: expected one of "dropped", "raw", got "dropout"$/],
    [
      { model: { cell: "egru", dropConnectShape: "row" } },
      /^f\.model\.dropConnectShape: expected "element" for an EGRU/,
    ],
    [{ task: "ptb", lm: { arWeight: 2 } }, /^f\.lm\.arWeight: expected 0 for an EGRU .*, got 2$/],
    [
      { task: "wikitext-2", model: { cell: "egru" }, lm: { tarWeight: 1 } },
      /^f\.lm\.tarWeight: expected 0 for an EGRU/,
    ],
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

const tinySplit: MnistSplit = { images: new Uint8Array(784 * 2), labels: new Uint8Array(2), count: 2 };

test("a schedule of another kind replaces the preset's whole; one of the same kind, and the optimizer, merge field by field", () => {
  const cosine = { kind: "cosine", startEpoch: 3, minLr: 1e-5 };
  const constant = parseConfig(mergeConfig({ schedule: cosine }, { schedule: { kind: "constant" } }));
  assert.deepEqual(constant.schedule, { kind: "constant", warmupSteps: 0 });
  const later = parseConfig(mergeConfig({ schedule: cosine }, { schedule: { kind: "cosine", startEpoch: 5 } }));
  assert.deepEqual(later.schedule, { kind: "cosine", startEpoch: 5, minLr: 1e-5, warmupSteps: 0 });
  const sgd = parseConfig(
    mergeConfig({ optimizer: { kind: "adam", lr: 0.02, clip: 1 } }, { optimizer: { kind: "sgd" } }),
  );
  assert.deepEqual([sgd.optimizer.kind, sgd.optimizer.lr, sgd.optimizer.clip], ["sgd", 0.02, 1]);
});

test("the paper's sMNIST presets (presets/*.json) build the paper's model: 1,056,110 parameters (docs/paper-setups.md#parameter-counts)", () => {
  const split = tinySplit;
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
    "ptb-converge": 0.25,
    "ptb-hour": 0.25,
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
