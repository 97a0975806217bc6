// Whole language-model training steps at the paper's LM sizes (embedding 750, a stack 750→1350→1350→750,
// decoder tied to the embedding, V = 10,000, B = 64, BPTT 16 by default), tokens per second: egru's
// EGRU on its event path, the same EGRU forced onto the dense products (event crossover 0), egru's
// GRU, and PyTorch's nn.GRU model of the same sizes (tools/pytorch_lm_train.py), on one and two
// threads; then a table with the ratios the targets name (EGRU events ÷ PyTorch GRU, events
// ÷ dense), and the per-phase breakdown of each egru step. A step: embedding, the stack forward,
// the decoder forward, softmax cross-entropy, the decoder backward, the stack backward (with the
// embedding's), Adam. No dropout (PyTorch's side has none). The EGRU's event path runs at each of two
// operating points (--points, see POINTS and measure()): the paper's (80 % activity sparsity, about 45 %
// backward sparsity) and that of a trained ptb-small run (about 85 % and 86 %); the table gives the
// activity and backward sparsity the timed steps had, mean over the layers. Random Zipf tokens: the
// speed does not depend on the text.
//
//   node --conditions=egru-source --import tsx bench/lm-train-vs-pytorch.ts [--steps 2] [--bptt 16]
//        [--batch 64] [--threads 1,2] [--variants events,dense,gru,pytorch] [--points paper,trained]
//        [--python /usr/bin/python3] [--profile]
//
// --profile: also time every kernel call of egru's timed steps (the calls the model makes, not those
// inside them; about 10 % slower) and print, after each egru row, the calls by kernel and shape, ms a step,
// with the multiply-accumulates of the products (dense: M·N·K; event, masked and time-loop calls: the
// MACs they return) and their rate; then a bound: the step if every product ran at the rate of the
// step's dense products (gemm*) and everything else took what it took.

import { execFileSync } from "node:child_process";
import { cpus } from "node:os";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Kernels } from "../packages/egru/src/kernels/backend.js";
import { LanguageModel, type LmState } from "../packages/egru/src/nn/language-model.js";
import { softmaxCrossEntropy } from "../packages/egru/src/nn/loss.js";
import { initThresholdsFromData } from "../packages/egru/src/nn/threshold-init.js";
import { createThreadedKernels } from "../packages/egru/src/node/threaded-kernels.js";
import { Optimizer } from "../packages/egru/src/optim/optimizer.js";
import { setKernels } from "../packages/egru/src/wasm/select.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { zipfTokens } from "./zipf-tokens.js";

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const STEPS = Number(arg("steps", "2"));
const T = Number(arg("bptt", "16"));
const B = Number(arg("batch", "64"));
const THREADS = arg("threads", "1,2").split(",").map(Number);
const VARIANTS = arg("variants", "events,dense,gru,pytorch").split(",");
const POINT_NAMES = arg("points", "paper,trained").split(",");
const PROFILE = process.argv.includes("--profile");
const PYTHON = arg("python", "/usr/bin/python3");
const [V, E, H, L] = [10_000, 750, 1350, 3];

/**
 * An EGRU operating point (see measure()): the embedding's and the stack's weight matrices scaled by
 * `gain`, `candidateBias` added to the candidate's input bias (the g block), thresholds from data for
 * `active` of the units firing. Found by a scan of forwards at these sizes for the sparsity named.
 */
interface Point {
  gain: number;
  candidateBias: number;
  active: number;
}
const POINTS: Record<string, Point> = {
  // the paper's: ≥ 80 % activity sparsity and about 45 % backward sparsity (issue 16, point 3)
  paper: { gain: 4.2, candidateBias: 0, active: 0.2 },
  // a trained ptb-small run's (egru train --preset ptb-small, its last steps: activity sparsity 81 / 89 /
  // 84 %, backward sparsity 86 / 92 / 82 % by layer; docs/benchmarks.md §19): most states far below
  // their thresholds, the ones that fire just above them
  trained: { gain: 15, candidateBias: -3, active: 0.17 },
};
for (const n of POINT_NAMES) if (!POINTS[n]) throw new Error(`--points: ${n} is not one of ${Object.keys(POINTS)}`);
const PHASES = [
  "embedding",
  "stack forward",
  "decoder forward",
  "softmax",
  "decoder backward",
  "stack backward",
  "optimizer",
  "other",
] as const;
type Phase = (typeof PHASES)[number];

