// Shared test helpers: one allclose, seeded random arrays and classification tasks, fixture loading,
// finite differences, running the egru command line, a small language-model run directory, a
// garbage collection that lets finalizers run, and kernels without the EGRU's whole-loop calls.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Rng } from "../packages/egru/src/core/rng.js";
import type { Kernels } from "../packages/egru/src/kernels/backend.js";
import { encodeSafetensors } from "../packages/egru/src/io/safetensors.js";
import { paramTensors } from "../packages/egru/src/model/params-io.js";
import type { LanguageModel } from "../packages/egru/src/nn/language-model.js";
import { buildLanguageModel } from "../packages/cli/src/train/build.js";
import { parseConfig } from "../packages/cli/src/train/config.js";
import type { ClassificationTask } from "../packages/cli/src/train/task.js";

export interface CloseOptions {
  atol?: number;
  rtol?: number;
  name?: string;
}

/**
 * Assert |a − e| ≤ atol + rtol·|e| elementwise. On failure, the message gives the max abs and rel
 * errors, the worst index and the first pairs, so a failing run says what went wrong.
 */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, opts: CloseOptions = {}): void {
  const atol = opts.atol ?? 1e-12;
  const rtol = opts.rtol ?? 1e-12;
  const name = opts.name ?? "array";
  if (actual.length !== expected.length) {
    throw new Error(`${name}: length ${actual.length} != expected ${expected.length}`);
  }
  let worst = -1;
  let worstExcess = 0;
  let maxAbs = 0;
  let maxRel = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const d = Math.abs(a - e);
    if (!Number.isFinite(a) || Number.isNaN(d)) {
      if (!(Number.isNaN(a) && Number.isNaN(e)) && a !== e) {
        worst = i;
        worstExcess = Infinity;
        break;
      }
      continue;
    }
    maxAbs = Math.max(maxAbs, d);
    if (e !== 0) maxRel = Math.max(maxRel, d / Math.abs(e));
    const excess = d - (atol + rtol * Math.abs(e));
    if (excess > worstExcess) {
      worstExcess = excess;
      worst = i;
    }
  }
  if (worst >= 0) {
    const pairs = Array.from({ length: Math.min(5, actual.length) }, (_, i) => `(${actual[i]}, ${expected[i]})`);
    throw new Error(
      `${name}: not close (atol ${atol}, rtol ${rtol}); max abs err ${maxAbs.toExponential(3)}, ` +
        `max rel err ${maxRel.toExponential(3)}; worst index ${worst}: ${actual[worst]} vs ${expected[worst]}; ` +
        `first pairs ${pairs.join(" ")}`,
    );
  }
}

/** n normal values with the given std, as a Float64Array. */
export function randomArray(rng: Rng, n: number, std = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal(0, std);
  return a;
}

/**
 * A classification task of n random sequences [T, I] (normal values of std `std`) with labels in
 * 0…C−1, drawn from Rng(seed); `evaluated`: the validation and test splits hold the same examples
 * (else they are empty).
 */
export function randomTask(
  T: number,
  I: number,
  C: number,
  n: number,
  o: { seed?: number; std?: number; evaluated?: boolean } = {},
): ClassificationTask {
  const rng = new Rng(o.seed ?? 5);
  const x = Float32Array.from({ length: n * T * I }, () => rng.normal(0, o.std ?? 1));
  const y = Uint8Array.from({ length: n }, () => Math.floor(rng.uniform() * C));
  return {
    name: "random",
    T,
    I,
    classes: C,
    count: (split) => (split === "train" || o.evaluated ? n : 0),
    batch: (_split, idx) => {
      const B = idx.length;
      const xb = new Float32Array(T * B * I);
      for (let b = 0; b < B; b++)
        for (let t = 0; t < T; t++) xb.set(x.subarray((idx[b] * T + t) * I, (idx[b] * T + t + 1) * I), (t * B + b) * I);
      return { x: xb, labels: Uint8Array.from(idx, (k) => y[k]) };
    },
  };
}

/** A 0/1 mask with keep probability 1 − p. */
export function randomMask(rng: Rng, n: number, p: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.bernoulli(1 - p);
  return a;
}

/** The repository root (test/ holds this file; the suites sit one floor below, in test/<floor>/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The PyTorch fixtures, test/fixtures/, shared by every floor. */
export const FIXTURES = join(ROOT, "test", "fixtures");
/** The datasets beside the repository (../shared/data), where present: the tests that read them skip otherwise. */
export const SHARED_DATA = join(ROOT, "..", "shared", "data");

/** Parsed JSON of test/fixtures/<name>.json. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function loadFixture(name: string): any {
  return JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), "utf8"));
}

/** Names of the fixtures listed in the manifest (without .json). */
export function fixtureNames(prefix: string): string[] {
  const m = loadFixture("MANIFEST") as { files: { name: string }[] };
  return m.files.map((f) => f.name.replace(/\.json$/, "")).filter((n) => n.startsWith(prefix));
}

/**
 * Central difference of a scalar function at every coordinate of `params` (modified in place,
 * then restored): (f(θ + ε e_i) − f(θ − ε e_i)) / 2ε.
 */
