// External baselines for the benchmarks, measured side by side in one run: PyTorch (CPU, via
// tools/bench_pytorch.py), onnxruntime-node (models exported by tools/export_onnx.py) and egru's
// own dense GRU and EGRU layers, on the language-model stack (docs/paper-setups.md#language-model-setup: three layers
// 750 → 1350 → 1350 → 750), a single GRU layer 1024 → 1024, and a 1024³ matmul.
//
//   node --conditions=egru-source --import tsx bench/baselines.ts [--json] [--only pytorch,onnx,egru] [--threads 1,2]
//        [--steps 200] [--warmup 20] [--train-steps 1] [--train-budget 30] [--kernels auto|wasm|js]
//        [--no-export] [--step-rounds 3]
//
// egru's rows use the kernels --kernels selects (as the egru command does: WebAssembly SIMD where
// the host has it, by default); each row names them.
//
// Rows are { tool, what, threads, ms, … }: `what` names the same workload across tools, so rows
// with equal `what` compare directly; `variant` tells egru's streaming paths apart (step(), which
// checks every weight on every call; the stepper, which binds them once; "stepper int8", the stepper
// of the same layers with int8 weights, quantize(): the EGRU one at the same thresholds, so about the
// same activity sparsity, which its row reports). After the table, int8Ratios() prints each int8
// stepper's speed against the float32 stepper's, per thread count. Streaming
// rows are the median wall time of one token through the whole stack at B = 1 over ≥ 200 steps
// after warm-up, the state carried from step to step. Training rows are forward + backward of the
// stack (no optimiser update), loss = Σ output ⊙ G, B = 64, BPTT 70, as ms per step and tokens/s.
// A training step that would exceed its time budget (egru: --train-budget seconds, default 30;
// PyTorch: 15; egru's plain TypeScript kernels, or PyTorch on the reference BLAS, take minutes
// at T = 70) runs at a shorter T, which the row states in `T` and `note`; tokens/s is per token
// and nearly independent of T. PyTorch rows name the BLAS library PyTorch ran on (`blas`):
// Debian's PyTorch on the reference BLAS alone is no fair baseline (tools/bench_pytorch.py says
// how to run it on OpenBLAS).
// Each tool runs in a process of its own (PyTorch in python, onnxruntime-node and egru in child
// node processes started with `--part`), one after the other, so none slows another.
// Parts that cannot run (no python3-torch, no onnxruntime-node, no exported models) are skipped
// with a message on stderr. The ONNX models and their weights live in bench/.cache/ (git-ignored,
// hundreds of MiB); they are exported on demand when python3-torch is present.
//
// After them, the language-model stack's step alone is timed again in --step-rounds rounds (default
// 3; 0: none), each an onnxruntime-node process and an egru one in turn, the order alternating by
// round, and bench/step-rounds.ts prints each thread count's ratios per round (onnxruntime's step ÷
// egru's EGRU stepper, float32 ÷ int8): steps timed seconds apart, not minutes.
//
// Once per run, egru's GRU is cross-checked against onnxruntime (and both against PyTorch's own
// outputs saved at export): one step of each exported model with PyTorch's weights loaded
// through setTorchWeights() must agree within 1e-4.

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { recycle } from "../packages/egru/src/core/pool.js";
import { Rng } from "../packages/egru/src/core/rng.js";
import type { Kernels } from "../packages/egru/src/kernels/backend.js";
import { getKernels, setKernels } from "../packages/egru/src/wasm/select.js";
import { EGRU, type EgruForwardResult, type EgruState } from "../packages/egru/src/layers/egru.js";
import { GRU, type GruForwardResult, type GruTorchName, type GruState } from "../packages/egru/src/layers/gru.js";
import { createThreadedKernels } from "../packages/egru/src/node/threaded-kernels.js";
import type { WasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { stepRatioLines, stepRatios } from "./step-rounds.js";
import { loadBestKernels, type KernelChoice } from "../packages/egru/src/wasm/select.js";

type OrtModule = typeof import("onnxruntime-node");
type OrtSession = import("onnxruntime-node").InferenceSession;
type OrtTensor = import("onnxruntime-node").Tensor;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Where tools/export_onnx.py writes the models and weights (git-ignored). */
export const CACHE_DIR = join(ROOT, "bench", ".cache");
/** Debian's interpreter with python3-torch; EGRU_PYTHON overrides. */
export const DEFAULT_PYTHON = "/usr/bin/python3";
/** The language-model stack of docs/paper-setups.md#language-model-setup (v0.2 sizes): layer l maps sizes[l] → sizes[l + 1]. */
export const LM_SIZES: readonly number[] = [750, 1350, 1350, 750];
/** Cross-check tolerance, egru against onnxruntime, max absolute difference. */
export const CROSS_CHECK_TOLERANCE = 1e-4;

export interface BaselineRow {
  /** "pytorch", "onnxruntime-node" or "egru". */
  tool: string;
  /** The workload, named the same way across tools. */
  what: string;
  /** Threads the tool may use (egru's kernels are single-threaded). */
  threads: number;
  /** Median ms per step (streaming: per token; training: per forward+backward; matmul: per product). */
  ms: number;
  /** Timed repetitions behind the median. */
  samples?: number;
  /** Training rows: B·T / time; sequence rows: tokens per second. */
  tokensPerSecond?: number;
  /** Matmul rows. */
  gflops?: number;
  /** EGRU rows: fraction of outputs that are exactly 0, over all layers and the timed steps. */
  activitySparsity?: number;
  /** EGRU training rows: fraction of units outside the surrogate window (they pass no gradient). */
  backwardSparsity?: number;
  /** Which of a tool's paths, where it has several (egru: "step()" or "stepper"). */
  variant?: string;
  /** egru rows: the kernels computed with (getKernels().name). */
  kernels?: string;
  /** PyTorch rows: the BLAS library it ran on ("reference", "openblas", …; see tools/bench_pytorch.py). */
  blas?: string;
  /**
   * Training rows: the BPTT length the step ran at. Less than the T in `what` when a full step
   * would not fit the time budget; ms is then per step at this T (tokens/s is per token either way).
   */
  T?: number;
  note?: string;
}

// ---------------------------------------------------------------------------------------------
// Rows: validation, parsing, printing

const OPTIONAL_NUMBERS = ["samples", "tokensPerSecond", "gflops", "activitySparsity", "backwardSparsity", "T"] as const;
const OPTIONAL_STRINGS = ["variant", "kernels", "blas", "note"] as const;

/** Check that `v` is a well-formed row (throws an Error naming the problem) and return it typed. */
export function checkRow(v: unknown): BaselineRow {
  if (typeof v !== "object" || v === null) throw new Error(`row: expected an object, got ${JSON.stringify(v)}`);
  const r = v as Record<string, unknown>;
  const bad = (what: string): never => {
    throw new Error(`row ${JSON.stringify(v)}: ${what}`);
  };
  if (typeof r.tool !== "string" || r.tool === "") bad("tool must be a non-empty string");
  if (typeof r.what !== "string" || r.what === "") bad("what must be a non-empty string");
  if (typeof r.threads !== "number" || !Number.isInteger(r.threads) || r.threads < 1)
    bad("threads must be an integer ≥ 1");
  if (typeof r.ms !== "number" || !Number.isFinite(r.ms) || r.ms <= 0) bad("ms must be a finite number > 0");
  for (const k of OPTIONAL_NUMBERS) {
    if (r[k] !== undefined && (typeof r[k] !== "number" || !Number.isFinite(r[k] as number) || (r[k] as number) < 0)) {
      bad(`${k} must be a finite number ≥ 0 when present`);
    }
  }
  if (r.activitySparsity !== undefined && (r.activitySparsity as number) > 1) bad("activitySparsity must be in [0, 1]");
  if (r.backwardSparsity !== undefined && (r.backwardSparsity as number) > 1) bad("backwardSparsity must be in [0, 1]");
  for (const k of OPTIONAL_STRINGS) {
    if (r[k] !== undefined && typeof r[k] !== "string") bad(`${k} must be a string when present`);
  }
  return r as unknown as BaselineRow;
}

/** Parse the JSON lines a baseline script prints; lines that do not start with "{" are ignored. */
export function parseRows(text: string): BaselineRow[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.startsWith("{"))
    .map((l) => checkRow(JSON.parse(l)));
}

