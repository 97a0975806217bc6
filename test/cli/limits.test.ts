// Sizes and counts without limits are refused before anything is allocated, with the estimate in the
// message: model sizes whose weights cannot fit, demo sizes, synthetic sets, sampled tokens, thread
// counts beyond the machine's cores (unless forced); the library's layers name the weights they cannot
// allocate instead of throwing a bare RangeError. (issue: hostile input, point 4)

import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { StateError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { Embedding } from "../../packages/egru/src/nn/embedding.js";
import { runEgru } from "../helpers.js";

const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-limits-"));

/** Run egru; it exits with `code`, its message matches `re`, and no stack is printed. */
function refused(args: string[], code: number, re: RegExp): void {
  const r = runEgru(args);
  assert.equal(r.code, code, `${args.join(" ")}: ${r.err}`);
  assert.match(r.err, re);
  assert.doesNotMatch(r.err, /unexpected error|\n\s+at /);
}

test("model sizes whose weights cannot fit stop the run before it starts, naming the model and the estimate", () => {
  const dir = tmp();
  refused(
    ["train", "--hidden", "200000", "--out", join(dir, "a")],
    1,
    /model: expected a model whose weights fit .* got an estimate of \d+ MiB WebAssembly/,
  );
  const cfg = join(dir, "layers.json");
  writeFileSync(cfg, JSON.stringify({ model: { layers: 1_000_000 } }));
  refused(["train", "--config", cfg, "--out", join(dir, "b")], 1, /model: expected a model whose weights fit/);
  writeFileSync(cfg, JSON.stringify({ model: { hidden: 1e9 } }));
  refused(["train", "--config", cfg, "--out", join(dir, "c")], 1, /model: expected a model whose weights fit/);
});

test("demo sizes, synthetic sets, sampled tokens and thread counts have limits", () => {
  refused(
    ["demo", "--hidden", "200000"],
    2,
    /--hidden: expected sizes whose arrays fit in .* GiB .*, got T=28 B=16 I=28 H=200000, an estimate of 1195\.6 GiB/,
  );
  refused(
    ["data", "synth-dvs", "--out", join(tmp(), "s"), "--rate", "100000"],
    2,
    /--rate: expected a set of at most 8 GiB, got an estimate of 274\.2 GiB/,
  );
  refused(["generate", tmp(), "--tokens", "9999999999"], 2, /--tokens: expected a whole number in 1…1000000/);
  const cores = availableParallelism();
  refused(
    ["--threads", String(cores + 1), "demo", "--hidden", "4"],
    2,
    new RegExp(`--threads: expected at most ${cores} .*--force-threads`),
  );
  const forced = runEgru(["--threads", String(cores + 1), "--force-threads", "demo", "--hidden", "4", "--json"]);
  assert.equal(forced.code, 0, forced.err);
});

test("layers name the weights they cannot allocate (a StateError with the size), not a bare RangeError", () => {
  assert.throws(
    () => new GRU({ inputSize: 10, hiddenSize: 200_000 }),
    (e: Error) =>
      e instanceof StateError &&
      /weights kernel \(6000000 values\)|weights recurrent_kernel \(120000000000 values\): expected an array this engine can allocate, got 120000000000 float32 values \(447\.0 GiB\)/.test(
        e.message,
      ),
  );
  assert.throws(
    () => new Embedding({ vocab: 1e6, dim: 1e6, rng: new Rng(1) }),
    /embedding weight \(1000000·1000000 values\): expected an array this engine can allocate/,
  );
});