/** Replace obj[key] (a method) by a wrapper adding its time to times[phase]. */
function timeMethod(obj: object, key: string, times: Record<Phase, number>, phase: Phase): void {
  const o = obj as Record<string, (...a: unknown[]) => unknown>;
  const f = o[key].bind(obj);
  o[key] = (...a: unknown[]) => {
    const t0 = performance.now();
    try {
      return f(...a);
    } finally {
      times[phase] += performance.now() - t0;
    }
  };
}

interface Measured {
  tokensPerS: number;
  phases: Record<Phase, number>; // mean ms per step
  activity: number; // fraction of units active, mean over the layers and the timed steps (0 for GRU)
  backwardSparsity: number; // fraction outside the surrogate window (egru's, on c), the same mean
}

const stream = zipfTokens(T * B * (STEPS + 4) + B, V, 7);
/** Segment k: inputs [T, B] and targets [T, B] (time-major, B streams side by side). */
const seg = (k: number) => ({
  input: stream.subarray(k * T * B, (k + 1) * T * B),
  target: stream.subarray(k * T * B + B, (k + 1) * T * B + B),
});

/** Milliseconds, calls and MACs by kernel (and the leading sizes of the products), while `on`. */
const kernelTimes = {
  on: false,
  ms: new Map<string, number>(),
  calls: new Map<string, number>(),
  macs: new Map<string, number>(),
};

/** Whether kernel `name` is a dense float product (the bound's rate). */
const isDenseProduct = (name: string): boolean => /^gemm(NN|NT|TN)$/.test(name);

/** The MACs of a product call: dense gemm* M·N·K; the event, masked and time-loop kernels return theirs. */
function productMacs(name: string, args: unknown[], result: unknown): number | null {
  if (isDenseProduct(name)) return (args[0] as number) * (args[1] as number) * (args[2] as number);
  if (/^(event|masked|egruSeq)/.test(name) && typeof result === "number" && result >= 0) return result;
  return null;
}

/** `kernels` with every method timed into kernelTimes (outermost calls only). */
function profiled(kernels: Kernels): Kernels {
  let depth = 0;
  const timed = Object.create(kernels) as Record<string, unknown>;
  for (let o: object | null = kernels; o && o !== Object.prototype; o = Object.getPrototypeOf(o))
    for (const name of Object.getOwnPropertyNames(o)) {
      const f = (kernels as unknown as Record<string, unknown>)[name];
      if (name === "constructor" || typeof f !== "function" || Object.hasOwn(timed, name)) continue;
      // (called on `this`: the dense variant derived from these kernels must keep its crossover)
      timed[name] = function (this: unknown, ...a: unknown[]) {
        if (depth > 0 || !kernelTimes.on) return f.apply(this, a);
        depth++;
        const t0 = performance.now();
        let result: unknown;
        try {
          result = f.apply(this, a);
          return result;
        } finally {
          depth--;
          const key = /^(gemm|event|masked)/.test(name) ? `${name}(${a.slice(0, 3).join("×")})` : name;
          kernelTimes.ms.set(key, (kernelTimes.ms.get(key) ?? 0) + performance.now() - t0);
          kernelTimes.calls.set(key, (kernelTimes.calls.get(key) ?? 0) + 1);
          const macs = productMacs(name, a, result);
          if (macs !== null) kernelTimes.macs.set(key, (kernelTimes.macs.get(key) ?? 0) + macs);
        }
      };
    }
  return timed as unknown as Kernels;
}