const TOOL_ORDER = ["pytorch", "onnxruntime-node", "egru"];

/** Rows grouped by workload (in order of first appearance), then tool, variant and threads. */
export function sortRows(rows: BaselineRow[]): BaselineRow[] {
  const whatOrder = new Map<string, number>();
  for (const r of rows) if (!whatOrder.has(r.what)) whatOrder.set(r.what, whatOrder.size);
  const toolRank = (t: string): number => (TOOL_ORDER.includes(t) ? TOOL_ORDER.indexOf(t) : TOOL_ORDER.length);
  return [...rows].sort(
    (a, b) =>
      whatOrder.get(a.what)! - whatOrder.get(b.what)! ||
      toolRank(a.tool) - toolRank(b.tool) ||
      (a.variant ?? "").localeCompare(b.variant ?? "") ||
      a.threads - b.threads,
  );
}

function fmt(v: number | undefined, digits: number): string {
  if (v === undefined) return "";
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(digits);
}

/** Activity sparsity, and backward sparsity in parentheses where the row has it. */
function sparsityCell(r: BaselineRow): string {
  if (r.activitySparsity === undefined) return "";
  const a = `${(100 * r.activitySparsity).toFixed(1)}%`;
  return r.backwardSparsity === undefined ? a : `${a} (${(100 * r.backwardSparsity).toFixed(1)}%)`;
}

