// A directory where a file should be, a missing file, a path below a file: each reader says which
// path and what it expected, with a typed error (never a raw EISDIR, ENOENT or ENOTDIR), and
// --skip-bad skips a recording that is a directory. (issue: hostile input, point 3)

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { EgruError } from "../../packages/egru/src/core/errors.js";
import { modelWeightsFile } from "../../packages/egru/src/node/model-files.js";
import { decodeUtf8, readFileBytes, readJsonFile } from "../../packages/egru/src/node/read-file.js";
import { loadCorpus } from "../../packages/cli/src/node/corpus-files.js";
import { readDataFile } from "../../packages/cli/src/node/data-files.js";
import { gestureClasses } from "../../packages/cli/src/node/dvs-clips.js";
import { forEachGestureTrial, writeSynthGestures } from "../../packages/cli/src/node/dvs-files.js";
import { checkOutDir } from "../../packages/cli/src/run/out-dir.js";
import { loadCheckpoint } from "../../packages/cli/src/run/checkpoint.js";
import { reportAtEnd } from "../../packages/cli/src/run/report.js";
import { readMetrics, readRunConfig, readVocab } from "../../packages/cli/src/run/run-files.js";

const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-hostile-"));

/** `f` fails with an EgruError whose message starts with `path` and matches `re`. */
function named(f: () => unknown, path: string, re: RegExp): void {
  assert.throws(f, (e: Error) => {
    assert.ok(e instanceof EgruError, `${e.name}: ${e.message}`);
    assert.ok(e.message.startsWith(path), `${e.message} should start with ${path}`);
    assert.match(e.message, re);
    return true;
  });
}

test("a directory where a file should be: dataset files, corpus splits, run files, checkpoint files", () => {
  const dir = tmp();
  for (const f of [
    "train-images-idx3-ubyte",
    "ptb.train.txt",
    "vocab.txt",
    "metrics.jsonl",
    "config.json",
    "state.json",
  ])
    mkdirSync(join(dir, f));
  named(
    () => readDataFile(dir, "train-images-idx3-ubyte"),
    join(dir, "train-images-idx3-ubyte"),
    /expected a file \(the dataset file train-images-idx3-ubyte\), got a directory$/,
  );
  named(() => loadCorpus("ptb", dir), join(dir, "ptb.train.txt"), /got a directory$/);
  named(() => readVocab(dir), join(dir, "vocab.txt"), /got a directory$/);
  named(() => readMetrics(dir), join(dir, "metrics.jsonl"), /got a directory$/);
  named(() => readRunConfig(dir), join(dir, "config.json"), /got a directory$/);
  named(() => loadCheckpoint(dir), join(dir, "state.json"), /got a directory$/);
  const ck = tmp();
  mkdirSync(join(ck, "ckpt-1", "model.safetensors"), { recursive: true });
  writeFileSync(join(ck, "checkpoint.json"), JSON.stringify({ current: "ckpt-1" }));
  writeFileSync(join(ck, "ckpt-1", "state.json"), "{}");
  named(() => loadCheckpoint(ck), join(ck, "ckpt-1", "state.json"), /format/);
});