/** The profile of one egru row; stepMs: its measured step (ms). */
function printKernelTimes(name: string, threads: number, stepMs: number): void {
  const { ms: byKey, calls, macs } = kernelTimes;
  console.log(`\n${name}, ${threads} thread(s): kernel calls of the timed steps, ms a step (GMAC a step, GMAC/s)`);
  for (const [key, ms] of [...byKey].sort((x, y) => y[1] - x[1]).slice(0, 30)) {
    const g = macs.has(key) ? (macs.get(key) ?? 0) / STEPS / 1e9 : null;
    const rate = g === null ? "" : `  ${g.toFixed(2)} GMAC, ${((g * 1e3 * STEPS) / ms).toFixed(1)} GMAC/s`;
    console.log(`  ${key.padEnd(36)} ${(ms / STEPS).toFixed(1).padStart(8)}  (${calls.get(key)} calls)${rate}`);
  }
  // the bound: dense products as measured, every other product at their rate, the rest as measured
  const sum = (keep: (key: string) => boolean, of: Map<string, number>) =>
    [...of].filter(([k]) => keep(k)).reduce((a, [, v]) => a + v / STEPS, 0);
  const isDense = (key: string) => isDenseProduct(key.split("(")[0]);
  const isSparse = (k: string) => macs.has(k) && !isDense(k);
  const denseMs = sum(isDense, byKey);
  const denseRate = sum(isDense, macs) / denseMs; // MACs per ms
  const sparseMs = sum(isSparse, byKey);
  const sparseMacs = sum(isSparse, macs);
  const rest = stepMs - denseMs - sparseMs;
  const bound = rest + denseMs + sparseMacs / denseRate;
  console.log(
    `  step ${stepMs.toFixed(0)} ms: dense products ${denseMs.toFixed(0)} ms (${(denseRate / 1e6).toFixed(1)} GMAC/s),` +
      ` event/masked/time-loop calls ${sparseMs.toFixed(0)} ms for ${(sparseMacs / 1e9).toFixed(2)} GMAC` +
      ` (${(sparseMacs / sparseMs / 1e6).toFixed(1)} GMAC/s; the time loops' cells inside), the rest ${rest.toFixed(0)} ms`,
  );
  console.log(
    `  at the dense products' rate throughout: ${bound.toFixed(0)} ms a step, ${((B * T * 1000) / bound).toFixed(0)} tokens/s`,
  );
  byKey.clear();
  calls.clear();
  macs.clear();
}