export function centralDiff(f: () => number, params: Float64Array, eps = 1e-6): Float64Array {
  const g = new Float64Array(params.length);
  for (let i = 0; i < params.length; i++) {
    const keep = params[i];
    params[i] = keep + eps;
    const up = f();
    params[i] = keep - eps;
    const down = f();
    params[i] = keep;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

/** Σ a ⊙ b. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/**
 * Check each parameter's gradient (at about `per` entries of every tensor) against central
 * differences of lossAt() with step eps, within atol + rtol·|numeric|; returns how many were checked.
 */
export function checkParamGradients(
  params: { name: string; value: Float32Array; grad: Float32Array }[],
  lossAt: () => number,
  label: string,
  opts: { eps?: number; per?: number; atol?: number; rtol?: number } = {},
): number {
  const { eps = 3e-3, per = 6, atol = 2e-3, rtol = 3e-2 } = opts;
  let checked = 0;
  for (const p of params) {
    const step = Math.max(1, Math.floor(p.value.length / per));
    for (let i = 0; i < p.value.length; i += step) {
      const keep = p.value[i];
      p.value[i] = keep + eps;
      const up = lossAt();
      p.value[i] = keep - eps;
      const down = lossAt();
      p.value[i] = keep;
      const num = (up - down) / (2 * eps);
      if (!(Math.abs(num - p.grad[i]) <= atol + rtol * Math.abs(num))) {
        throw new Error(`${label}: ${p.name}[${i}] numeric ${num} vs ${p.grad[i]}`);
      }
      checked++;
    }
  }
  return checked;
}

/** The CLI's entry point (run through tsx, no build needed). */
export const CLI_MAIN = join(ROOT, "packages/cli/src/cli/main.ts");
/** Node flags that run the TypeScript sources: the library resolved to its sources, tsx for .ts. */
export const SOURCE_FLAGS = ["--conditions=egru-source", "--import", "tsx"];

/** Run `egru ...args` to completion: exit code, stdout, stderr (`env` adds to the environment). */
export function runEgru(
  args: string[],
  timeout = 120_000,
  env: Record<string, string> = {},
): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [...SOURCE_FLAGS, CLI_MAIN, ...args], {
    cwd: ROOT,
    encoding: "utf8",
    timeout,
    env: { ...process.env, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The words of lmRunDir's vocabulary. */
export const LM_RUN_WORDS = ["<eos>", "the", "<unk>", "cat", "sat", "on", "mat", "a", "dog"];

/**
 * A ptb run directory of weights only (config.json, vocab.txt of LM_RUN_WORDS, best.safetensors of
 * fresh weights: what egru generate reads) for the model section `model`, embedding 6, bptt 4.
 */
export function lmRunDir(model: Record<string, unknown>): { dir: string; model: LanguageModel } {
  const dir = mkdtempSync(join(tmpdir(), "egru-gen-"));
  const config = parseConfig({ task: "ptb", model, lm: { embedding: 6, bptt: 4 } }, "test config");
  const m = buildLanguageModel(config, LM_RUN_WORDS.length);
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  writeFileSync(join(dir, "vocab.txt"), `${LM_RUN_WORDS.join("\n")}\n`);
  writeFileSync(join(dir, "best.safetensors"), encodeSafetensors(paramTensors(m), { format: "egru-model-1" }));
  return { dir, model: m };
}

/**
 * One garbage collection and a short wait, so that FinalizationRegistry callbacks of what it
 * collected run (the tests that check memory given back once arrays or layers are garbage).
 */
export async function settleGarbage(): Promise<void> {
  setFlagsFromString("--expose-gc");
  (runInNewContext("gc") as () => void)();
  await new Promise((r) => setTimeout(r, 10));
}

/** The kernels' whole-loop calls (the EGRU's and the GRU's time loops in one call). */
const WHOLE_LOOPS = new Set<string | symbol>(["egruSeqForward", "egruSeqBackward", "gruSeqForward", "gruSeqBackward"]);

/**
 * The same kernels without the whole-loop calls (egruSeqForward, egruSeqBackward, gruSeqForward,
 * gruSeqBackward): kernels/egru.ts and kernels/gru.ts then run their step loops on them. Other
 * methods are bound to the kernels.
 */
export function stepLoopKernels(k: Kernels): Kernels {
  return new Proxy(k, {
    get(target, key) {
      if (WHOLE_LOOPS.has(key)) return undefined;
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/** The kernels with a log of the calls of the methods `names`: "name" or, with their results, "name result". */
export function loggedKernels(
  k: Kernels,
  names: string[],
  withResult: string[] = [],
): { kernels: Kernels; log: string[] } {
  const log: string[] = [];
  const kernels = new Proxy(k, {
    get(target, key) {
      const v = Reflect.get(target, key, target);
      if (typeof v !== "function") return v;
      return (...a: unknown[]) => {
        const r = v.apply(target, a);
        if (typeof key === "string" && names.includes(key)) log.push(withResult.includes(key) ? `${key} ${r}` : key);
        return r;
      };
    },
  });
  return { kernels, log };
}