/** The rows as an aligned text table. */
export function rowsTable(rows: BaselineRow[]): string {
  const head = ["what", "tool", "variant / library", "threads", "ms", "tokens/s", "GFLOP/s", "sparsity (bwd)", "note"];
  const body = sortRows(rows).map((r) => [
    r.what,
    r.tool,
    [r.variant, r.blas && `BLAS ${r.blas}`, r.kernels && `kernels ${r.kernels}`].filter(Boolean).join(", "),
    String(r.threads),
    r.ms < 1 ? r.ms.toFixed(3) : r.ms.toFixed(2),
    fmt(r.tokensPerSecond, 1),
    fmt(r.gflops, 1),
    sparsityCell(r),
    r.note ?? "",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const right = new Set([3, 4, 5, 6, 7]);
  const line = (cols: string[]): string =>
    cols
      .map((c, i) => (right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const now = (): number => performance.now();

export function median(xs: number[]): number {
  if (xs.length === 0) throw new Error("median of nothing");
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function randn(rng: Rng, n: number, std = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal(0, std);
  return a;
}

const label = (sizes: readonly number[]): string => sizes.join("->");
const stepWhat = (sizes: readonly number[], cell = "GRU"): string =>
  sizes.length === 2 ? `${cell} H=${sizes[1]} step B=1` : `${cell} stack ${label(sizes)} step B=1`;
const trainWhat = (sizes: readonly number[], B: number, T: number, cell = "GRU"): string =>
  `${cell} stack ${label(sizes)} train fwd+bwd B=${B} T=${T}`;

const cutNote = (T: number, Tmax: number): string =>
  `ran at T=${T}, cut from ${Tmax} to fit the time budget: ms is per T=${T} step, tokens/s per token`;

const pythonPath = (python?: string): string => python ?? process.env.EGRU_PYTHON ?? DEFAULT_PYTHON;

const torchChecked = new Map<string, boolean>();
/** Whether `python` runs and finds the torch package (without importing it; cached per interpreter). */
export function pythonHasTorch(python?: string): boolean {
  const py = pythonPath(python);
  let ok = torchChecked.get(py);
  if (ok === undefined) {
    const probe = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)";
    const r = spawnSync(py, ["-c", probe], { stdio: "ignore", timeout: 60_000 });
    ok = r.error === undefined && r.status === 0;
    torchChecked.set(py, ok);
  }
  return ok;
}

function skip(message: string): void {
  process.stderr.write(`skipped: ${message}\n`);
}

// ---------------------------------------------------------------------------------------------
// PyTorch

export interface PytorchOptions {
  /** Interpreter (default EGRU_PYTHON, else /usr/bin/python3). */
  python?: string;
  /** Tiny sizes (tests of the harness). */
  quick?: boolean;
  threads?: number[];
  steps?: number;
  warmup?: number;
  /** Timed training steps after one warm-up (default 3). */
  trainReps?: number;
  /** Seconds one training step may take before T is cut below 70 (the script's default: 15). */
  trainBudgetS?: number;
  /** Do not forward the script's progress to stderr (it is still shown if the script fails). */
  quiet?: boolean;
}

/** Runs tools/bench_pytorch.py and returns its rows; [] (with a message) when PyTorch is unavailable. */
export async function pytorchRows(opts: PytorchOptions = {}): Promise<BaselineRow[]> {
  const py = pythonPath(opts.python);
  if (!pythonHasTorch(py)) {
    skip(`PyTorch (python3-torch) not available${py === DEFAULT_PYTHON ? "" : ` (interpreter ${py})`}`);
    return [];
  }
  const args = [join(ROOT, "tools", "bench_pytorch.py")];
  if (opts.quick) args.push("--quick");
  if (opts.threads) args.push("--threads", opts.threads.join(","));
  if (opts.steps !== undefined) args.push("--steps", String(opts.steps));
  if (opts.warmup !== undefined) args.push("--warmup", String(opts.warmup));
  if (opts.trainReps !== undefined) args.push("--train-reps", String(opts.trainReps));
  if (opts.trainBudgetS !== undefined) args.push("--train-budget", String(opts.trainBudgetS));
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(py, args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        err += d;
        if (!opts.quiet) process.stderr.write(d);
      });
      child.on("error", reject);
      child.on("close", (c) => resolve({ code: c, stdout: out, stderr: err }));
    },
  );
  if (code !== 0) {
    if (opts.quiet) process.stderr.write(stderr);
    skip(`PyTorch benchmark failed (exit ${code})`);
    return [];
  }
  return parseRows(stdout);
}

// ---------------------------------------------------------------------------------------------
// Exported models and weights (tools/export_onnx.py)

interface TensorEntry {
  offset: number;
  shape: number[];
}

/** The sidecar <stack>.weights.json written by tools/export_onnx.py. */
export interface WeightsSidecar {
  format: string;
  stack: string;
  sizes: number[];
  seed: number;
  floats: number;
  weightsSha256: string;
  onnx: { step: string; sequence?: string };
  onnxSha256: Record<string, string>;
  layers: { inputSize: number; hiddenSize: number; tensors: Record<GruTorchName, TensorEntry> }[];
  check: { inputs: Record<string, number[]>; outputs: Record<string, number[]> };
}

/** The stacks tools/export_onnx.py writes. */
export const STACKS = ["gru-lm", "gru-h1024"] as const;
export type StackName = (typeof STACKS)[number];

function stackFiles(cacheDir: string, stack: StackName): string[] {
  return [`${stack}-step.onnx`, `${stack}.weights.bin`, `${stack}.weights.json`].map((f) => join(cacheDir, f));
}

/** Whether the step models and weights of every stack are in `cacheDir` (no export attempted). */
export function modelsPresent(cacheDir = CACHE_DIR): boolean {
  return STACKS.every((s) => stackFiles(cacheDir, s).every((f) => existsSync(f)));
}

export interface ModelOptions {
  cacheDir?: string;
  python?: string;
  /** Run tools/export_onnx.py when files are missing and PyTorch is available (default true). */
  allowExport?: boolean;
}

/** Make sure the models are in the cache, exporting them if allowed and possible; false (with a message) if not. */
export function ensureModels(opts: ModelOptions = {}): boolean {
  const cacheDir = opts.cacheDir ?? CACHE_DIR;
  if (modelsPresent(cacheDir)) return true;
  const where = cacheDir === CACHE_DIR ? "bench/.cache/" : cacheDir;
  if (opts.allowExport === false) {
    skip(`ONNX models not in ${where} (export them with: /usr/bin/python3 tools/export_onnx.py)`);
    return false;
  }
  const py = pythonPath(opts.python);
  if (!pythonHasTorch(py)) {
    skip(`ONNX models not in ${where} and PyTorch (python3-torch) not available to export them`);
    return false;
  }
  process.stderr.write(`exporting the ONNX models to ${where} (tools/export_onnx.py)...\n`);
  const r = spawnSync(py, [join(ROOT, "tools", "export_onnx.py"), "--out", cacheDir], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status !== 0 || !modelsPresent(cacheDir)) {
    skip(`tools/export_onnx.py failed (exit ${r.status}); ONNX rows not measured`);
    return false;
  }
  return true;
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Read <stack>.weights.json and .bin; with `verify`, check the .bin and step model against the sidecar's hashes. */
export function loadStackWeights(
  stack: StackName,
  cacheDir = CACHE_DIR,
  verify = true,
): { meta: WeightsSidecar; data: Float32Array } {
  const meta = JSON.parse(readFileSync(join(cacheDir, `${stack}.weights.json`), "utf8")) as WeightsSidecar;
  if (meta.format !== "egru-bench-gru-weights-1")
    throw new Error(`${stack}.weights.json: unknown format ${meta.format}`);
  const binPath = join(cacheDir, `${stack}.weights.bin`);
  const buf = readFileSync(binPath);
  if (buf.byteLength !== 4 * meta.floats) {
    throw new Error(`${stack}.weights.bin: ${buf.byteLength} bytes, the sidecar says ${meta.floats} float32`);
  }
  if (verify) {
    const stale = `; the cache is stale: rerun /usr/bin/python3 tools/export_onnx.py --force`;
    if (createHash("sha256").update(buf).digest("hex") !== meta.weightsSha256) {
      throw new Error(`${stack}.weights.bin does not match its sidecar${stale}`);
    }
    const step = meta.onnx.step;
    if (sha256File(join(cacheDir, step)) !== meta.onnxSha256[step]) {
      throw new Error(`${step} was not exported with ${stack}.weights.bin${stale}`);
    }
  }
  const data = new Float32Array(meta.floats);
  if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(buf);
  else for (let i = 0; i < meta.floats; i++) data[i] = buf.readFloatLE(4 * i);
  return { meta, data };
}

/** egru GRU layers (evaluation mode) holding the exported PyTorch weights. */
export function grusFromExport(meta: WeightsSidecar, data: Float32Array): GRU[] {
  return meta.layers.map((l) => {
    const layer = new GRU({ inputSize: l.inputSize, hiddenSize: l.hiddenSize });
    const w: Partial<Record<GruTorchName, Float32Array>> = {};
    for (const [name, t] of Object.entries(l.tensors) as [GruTorchName, TensorEntry][]) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      w[name] = data.subarray(t.offset, t.offset + n);
    }
    layer.setTorchWeights(w);
    return layer.eval();
  });
}

let ortPromise: Promise<OrtModule | null> | null = null;
/** onnxruntime-node, or null (with a message) when it cannot be loaded. */
export function loadOrt(): Promise<OrtModule | null> {
  ortPromise ??= import("onnxruntime-node").then(
    (m) => m,
    (e: unknown) => {
      skip(`onnxruntime-node failed to load (${e instanceof Error ? e.message.split("\n")[0] : String(e)})`);
      return null;
    },
  );
  return ortPromise;
}

function sessionOptions(threads: number): import("onnxruntime-node").InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

export interface CrossCheckResult {
  stack: StackName;
  /** max |egru − onnxruntime| over the output and every new state. */
  egruVsOrt: number;
  /** max |onnxruntime − PyTorch| (PyTorch's outputs saved at export). */
  ortVsTorch: number;
  /** max |egru − PyTorch|. */
  egruVsTorch: number;
  tolerance: number;
  ok: boolean;
}

/**
 * One step of each exported model in onnxruntime and in egru's GRU with the same weights (set
 * through setTorchWeights), on the check vector saved at export. null (with a message) when
 * onnxruntime-node or the models are unavailable.
 */
export async function onnxCrossCheck(
  opts: ModelOptions & { stacks?: StackName[] } = {},
): Promise<CrossCheckResult[] | null> {
  const ort = await loadOrt();
  if (!ort || !ensureModels(opts)) return null;
  const cacheDir = opts.cacheDir ?? CACHE_DIR;
  const results: CrossCheckResult[] = [];
  for (const stack of opts.stacks ?? STACKS) {
    const { meta, data } = loadStackWeights(stack, cacheDir);
    const layers = grusFromExport(meta, data);
    const stateNames = layers.length === 1 ? ["h"] : layers.map((_, i) => `h${i + 1}`);
    const inp = meta.check.inputs;
    const ref = meta.check.outputs;

    const session = await ort.InferenceSession.create(join(cacheDir, meta.onnx.step), sessionOptions(1));
    const feeds: Record<string, OrtTensor> = {
      x: new ort.Tensor("float32", Float32Array.from(inp.x), [1, 1, meta.sizes[0]]),
    };
    stateNames.forEach(
      (h, l) => (feeds[h] = new ort.Tensor("float32", Float32Array.from(inp[h]), [1, 1, meta.sizes[l + 1]])),
    );
    const out = await session.run(feeds);
    await session.release();

    let x: Float32Array = Float32Array.from(inp.x);
    const mine: Record<string, Float32Array> = {};
    layers.forEach((layer, l) => {
      const r = layer.step(x, 1, { h: Float32Array.from(inp[stateNames[l]]) });
      mine[`${stateNames[l]}_out`] = r.h;
      x = r.h;
    });
    mine.y = x;

    let egruVsOrt = 0;
    let ortVsTorch = 0;
    let egruVsTorch = 0;
    for (const name of ["y", ...stateNames.map((h) => `${h}_out`)]) {
      const o = out[name].data as Float32Array;
      egruVsOrt = Math.max(egruVsOrt, maxAbsDiff(mine[name], o));
      ortVsTorch = Math.max(ortVsTorch, maxAbsDiff(o, ref[name]));
      egruVsTorch = Math.max(egruVsTorch, maxAbsDiff(mine[name], ref[name]));
    }
    results.push({
      stack,
      egruVsOrt,
      ortVsTorch,
      egruVsTorch,
      tolerance: CROSS_CHECK_TOLERANCE,
      ok: Math.max(egruVsOrt, ortVsTorch, egruVsTorch) <= CROSS_CHECK_TOLERANCE,
    });
  }
  return results;
}

export function crossCheckLine(c: CrossCheckResult): string {
  const e = (v: number): string => v.toExponential(2);
  return (
    `cross-check ${c.stack} one step: max |egru − onnxruntime| = ${e(c.egruVsOrt)}, ` +
    `|onnxruntime − PyTorch| = ${e(c.ortVsTorch)}, |egru − PyTorch| = ${e(c.egruVsTorch)} ` +
    `(tolerance ${e(c.tolerance)}): ${c.ok ? "ok" : "FAILED"}`
  );
}

// ---------------------------------------------------------------------------------------------
// onnxruntime-node

export interface OnnxOptions extends ModelOptions {
  threads?: number[];
  steps?: number;
  warmup?: number;
  /** Which models to time (default all present: "gru-lm", "gru-h1024", "gru-lm-seq"). */
  models?: ("gru-lm" | "gru-h1024" | "gru-lm-seq")[];
  /** Sequence length of the whole-sequence rows (default 70). */
  seqT?: number;
  /** Timed whole-sequence runs (default 10). */
  seqReps?: number;
}

/** Median ms per step of a one-step model, feeding the new states back as the next states. */
async function ortStepLatency(
  ort: OrtModule,
  session: OrtSession,
  sizes: number[],
  steps: number,
  warmup: number,
): Promise<number> {
  const rng = new Rng(1);
  const tokens = Array.from({ length: 64 }, () => new ort.Tensor("float32", randn(rng, sizes[0]), [1, 1, sizes[0]]));
  const stateNames = session.inputNames.filter((n) => n !== "x");
  let states: Record<string, OrtTensor> = {};
  stateNames.forEach(
    (h, l) => (states[h] = new ort.Tensor("float32", new Float32Array(sizes[l + 1]), [1, 1, sizes[l + 1]])),
  );
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const feeds = { x: tokens[i % tokens.length], ...states };
    const t0 = now();
    const out = await session.run(feeds);
    const t1 = now();
    if (i >= warmup) times.push(t1 - t0);
    const next: Record<string, OrtTensor> = {};
    for (const h of stateNames) next[h] = out[`${h}_out`];
    states = next;
  }
  return median(times);
}

/** onnxruntime-node rows: per-step latency of the exported one-step models (and per-token time of the sequence model). */
export async function onnxRows(opts: OnnxOptions = {}): Promise<BaselineRow[]> {
  const ort = await loadOrt();
  if (!ort || !ensureModels(opts)) return [];
  const cacheDir = opts.cacheDir ?? CACHE_DIR;
  const threads = opts.threads ?? [1, 2];
  const steps = opts.steps ?? 200;
  const warmup = opts.warmup ?? 20;
  const models = opts.models ?? ["gru-lm", "gru-h1024", "gru-lm-seq"];
  const rows: BaselineRow[] = [];
  for (const stack of STACKS) {
    const meta = JSON.parse(readFileSync(join(cacheDir, `${stack}.weights.json`), "utf8")) as WeightsSidecar;
    if (models.includes(stack)) {
      for (const n of threads) {
        const session = await ort.InferenceSession.create(join(cacheDir, meta.onnx.step), sessionOptions(n));
        const ms = await ortStepLatency(ort, session, meta.sizes, steps, warmup);
        await session.release();
        rows.push({ tool: "onnxruntime-node", what: stepWhat(meta.sizes), threads: n, ms, samples: steps });
      }
    }
    const seq = meta.onnx.sequence;
    if (stack === "gru-lm" && models.includes("gru-lm-seq") && seq && existsSync(join(cacheDir, seq))) {
      const T = opts.seqT ?? 70;
      const reps = opts.seqReps ?? 10;
      const rng = new Rng(2);
      const x = new ort.Tensor("float32", randn(rng, T * meta.sizes[0]), [T, 1, meta.sizes[0]]);
      for (const n of threads) {
        const session = await ort.InferenceSession.create(join(cacheDir, seq), sessionOptions(n));
        const feeds: Record<string, OrtTensor> = { x };
        session.inputNames
          .filter((h) => h !== "x")
          .forEach((h, l) => {
            feeds[h] = new ort.Tensor("float32", new Float32Array(meta.sizes[l + 1]), [1, 1, meta.sizes[l + 1]]);
          });
        const times: number[] = [];
        for (let i = 0; i < 2 + reps; i++) {
          const t0 = now();
          await session.run(feeds);
          if (i >= 2) times.push(now() - t0);
        }
        await session.release();
        const perToken = median(times) / T;
        rows.push({
          tool: "onnxruntime-node",
          what: `GRU stack ${label(meta.sizes)} whole sequence T=${T} B=1, per token`,
          threads: n,
          ms: perToken,
          samples: reps,
          tokensPerSecond: 1000 / perToken,
        });
      }
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// egru's own layers

export interface EgruOptions {
  /** Stack sizes (default the LM stack 750 → 1350 → 1350 → 750). */
  sizes?: number[];
  /** Single-layer step row at this H (default 1024; 0 = none). */
  single?: number;
  steps?: number;
  warmup?: number;
  /** Training batch and BPTT length (default 64 and 70). */
  trainB?: number;
  trainT?: number;
  /** Timed training steps (default 1). */
  trainSteps?: number;
  /**
   * Time budget for one timed training step, ms (default 30 000). When a probe at T = 1 predicts
   * more, T is cut so that a step fits; tokens/s is per token and nearly independent of T.
   */
  trainBudgetMs?: number;
  /** Also the EGRU stack (default true). */
  egru?: boolean;
  /** Activity sparsity the EGRU thresholds are calibrated to (default 0.825). */
  targetSparsity?: number;
  /** Matmul row of egru's kernels at this size (default 1024; 0 = none). */
  matmul?: number;
  seed?: number;
  /** Progress messages to stderr (default true). */
  progress?: boolean;
  /** Threads of the current kernels (getKernels()), recorded in every row (default 1). */
  threads?: number;
  /** Also the step() rows, which re-check every weight per call (default true). */
  stepApi?: boolean;
  /** Also the int8 stepper rows (default true). */
  int8?: boolean;
  /** Also the dense GRU stack's rows and the single layer's (default true). */
  gru?: boolean;
  /** Also the training rows (default true). */
  train?: boolean;
}

/** A copy of a layer (same options, `make` builds it) holding its current weights, made int8. */
function int8Copy<L extends GRU | EGRU>(layer: L, make: () => L): L {
  const copy = make();
  copy.setWeights(layer.getWeights());
  copy.eval().quantize();
  return copy;
}

/**
 * The int8 stepper rows against the float32 stepper rows of the same workload and thread count, one
 * line each: both times, float32 / int8 (the speedup), and the activity sparsity of both.
 */
export function int8Ratios(rows: BaselineRow[]): string[] {
  const out: string[] = [];
  for (const q of rows.filter((r) => r.variant === "stepper int8")) {
    const f = rows.find((r) => r.variant === "stepper" && r.what === q.what && r.threads === q.threads);
    if (!f) continue;
    const sp = (r: BaselineRow): string =>
      r.activitySparsity === undefined ? "" : ` ${(100 * r.activitySparsity).toFixed(1)} %`;
    const sparsity = q.activitySparsity === undefined ? "" : `; activity sparsity${sp(f)} float32,${sp(q)} int8`;
    out.push(
      `${q.what}, ${q.threads} thread(s): float32 ${f.ms.toFixed(3)} ms, int8 ${q.ms.toFixed(3)} ms, ` +
        `int8 ${(f.ms / q.ms).toFixed(2)}× the float32 step${sparsity}`,
    );
  }
  return out;
}

interface TrainTiming {
  T: number;
  ms: number;
  samples: number;
}

/**
 * Time `run(T)` (one forward+backward at BPTT length T). A cheap run first compiles the code
 * paths, a T = 1 run estimates the cost per time step; T is cut when Tmax would exceed the budget.
 */
function timeTraining(
  run: (T: number, B: number) => void,
  Tmax: number,
  B: number,
  steps: number,
  budgetMs: number,
): TrainTiming {
  run(Math.min(2, Tmax), Math.min(2, B));
  const t0 = now();
  run(1, B);
  const perT = now() - t0;
  const T = perT * Tmax <= budgetMs ? Tmax : Math.max(1, Math.min(Tmax, Math.floor(budgetMs / perT)));
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t = now();
    run(T, B);
    times.push(now() - t);
  }
  return { T, ms: median(times), samples: steps };
}

function trainRow(
  cell: string,
  sizes: number[],
  B: number,
  Tmax: number,
  t: TrainTiming,
  kernels: string,
  threads: number,
): BaselineRow {
  const row: BaselineRow = {
    tool: "egru",
    what: trainWhat(sizes, B, Tmax, cell),
    threads,
    ms: t.ms,
    samples: t.samples,
    tokensPerSecond: (B * t.T) / (t.ms / 1000),
    kernels,
    T: t.T,
  };
  if (t.T < Tmax) row.note = cutNote(t.T, Tmax);
  return row;
}

/** Median ms of `step()` over `steps` after `warmup`, cycling through `tokens`. */
function timeSteps(tokens: Float32Array[], steps: number, warmup: number, step: (x: Float32Array) => void): number {
  const times: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    const x = tokens[i % tokens.length];
    const t0 = now();
    step(x);
    const t1 = now();
    if (i >= warmup) times.push(t1 - t0);
  }
  return median(times);
}

/** γ and s of the triangular surrogate in the public language-model recipe (docs/paper-setups.md#surrogate-gradient). */
const LM_SURROGATE = 3.6;

/**
 * Set every layer's thresholds (clamp mode, one value per layer) so that about `target` of its
 * outputs are 0 on `tokens`, bottom-up: a few fixed-point rounds of "ϑ ← the target quantile of
 * the pre-event state c observed with the current ϑ".
 */
export function calibrateThresholds(layers: EGRU[], tokens: Float32Array[], target: number): void {
  const T = tokens.length;
  let x: Float32Array = new Float32Array(T * layers[0].inputSize);
  tokens.forEach((t, i) => x.set(t, i * t.length));
  for (const layer of layers) {
    const H = layer.hiddenSize;
    let r: EgruForwardResult = layer.forward({ x, T, B: 1 });
    for (let round = 0; round < 4; round++) {
      const thr = layer.thresholds();
      const c = new Float64Array(T * H);
      for (let i = 0; i < c.length; i++) c[i] = r.h[i] + r.o[i] * thr[i % H];
      c.sort();
      const q = c[Math.min(c.length - 1, Math.floor(target * c.length))];
      layer.weights.thr.fill(Math.min(1, Math.max(0, q)));
      r = layer.forward({ x, T, B: 1 });
    }
    x = r.y;
  }
}

/**
 * egru rows: its dense GRU stack (step() and stepper, one token at B = 1; training forward +
 * backward), the same for an EGRU stack with thresholds calibrated to ≈ 82.5% activity sparsity,
 * a single GRU layer step, and a matmul of its kernels. Single-threaded.
 */
export async function egruDenseGruRows(opts: EgruOptions = {}): Promise<BaselineRow[]> {
  const sizes = opts.sizes ?? [...LM_SIZES];
  const single = opts.single ?? 1024;
  const steps = opts.steps ?? 200;
  const warmup = opts.warmup ?? 20;
  const B = opts.trainB ?? 64;
  const Tmax = opts.trainT ?? 70;
  const trainSteps = opts.trainSteps ?? 1;
  const budget = opts.trainBudgetMs ?? 30_000;
  const seed = opts.seed ?? 0;
  const kernels = getKernels().name;
  const threads = opts.threads ?? 1;
  const stepApi = opts.stepApi ?? true;
  const int8 = opts.int8 ?? true;
  const log = (m: string): void => {
    if (opts.progress ?? true) process.stderr.write(`egru: ${m}\n`);
  };
  const rng = new Rng(seed + 100);
  const tokens = Array.from({ length: 64 }, () => randn(rng, sizes[0]));
  const nL = sizes.length - 1;
  const xTrain = randn(rng, Tmax * B * sizes[0]);
  const G = randn(rng, Tmax * B * sizes[nL]);
  const rows: BaselineRow[] = [];
  const row = (r: Omit<BaselineRow, "tool" | "threads" | "kernels">): void => {
    rows.push({ tool: "egru", threads, kernels, ...r });
  };

  // dense GRU stack
  if (opts.gru ?? true) {
    log(`GRU stack ${label(sizes)} streaming...`);
    const grus = sizes
      .slice(0, -1)
      .map((I, l) => new GRU({ inputSize: I, hiddenSize: sizes[l + 1], seed: seed + l }).eval());
    let gStates: (GruState | null)[] = grus.map(() => null);
    const gruStep = (x: Float32Array): void => {
      let v = x;
      grus.forEach((g, l) => {
        const r = g.step(v, 1, gStates[l]);
        gStates[l] = r.state;
        v = r.h;
      });
    };
    if (stepApi)
      row({ what: stepWhat(sizes), variant: "step()", ms: timeSteps(tokens, steps, warmup, gruStep), samples: steps });
    const gSteppers = grus.map((g) => g.stepper(1));
    const gruStepper = (x: Float32Array): void => {
      let v = x;
      for (const s of gSteppers) v = s.step(v);
    };
    row({
      what: stepWhat(sizes),
      variant: "stepper",
      ms: timeSteps(tokens, steps, warmup, gruStepper),
      samples: steps,
    });
    gSteppers.forEach((s) => s.dispose());
    if (int8) {
      const q = grus.map((g, l) => int8Copy(g, () => new GRU({ inputSize: sizes[l], hiddenSize: sizes[l + 1], seed })));
      const qSteppers = q.map((g) => g.stepper(1));
      const ms = timeSteps(tokens, steps, warmup, (x) => {
        let v = x;
        for (const s of qSteppers) v = s.step(v);
      });
      row({ what: stepWhat(sizes), variant: "stepper int8", ms, samples: steps });
      qSteppers.forEach((s) => s.dispose());
    }
    gStates = [];

    if (single > 0) {
      const g = new GRU({ inputSize: single, hiddenSize: single, seed }).eval();
      const srng = new Rng(seed + 200);
      const sTokens = Array.from({ length: 16 }, () => randn(srng, single));
      let st: GruState | null = null;
      if (stepApi) {
        const ms = timeSteps(sTokens, steps, warmup, (x) => (st = g.step(x, 1, st).state));
        row({ what: stepWhat([single, single]), variant: "step()", ms, samples: steps });
      }
      const s = g.stepper(1);
      row({
        what: stepWhat([single, single]),
        variant: "stepper",
        ms: timeSteps(sTokens, steps, warmup, (x) => s.step(x)),
        samples: steps,
      });
      s.dispose();
    }

    log(`GRU stack training B=${B} T≤${Tmax} (budget ${(budget / 1000).toFixed(0)} s per step)...`);
    grus.forEach((g) => g.train());
    const gruTrain = (T: number, b: number): void => {
      for (const g of grus) g.zeroGrad();
      const results: GruForwardResult[] = [];
      let x: Float32Array = xTrain.subarray(0, T * b * sizes[0]);
      for (const g of grus) {
        const r = g.forward({ x, T, B: b });
        results.push(r);
        x = r.output;
      }
      let d: Float32Array = G.subarray(0, T * b * sizes[nL]);
      for (let l = nL - 1; l >= 0; l--) {
        const up = d;
        d = grus[l].backward(results[l], { dOutput: up }).dx;
        recycle(l < nL - 1 ? up : null);
      }
      recycle(d);
      for (const r of results) r.release();
    };
    if (opts.train ?? true)
      rows.push(trainRow("GRU", sizes, B, Tmax, timeTraining(gruTrain, Tmax, B, trainSteps, budget), kernels, threads));
  }

  if (opts.egru ?? true) {
    const target = opts.targetSparsity ?? 0.825;
    log(`EGRU stack: calibrating thresholds to ${(100 * target).toFixed(1)}% activity sparsity...`);
    const egruOf = (l: number): EGRU =>
      new EGRU({
        inputSize: sizes[l],
        hiddenSize: sizes[l + 1],
        seed: seed + 10 + l,
        inputEvents: l > 0,
        // the surrogate of the public language-model recipe (docs/paper-setups.md#surrogate-gradient, LM v0.2: γ = s = 3.6)
        dampeningFactor: LM_SURROGATE,
        pseudoDerivativeSupport: LM_SURROGATE,
      });
    const egrus = sizes.slice(0, -1).map((_, l) => egruOf(l));
    egrus.forEach((e) => e.eval());
    calibrateThresholds(egrus, tokens.slice(0, 32), target);

    log(`EGRU stack ${label(sizes)} streaming...`);
    let zeros = 0;
    let total = 0;
    let counting = false;
    const count = (y: Float32Array): void => {
      if (!counting) return;
      for (let i = 0; i < y.length; i++) if (y[i] === 0) zeros++;
      total += y.length;
    };
    const eStates: (EgruState | null)[] = egrus.map(() => null);
    let i = 0;
    const egruStep = (x: Float32Array): void => {
      counting = i++ >= warmup;
      let v = x;
      egrus.forEach((e, l) => {
        const r = e.step(v, 1, eStates[l]);
        eStates[l] = r.state;
        count(r.y);
        v = r.y;
      });
    };
    let ms: number;
    if (stepApi) {
      ms = timeSteps(tokens, steps, warmup, egruStep);
      row({ what: stepWhat(sizes, "EGRU"), variant: "step()", ms, samples: steps, activitySparsity: zeros / total });
    }
    const eSteppers = egrus.map((e) => e.stepper(1));
    zeros = total = i = 0;
    const egruStepper = (x: Float32Array): void => {
      counting = i++ >= warmup;
      let v = x;
      for (const s of eSteppers) {
        v = s.step(v);
        count(v);
      }
    };
    ms = timeSteps(tokens, steps, warmup, egruStepper);
    row({ what: stepWhat(sizes, "EGRU"), variant: "stepper", ms, samples: steps, activitySparsity: zeros / total });
    eSteppers.forEach((s) => s.dispose());
    if (int8) {
      // the same layers and thresholds with int8 weights: about the same sparsity (the row says)
      const qSteppers = egrus.map((e, l) => int8Copy(e, () => egruOf(l)).stepper(1));
      zeros = total = i = 0;
      ms = timeSteps(tokens, steps, warmup, (x) => {
        counting = i++ >= warmup;
        let v = x;
        for (const s of qSteppers) {
          v = s.step(v);
          count(v);
        }
      });
      row({
        what: stepWhat(sizes, "EGRU"),
        variant: "stepper int8",
        ms,
        samples: steps,
        activitySparsity: zeros / total,
      });
      qSteppers.forEach((s) => s.dispose());
    }

    if (opts.train ?? true) {
      log(`EGRU stack training B=${B} T≤${Tmax}...`);
      egrus.forEach((e) => e.train());
      let trainZeros = 0;
      let trainEntries = 0;
      let trainBackward = 0;
      const egruTrain = (T: number, b: number): void => {
        for (const e of egrus) e.zeroGrad();
        const results: EgruForwardResult[] = [];
        let x: Float32Array = xTrain.subarray(0, T * b * sizes[0]);
        for (const e of egrus) {
          const r = e.forward({ x, T, B: b });
          results.push(r);
          x = r.y;
        }
        let d: Float32Array = G.subarray(0, T * b * sizes[nL]);
        for (let l = nL - 1; l >= 0; l--) {
          const mask = l > 0 ? egrus[l - 1].receiveMask(results[l - 1]) : null;
          const up = d;
          d = egrus[l].backward(results[l], { dy: up }, { dxMask: mask }).dx;
          // as a training loop does: hand this step's temporaries back to the array pool
          recycle(mask, l < nL - 1 ? up : null);
        }
        recycle(d);
        trainZeros = results.reduce((s, r) => s + r.stats.activitySparsity * r.stats.entries, 0);
        trainEntries = results.reduce((s, r) => s + r.stats.entries, 0);
        trainBackward = results.reduce((s, r) => s + r.stats.backwardSparsity * r.stats.entries, 0) / trainEntries;
        for (const r of results) r.release();
      };
      const t = timeTraining(egruTrain, Tmax, B, trainSteps, budget);
      rows.push({
        ...trainRow("EGRU", sizes, B, Tmax, t, kernels, threads),
        variant: "events",
        activitySparsity: trainZeros / trainEntries,
        backwardSparsity: trainBackward,
      });
      // the same stack and data on egru's dense path: kernels whose event crossover is 0 never
      // choose an event product, a masked product or an event weight gradient
      const base = getKernels();
      setKernels(Object.assign(Object.create(base) as Kernels, { eventCrossover: 0 }));
      try {
        log(`EGRU stack training, dense path, B=${B} T≤${Tmax}...`);
        const td = timeTraining(egruTrain, Tmax, B, trainSteps, budget);
        rows.push({
          ...trainRow("EGRU", sizes, B, Tmax, td, kernels, threads),
          variant: "dense",
          activitySparsity: trainZeros / trainEntries,
        });
      } finally {
        setKernels(base);
      }
    }
  }

  const m = opts.matmul ?? 1024;
  if (m > 0) {
    log(`matmul ${m}³...`);
    const mrng = new Rng(seed + 300);
    const a = randn(mrng, m * m);
    const b = randn(mrng, m * m);
    const c = new Float32Array(m * m);
    const k = getKernels();
    k.gemmNN(m, m, m, a, 0, b, 0, c, 0, false);
    const times: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = now();
      k.gemmNN(m, m, m, a, 0, b, 0, c, 0, false);
      times.push(now() - t0);
    }
    const ms = median(times);
    row({ what: `matmul ${m}x${m}x${m}`, ms, samples: times.length, gflops: (2 * m ** 3) / (ms / 1000) / 1e9 });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Command line

interface MainArgs {
  json: boolean;
  stepRounds: number;
  only: Set<string>;
  threads: number[];
  steps: number;
  warmup: number;
  trainSteps: number;
  trainBudgetS: number;
  allowExport: boolean;
  kernels: KernelChoice;
}

const USAGE = `usage: node --conditions=egru-source --import tsx bench/baselines.ts [--json] [--only pytorch,onnx,egru] [--threads 1,2]
       [--steps 200] [--warmup 20] [--train-steps 1] [--train-budget SECONDS] [--kernels auto|wasm|js] [--no-export]
       [--step-rounds 3]`;

function parseArgs(argv: string[]): MainArgs {
  const a: MainArgs = {
    json: false,
    stepRounds: 3,
    only: new Set(["pytorch", "onnx", "egru"]),
    threads: [1, 2],
    steps: 200,
    warmup: 20,
    trainSteps: 1,
    trainBudgetS: 30,
    allowExport: true,
    kernels: "auto",
  };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag}: expected an integer ≥ ${min}, got ${v}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === "--json") a.json = true;
    else if (f === "--no-export") a.allowExport = false;
    else if (f === "--only") {
      a.only = new Set((argv[++i] ?? "").split(",").filter(Boolean));
      for (const p of a.only)
        if (!["pytorch", "onnx", "egru"].includes(p)) throw new Error(`--only: unknown part ${p}\n${USAGE}`);
    } else if (f === "--threads") a.threads = (argv[++i] ?? "").split(",").map((t) => int("--threads", t, 1));
    else if (f === "--steps") a.steps = int(f, argv[++i], 1);
    else if (f === "--step-rounds") a.stepRounds = int(f, argv[++i], 0);
    else if (f === "--warmup") a.warmup = int(f, argv[++i], 0);
    else if (f === "--train-steps") a.trainSteps = int(f, argv[++i], 1);
    else if (f === "--train-budget") a.trainBudgetS = int(f, argv[++i], 1);
    else if (f === "--kernels") {
      const k = argv[++i];
      if (k !== "auto" && k !== "wasm" && k !== "js")
        throw new Error(`--kernels: expected auto, wasm or js, got ${k}\n${USAGE}`);
      a.kernels = k;
    } else if (f === "--help" || f === "-h") {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${f}\n${USAGE}`);
  }
  return a;
}

/** The child processes' parts: each tool's rows, or only the language-model stack's step rows (the rounds). */
type Part = "onnx" | "egru" | "onnx-steps" | "egru-steps";

/**
 * Run one part of the bench in a child process of its own, so that one tool's threads, heap and
 * native allocations cannot slow another's (onnxruntime's and egru's rows share a process
 * otherwise; egru's steps then ran ~40% slower). Returns its rows and cross-check results.
 */
async function runPart(part: Part, argv: string[]): Promise<{ rows: BaselineRow[]; checks: CrossCheckResult[] }> {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), ...argv, "--part", part];
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", reject);
    child.on("close", (c) => resolve({ code: c, stdout: out }));
  });
  const rows: BaselineRow[] = [];
  const checks: CrossCheckResult[] = [];
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const v = JSON.parse(line) as { check?: CrossCheckResult };
    if (v.check) checks.push(v.check);
    else rows.push(checkRow(v));
  }
  if (code !== 0 && code !== 1) skip(`${part} part failed (exit ${code})`);
  return { rows, checks };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const partAt = argv.indexOf("--part");
  const part = partAt >= 0 ? argv[partAt + 1] : null;
  const a = parseArgs(partAt >= 0 ? [...argv.slice(0, partAt), ...argv.slice(partAt + 2)] : argv);

  if (part === "onnx-steps") {
    const rows = await onnxRows({
      allowExport: false,
      models: ["gru-lm"],
      threads: a.threads,
      steps: a.steps,
      warmup: a.warmup,
    });
    for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  if (part === "onnx") {
    // child: JSON lines on stdout
    const mo: ModelOptions = { allowExport: a.allowExport };
    const cc = await onnxCrossCheck(mo);
    for (const c of cc ?? []) {
      process.stderr.write(`${crossCheckLine(c)}\n`);
      process.stdout.write(`${JSON.stringify({ check: c })}\n`);
    }
    for (const r of await onnxRows({ ...mo, threads: a.threads, steps: a.steps, warmup: a.warmup })) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    }
    if (cc?.some((c) => !c.ok)) process.exitCode = 1;
    return;
  }
  if (part === "egru" || part === "egru-steps") {
    const stepsOnly = part === "egru-steps";
    const k = await loadBestKernels(a.kernels);
    for (const threads of a.threads) {
      // more threads: the worker pool over the WebAssembly memory (one thread where there is none)
      const kt = threads > 1 && k.name === "wasm-simd" ? createThreadedKernels(k as WasmKernels, threads) : null;
      if (threads > 1 && !kt) {
        process.stderr.write(`egru: ${threads} threads skipped: the kernels ${k.name} have no worker pool\n`);
        continue;
      }
      setKernels(kt ?? k);
      process.stderr.write(`egru: kernels ${(kt ?? k).name}, ${kt ? threads : 1} thread(s)\n`);
      try {
        const rows = await egruDenseGruRows({
          steps: a.steps,
          warmup: a.warmup,
          trainSteps: a.trainSteps,
          trainBudgetMs: 1000 * a.trainBudgetS,
          threads: kt ? threads : 1,
          stepApi: threads === 1 && !stepsOnly,
          single: threads === 1 ? 1024 : 0, // (with the GRU rows: none in the step rounds)
          matmul: stepsOnly ? 0 : 1024,
          gru: !stepsOnly,
          train: !stepsOnly,
          progress: !stepsOnly,
        });
        for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
      } finally {
        await kt?.close();
      }
    }
    return;
  }
  if (part !== null) throw new Error(`--part: unknown part ${part}`);

  const rows: BaselineRow[] = [];
  const checks: CrossCheckResult[] = [];
  const emit = (rs: BaselineRow[]): void => {
    rows.push(...rs);
    if (a.json) for (const r of rs) process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  const timed = async (name: string, f: () => Promise<void>): Promise<void> => {
    process.stderr.write(`== ${name}\n`);
    const t0 = now();
    await f();
    process.stderr.write(`== ${name}: ${((now() - t0) / 1000).toFixed(0)} s\n`);
  };
  if (a.only.has("pytorch")) {
    await timed("PyTorch", async () =>
      emit(await pytorchRows({ threads: a.threads, steps: a.steps, warmup: a.warmup })),
    );
  }
  if (a.only.has("onnx")) {
    await timed("onnxruntime-node", async () => {
      const r = await runPart("onnx", argv);
      checks.push(...r.checks);
      emit(r.rows);
    });
  }
  if (a.only.has("egru")) {
    await timed(`egru (--kernels ${a.kernels})`, async () => emit((await runPart("egru", argv)).rows));
  }
  // the language-model stack's step in rounds alternating the two tools' processes
  const rounds: BaselineRow[][] = [];
  if (a.stepRounds > 0 && a.only.has("onnx") && a.only.has("egru")) {
    await timed(`LM stack step, ${a.stepRounds} rounds alternating onnxruntime-node and egru`, async () => {
      for (let r = 0; r < a.stepRounds; r++) {
        const order: Part[] = r % 2 ? ["egru-steps", "onnx-steps"] : ["onnx-steps", "egru-steps"];
        const got: BaselineRow[] = [];
        for (const p of order) got.push(...(await runPart(p, argv)).rows);
        rounds.push(got);
      }
    });
  }
  const stepRounds = stepRatios(rounds, { ort: stepWhat(LM_SIZES), egru: stepWhat(LM_SIZES, "EGRU") }, a.threads);
  if (a.json && rounds.length) process.stdout.write(`${JSON.stringify({ stepRounds })}\n`);
  // (the onnx part has already printed the cross-check to stderr)
  if (!a.json) {
    process.stdout.write(`${rowsTable(rows)}\n`);
    const ratios = int8Ratios(rows);
    if (ratios.length)
      process.stdout.write(`\nint8 weights against float32 (streaming steppers):\n${ratios.join("\n")}\n`);
    if (rounds.length)
      process.stdout.write(
        `\nEGRU stack step B=1 in rounds alternating onnxruntime-node's and egru's processes (bench/step-rounds.ts):\n${stepRatioLines(stepRounds).join("\n")}\n`,
      );
    if (checks.length) process.stdout.write(`\n${checks.map(crossCheckLine).join("\n")}\n`);
  }
  if (checks.some((c) => !c.ok)) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  });
}