function measure(cell: "egru" | "gru", kernels: Kernels, point: Point = POINTS.paper): Measured {
  setKernels(kernels); // the loss's softmax
  const model = new LanguageModel({
    cell,
    vocab: V,
    embedding: E,
    hidden: H,
    layers: L,
    seed: 1,
    kernels,
    ...(cell === "egru" ? { egru: { thresholdMean: 0.3, dampeningFactor: 3.6, pseudoDerivativeSupport: 3.6 } } : {}),
  });
  model.placeIn(kernels); // weights and gradients in the kernels' memory, as the trainers place them
  /**
   * The operating point: the thresholds are set from data (point.active of the units firing) after the
   * warm-up step, on the weights the timed steps start from, and Adam leaves them there (their learning
   * rate is 0): at initialisation c is small (thresholds of 0.001 to 0.01), and an Adam step moves a
   * threshold by about its learning rate, which would undo any operating point in one step. Before
   * that, the embedding and the stack's weight matrices are scaled by point.gain: at their initial
   * scale c stays inside the surrogate window (|c − ϑ| < 1/3.6) almost everywhere, so the backward
   * would be dense; trained weights are larger. A negative point.candidateBias holds most states well
   * below their thresholds, as training leaves them.
   */
  if (cell === "egru") {
    for (const p of model.params()) {
      if (/kernel|embedding/.test(p.name)) for (let i = 0; i < p.value.length; i++) p.value[i] *= point.gain;
      if (/^cells\.\d+\.bias$/.test(p.name)) {
        const size = p.value.length / 3; // blocks (z, r, g)
        for (let i = 2 * size; i < 3 * size; i++) p.value[i] += point.candidateBias;
      }
    }
    model.weightsChanged();
  }
  const calibrate = (): void => {
    if (cell !== "egru") return;
    const batches = [0, 1].map((k) => ({ tokens: seg(k).input, T, B }));
    initThresholdsFromData(model, batches, point.active);
  };
  const optimizer = new Optimizer({ kind: "adam" });
  const times = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
  timeMethod(model.embedding, "forward", times, "embedding");
  timeMethod(model.embedding, "backward", times, "stack backward");
  for (const c of model.cells) {
    timeMethod(c, "forward", times, "stack forward");
    timeMethod(c, "backward", times, "stack backward");
  }
  timeMethod(model.decoder, "forward", times, "decoder forward");
  timeMethod(model.decoder, "backward", times, "decoder backward");
  let state: LmState | null = null;
  let total = 0;
  let active = 0;
  let backwardSparsity = 0;
  for (let s = 0; s <= STEPS; s++) {
    if (s === 1) {
      calibrate();
      for (const p of PHASES) times[p] = 0; // step 0 warms up
      kernelTimes.on = PROFILE;
    }
    const t0 = performance.now();
    const { input, target } = seg(2 + s);
    model.train();
    model.zeroGrad();
    const run = model.forward(input, T, B, state);
    if (s > 0)
      for (const l of run.layers) {
        active += (1 - l.activitySparsity) / (L * STEPS); // the mean over the layers and timed steps
        backwardSparsity += l.backwardSparsity / (L * STEPS);
      }
    const t1 = performance.now();
    const ce = softmaxCrossEntropy(run.logits, target, V, kernels, run.dlogitsInto, false);
    times.softmax += performance.now() - t1;
    model.backward(run, ce.dlogits);
    const t2 = performance.now();
    const params = model.params();
    optimizer.step(params, 1e-3, 0, kernels); // (the thresholds stay at the operating point)
    model.weightsChanged();
    times.optimizer += performance.now() - t2;
    state = run.state;
    model.release(run);
    if (s > 0) total += performance.now() - t0;
  }
  const timed = PHASES.filter((p) => p !== "other").reduce((a, p) => a + times[p], 0);
  times.other = total - timed;
  for (const p of PHASES) times[p] /= STEPS;
  kernelTimes.on = false;
  return { tokensPerS: (T * B * STEPS) / (total / 1000), phases: times, activity: active, backwardSparsity };
}

