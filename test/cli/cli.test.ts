// The command line: default job, --help, JSON lines, exit codes (0 ok, 2 bad usage), mistyped
// commands and options named with the closest match, and the global options in every command's help.

import assert from "node:assert/strict";
import { test } from "node:test";
import { closest } from "../../packages/cli/src/cli/suggest.js";
import { runEgru } from "../helpers.js";

const egru = (...args: string[]): ReturnType<typeof runEgru> => runEgru(args, 60_000);

test("the default command runs the demo for all three cells", () => {
  const r = egru("--steps", "5", "--batch", "2", "--hidden", "16", "--input", "3");
  assert.equal(r.code, 0, r.err);
  for (const cell of ["egru", "gru", "lstm"]) assert.match(r.out, new RegExp(`^${cell}\\s`, "m"));
  assert.match(r.out, /activity sparsity/);
});

test("--json prints one parseable line per cell with the layer statistics", () => {
  const r = egru("demo", "--json", "--steps", "4", "--batch", "3", "--hidden", "8", "--input", "2", "--seed", "7");
  assert.equal(r.code, 0, r.err);
  const rows = r.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    rows.map((x) => x.cell),
    ["egru", "gru", "lstm"],
  );
  const e = rows[0];
  assert.equal(e.stats.denseMacs, 4 * 3 * (2 * 24 + 8 * 24));
  assert.ok(e.stats.eventMacs <= e.stats.denseMacs);
  assert.equal(rows[1].stats.eventMacs, rows[1].stats.denseMacs);
});

test("--help works on the program and on the command", () => {
  for (const args of [["--help"], ["demo", "--help"]]) {
    const r = egru(...args);
    assert.equal(r.code, 0);
    assert.match(r.out, /Usage: egru/);
  }
});

test("bad usage exits with 2 and a one-line message, no stack", () => {
  for (const args of [["--steps", "0"], ["--cell", "rnn"], ["--hidden", "x"], ["--bogus"]]) {
    const r = egru(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    assert.doesNotMatch(r.err, /\n\s+at /, "no stack trace");
  }
});

test("--threads 2 gives the same statistics as one thread, given before or after the command", () => {
  const args = ["demo", "--json", "--steps", "6", "--batch", "32", "--hidden", "64", "--input", "16", "--seed", "3"];
  const one = egru("--threads", "1", ...args);
  const two = egru("--threads", "2", ...args);
  const after = egru(...args, "--threads", "2", "--kernels", "wasm");
  assert.equal(one.code, 0, one.err);
  assert.equal(two.code, 0, two.err);
  assert.equal(after.code, 0, after.err);
  const stats = (out: string) =>
    out
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l).stats);
  assert.deepEqual(stats(two.out), stats(one.out));
  assert.deepEqual(stats(after.out), stats(one.out));
  assert.equal(egru("train", "--threads", "0").code, 2, "--threads after a command is checked like before it");
});

test("a mistyped command is named with the closest command (exit 2), not taken for demo's argument", () => {
  for (const [args, want] of [
    [["trian"], "train"],
    [["--threads", "2", "evl", "x"], "eval"],
    [["--kernels=js", "repot"], "report"],
    [["gen"], undefined],
  ] as const) {
    const r = egru(...args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
    const name = args.find((a) => !a.startsWith("-") && a !== "2")!;
    assert.match(
      r.err,
      new RegExp(`^egru: unknown command '${name}'${want ? ` \\(did you mean '${want}'\\?\\)` : "$"}`, "m"),
    );
    assert.match(r.err, /Try 'egru --help'/);
    assert.doesNotMatch(r.err, /too many arguments/);
  }
  const o = egru("train", "--epoch", "3");
  assert.equal(o.code, 2);
  assert.match(o.err, /unknown option '--epoch'\n\(Did you mean --epochs\?\)/);
  assert.equal(closest("dmeo", ["demo", "train", "data"]), "demo");
  assert.equal(closest("xyz", ["demo", "train"]), undefined);
});

test("every command's --help lists the global options --kernels and --threads", () => {
  for (const cmd of [
    ["demo"],
    ["train"],
    ["eval"],
    ["generate"],
    ["quantize"],
    ["report"],
    ["raster"],
    ["data"],
    ["data", "download"],
    ["data", "synth-dvs"],
  ]) {
    const h = egru(...cmd, "--help");
    assert.equal(h.code, 0, h.err);
    assert.match(h.out, new RegExp(`Usage: egru ${cmd.join(" ")}`));
    assert.match(h.out, /--kernels <kind>/, cmd.join(" "));
    assert.match(h.out, /--threads <n>/, cmd.join(" "));
  }
});