test("DVS Gesture: split lists, labels and class lists that are directories; --skip-bad skips a recording that is one", () => {
  const dir = tmp();
  writeSynthGestures(dir, { classes: 3, trainUsers: 1, testUsers: 1, rate: 2, seed: 0 });
  const recording = "user01_natural.aedat";
  const aedat = join(dir, recording);
  // replace the first recording by a directory of that name
  rmSync(aedat);
  mkdirSync(aedat);
  named(
    () => forEachGestureTrial(dir, "train", { classes: 3 }, () => {}),
    aedat,
    /expected a file \(an AEDAT recording\), got a directory$/,
  );
  const skipped = forEachGestureTrial(dir, "train", { classes: 3, skipBad: true }, () => {});
  assert.deepEqual(
    skipped.map((s) => s.name),
    [recording],
  );
  assert.match(skipped[0].reason, /got a directory/);
  rmSync(join(dir, "user01_natural_labels.csv"));
  mkdirSync(join(dir, "user01_natural_labels.csv"));
  rmSync(aedat, { recursive: true });
  writeFileSync(aedat, "");
  named(
    () => forEachGestureTrial(dir, "train", { classes: 3 }, () => {}),
    join(dir, "user01_natural_labels.csv"),
    /got a directory$/,
  );
  rmSync(join(dir, "trials_to_test.txt"));
  mkdirSync(join(dir, "trials_to_test.txt"));
  named(
    () => forEachGestureTrial(dir, "test", { classes: 3 }, () => {}),
    join(dir, "trials_to_test.txt"),
    /got a directory$/,
  );
  rmSync(join(dir, "gesture_mapping.csv"));
  mkdirSync(join(dir, "gesture_mapping.csv"));
  named(() => gestureClasses(dir), join(dir, "gesture_mapping.csv"), /got a directory$/);
});

test("--out at a file or below one is a usage error naming it; text that is not UTF-8 names the byte", () => {
  const dir = tmp();
  const file = join(dir, "f");
  writeFileSync(file, "x");
  named(() => checkOutDir(file, "--out", "a new or empty directory"), "--out", /got .*\/f, which is a file$/);
  named(
    () => checkOutDir(join(file, "run"), "--out", "a new or empty directory"),
    "--out",
    /got .*\/f\/run, below the file .*\/f$/,
  );
  mkdirSync(join(dir, "full"));
  writeFileSync(join(dir, "full", "x"), "");
  named(() => checkOutDir(join(dir, "full"), "--out", "a new or empty directory"), "--out", /which has files$/);
  assert.doesNotThrow(() => checkOutDir(join(dir, "full"), "--out", "a directory", false));
  named(
    () => readFileBytes(join(dir, "missing"), "a thing"),
    join(dir, "missing"),
    /expected a file \(a thing\), got nothing there$/,
  );
  named(
    () => readFileBytes(join(file, "below"), "a thing"),
    join(file, "below"),
    /got a path through something that is not a directory$/,
  );
  named(
    () => decodeUtf8(Uint8Array.from([0x61, 0x62, 0xff, 0x63]), "t.txt"),
    "t.txt",
    /expected UTF-8 text, got invalid UTF-8 at byte 2$/,
  );
  named(
    () => decodeUtf8(Uint8Array.from([0x61, 0xe2, 0x82]), "t.txt"),
    "t.txt",
    /invalid UTF-8 at byte 1 \(a sequence cut off by the end\)$/,
  );
  writeFileSync(join(dir, "s.json"), "{ nope");
  named(
    () => readJsonFile(join(dir, "s.json"), "the run's summary"),
    join(dir, "s.json"),
    /expected JSON \(the run's summary\), got unparsable text/,
  );
});

test("a report that fails at the end of training is said (even under --quiet) and reported as a failure", async () => {
  const said: string[] = [];
  const dir = tmp(); // no config.json: the report cannot be made
  const r = await reportAtEnd(
    dir,
    () => {},
    (m) => said.push(m),
  );
  assert.equal(r, null);
  assert.match(said.join("\n"), /training finished, but the report failed \(.*config\.json.*\); try: egru report /);
});

test("a checkpoint name read from checkpoint.json never leads out of the run directory", () => {
  for (const current of ["..", "../..", "/etc", "ckpt-1/../..", "", 3]) {
    const dir = tmp();
    writeFileSync(join(dir, "checkpoint.json"), JSON.stringify({ current }));
    const re = /current: expected a checkpoint directory name of this run \(ckpt-NNNNNNNN\)/;
    named(() => loadCheckpoint(dir), join(dir, "checkpoint.json"), re);
    named(() => modelWeightsFile(dir), join(dir, "checkpoint.json"), re);
  }
});