function pytorch(threads: number): Measured | null {
  try {
    const out = execFileSync(
      PYTHON,
      [
        "tools/pytorch_lm_train.py",
        ...["--vocab", V, "--embedding", E, "--hidden", H, "--layers", L, "--batch", B, "--bptt", T].map(String),
        ...["--steps", STEPS, "--warmup", 1, "--threads", threads].map(String),
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
    );
    const r = JSON.parse(out.trim().split("\n").pop() ?? "{}") as {
      tokens_per_s: number;
      blas: string;
      phases: Record<string, number>;
    };
    console.log(
      `(PyTorch ${threads} thread(s) on BLAS "${r.blas}"${r.blas === "reference" ? ": not a fair baseline" : ""})`,
    );
    const phases = Object.fromEntries(PHASES.map((p) => [p, 0])) as Record<Phase, number>;
    const ms = (k: string) => 1000 * (r.phases[k] ?? 0);
    phases.embedding = ms("embedding");
    phases["stack forward"] = ms("stack forward");
    phases["decoder forward"] = ms("decoder forward");
    phases.softmax = ms("softmax cross-entropy");
    phases["stack backward"] = ms("backward"); // PyTorch's backward is one call: the decoder's is in it
    phases.optimizer = ms("optimizer");
    return { tokensPerS: r.tokens_per_s, phases, activity: Number.NaN, backwardSparsity: Number.NaN };
  } catch (e) {
    console.log(`(PyTorch not measured: ${(e as Error).message.split("\n")[0]})`);
    return null;
  }
}

/**
 * A full garbage collection. After each measurement: a measurement's WebAssembly memory (gigabytes)
 * is returned only when collected, and while it is held every later measurement ran slower here
 * (PyTorch's two-thread step 726 tokens/s before egru's variants, 565 after them; 726 after them with
 * this collection in between).
 */
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

/** Fresh kernels for one measurement (a model's weights, gradients and tapes fill much of a 4 GiB memory). */
async function kernelsFor(threads: number): Promise<Kernels & { close?: () => Promise<void> }> {
  const base = await loadWasmKernels({ maximumPages: 65536 });
  if (!base) throw new Error("WebAssembly SIMD is not available here");
  return threads === 1 ? base : createThreadedKernels(base, threads);
}
console.log(
  `Whole-LM training, E ${E}, stack ${E}-${H}-${H}-${E}, V ${V}, B ${B}, BPTT ${T}, ${STEPS} timed steps after 1 warm-up;` +
    ` ${cpus()[0]?.model ?? "?"}, Node ${process.version}, load ${(await import("node:os")).loadavg()[0].toFixed(1)}\n`,
);
const rows: { name: string; threads: number; m: Measured }[] = [];
for (const threads of THREADS) {
  // the event path at each operating point; the dense path, whose speed the point does not change, at the paper's
  const runs = VARIANTS.flatMap((v) => (v === "events" ? POINT_NAMES.map((p) => ({ v, p })) : [{ v, p: "paper" }]));
  for (const { v, p } of runs) {
    const fresh = v === "pytorch" ? null : await kernelsFor(threads);
    const k = fresh && (PROFILE ? profiled(fresh) : fresh);
    const dense = k && Object.assign(Object.create(k) as Kernels, { eventCrossover: 0 });
    const m =
      k && dense
        ? v === "events"
          ? measure("egru", k, POINTS[p])
          : v === "dense"
            ? measure("egru", dense)
            : measure("gru", k)
        : pytorch(threads);
    await fresh?.close?.();
    collectGarbage();
    const name =
      v === "pytorch"
        ? "PyTorch nn.GRU"
        : v === "gru"
          ? "egru GRU"
          : v === "events"
            ? `EGRU events, ${p}`
            : "EGRU dense";
    if (!m) continue;
    rows.push({ name, threads, m });
    console.log(`(measured: ${name}, ${threads} thread(s), ${m.tokensPerS.toFixed(0)} tokens/s)`);
    if (PROFILE && v !== "pytorch") printKernelTimes(name, threads, (B * T * 1000) / m.tokensPerS);
  }
}

const find = (name: string, threads: number) => rows.find((r) => r.name === name && r.threads === threads)?.m;
console.log("model                  threads  tokens/s  activity  bwd sparsity  ÷ PyTorch GRU  ÷ egru dense");
for (const r of rows) {
  const py = find("PyTorch nn.GRU", r.threads);
  const dn = find("EGRU dense", r.threads);
  const ratio = (d: Measured | undefined) => (d ? `${(r.m.tokensPerS / d.tokensPerS).toFixed(2)}×` : "–");
  const pc = (x: number) => (Number.isNaN(x) || !r.name.startsWith("EGRU") ? "–" : `${(100 * x).toFixed(1)} %`);
  console.log(
    `${r.name.padEnd(22)} ${String(r.threads).padStart(7)}  ${r.m.tokensPerS.toFixed(0).padStart(8)}  ${pc(r.m.activity).padStart(8)}  ${pc(r.m.backwardSparsity).padStart(12)}  ${ratio(py).padStart(13)}  ${ratio(dn).padStart(11)}`,
  );
}
console.log("\nms per step by phase (PyTorch: its one backward call under stack backward)");
console.log(`model                  threads  ${PHASES.map((p) => p.padStart(9)).join(" ")}`);
for (const r of rows)
  console.log(
    `${r.name.padEnd(22)} ${String(r.threads).padStart(7)}  ${PHASES.map((p) => r.m.phases[p].toFixed(0).padStart(Math.max(9, p.length))).join(" ")}`,
  );
