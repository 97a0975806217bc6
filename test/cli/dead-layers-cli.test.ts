// `egru train` on dead EGRU layers, end to end on the hostile-input issue's tiny corpus (bench/dead-layers.ts):
// a run whose layers never fire says so on stderr (also with --quiet), in metrics.jsonl, summary.json,
// the summary table and report.html; a run with thresholds from data (--threshold-init data) says
// what the init did in its first line and a step-0 record and gives no warning; Ctrl-C and --resume
// end with the metrics and warnings of the uninterrupted run; the fields are refused where they cannot apply.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { tinyCorpusTexts } from "../../bench/dead-layers.js";
import { CLI_MAIN, ROOT, runEgru, SOURCE_FLAGS } from "../helpers.js";

const dir = mkdtempSync(join(tmpdir(), "egru-dead-cli-"));
const corpus = join(dir, "corpus");
mkdirSync(corpus);
for (const [split, text] of Object.entries(tinyCorpusTexts())) writeFileSync(join(corpus, `ptb.${split}.txt`), text);
/** Thresholds near 1 (Beta mean 0.99): no state c of a fresh model reaches them. */
const silentConfig = join(dir, "silent.json");
writeFileSync(
  silentConfig,
  JSON.stringify({ model: { thresholdMean: 0.99, deadLayerSteps: 5 }, lm: { testBatchSize: 32 } }),
);
const TINY = ["--preset", "ptb-small", "--data", corpus, "--hidden", "32", "--embedding", "16", "--layers", "2"];
const ARGS = [...TINY, "--bptt", "12", "--epochs", "1"];

type Rec = Record<string, unknown>;
const records = (run: string): Rec[] =>
  readFileSync(join(run, "metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Rec);
const summaryOf = (run: string): Rec => JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as Rec;

test("a run whose layers never fire warns on stderr (with --quiet), in its records, summary, table and report; Ctrl-C and --resume give the same", async () => {
  const args = [...TINY, "--bptt", "12", "--epochs", "2", "--config", silentConfig];
  const out = join(dir, "silent");
  const r = runEgru(["train", ...args, "--out", out, "--quiet"]);
  assert.equal(r.code, 0, r.err);
  for (const layer of [1, 2])
    assert.match(
      r.err,
      new RegExp(
        `egru train: warning: EGRU layer ${layer} of 2 has emitted no event for 5 steps \\(since step 1\\): its thresholds are above every unit's state; try model\\.thresholdInit "data"`,
      ),
    );
  const warnings = records(out).filter((m) => m.type === "warning");
  assert.deepEqual(
    warnings.map((w) => [w.step, w.layer, w.silentSince]),
    [
      [5, 1, 1],
      [5, 2, 1],
    ],
  );
  assert.match(String(warnings[0].message), /^EGRU layer 1 of 2 has emitted no event for 5 steps/);
  const s = summaryOf(out);
  const steps = s.steps as number;
  assert.deepEqual(
    (s.warnings as Rec[]).map((w) => [w.layer, w.silentSince, w.until]),
    [
      [1, 1, null],
      [2, 1, null],
    ],
  );
  assert.deepEqual(s.deadLayers, [
    { layer: 1, silentSince: 1, steps },
    { layer: 2, silentSince: 1, steps },
  ]);
  assert.match(
    r.out,
    new RegExp(`warning\\s+EGRU layer 2 of 2 emitted no event from step 1 to the end \\(${steps} steps\\)`),
  );
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.match(html, /<div class="warnings" id="warnings">/);
  assert.match(
    html,
    /Warning:<\/strong> EGRU layer 1 of 2 has emitted no event for 5 steps .* stayed silent to the end/,
  );

  // interrupted after its first warning, then resumed: the uninterrupted run's records and warnings
  const cut = join(dir, "cut");
  const child = spawn(process.execPath, [...SOURCE_FLAGS, CLI_MAIN, "train", ...args, "--out", cut, "--quiet"], {
    cwd: ROOT,
  });
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  const metrics = join(cut, "metrics.jsonl");
  for (let i = 0; i < 600 && !(existsSync(metrics) && readFileSync(metrics, "utf8").includes('"warning"')); i++)
    await new Promise((r) => setTimeout(r, 20));
  child.kill("SIGINT");
  assert.equal(await exited, 130, err);
  const resumed = runEgru(["train", "--resume", cut, "--quiet"]);
  assert.equal(resumed.code, 0, resumed.err);
  assert.doesNotMatch(resumed.err, /warning/, "the resumed run knows its layers were warned about");
  const strip = (run: string): Rec[] => records(run).map(({ seconds: _s, tokensPerSecond: _t, ...rest }) => rest);
  assert.deepEqual(strip(cut), strip(out));
  const again = summaryOf(cut);
  assert.deepEqual([again.warnings, again.deadLayers], [s.warnings, s.deadLayers]);
});

test("--threshold-init data: the first line and a step-0 record give each layer's activity; no warning", () => {
  const out = join(dir, "data");
  const r = runEgru(["train", ...ARGS, "--threshold-init", "data", "--config", silentConfig, "--out", out]);
  assert.equal(r.code, 0, r.err);
  assert.match(
    r.err.split("\n")[0],
    /EGRU thresholds set from 8 training batches: activity \d+\.\d+ %, \d+\.\d+ % \(target 10\.00 %\)/,
  );
  const [first] = records(out);
  assert.equal(first.type, "thresholdInit");
  assert.equal(first.step, 0);
  for (const a of first.layerActivity as number[]) assert.ok(Math.abs(a - 0.1) < 0.01, String(a));
  assert.equal(records(out).filter((m) => m.type === "warning").length, 0);
  assert.doesNotMatch(r.err, /warning/);
  const s = summaryOf(out);
  assert.deepEqual([s.warnings, s.deadLayers], [[], []]);
});

test("the fields are refused where they cannot apply, by name", () => {
  const gru = runEgru(["train", ...ARGS, "--cell", "gru", "--threshold-init", "data", "--out", join(dir, "g")]);
  assert.equal(gru.code, 2, gru.err);
  assert.match(
    gru.err,
    /config\.model\.thresholdInit: expected "config" for a GRU or LSTM \(only EGRU layers have thresholds\), got "data"/,
  );
  const high = runEgru(["train", ...ARGS, "--threshold-target", "1.5", "--out", join(dir, "h")]);
  assert.equal(high.code, 2, high.err);
  assert.match(high.err, /config\.model\.thresholdTarget: expected a number < 1, got 1\.5/);
});
