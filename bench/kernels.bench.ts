// Kernel benchmark: the WebAssembly SIMD kernels against the TypeScript ones, and the event
// kernels against the dense products they replace.
//
//   node --conditions=egru-source --import tsx bench/kernels.bench.ts [--json] [--min-ms 150]
//
// First every wasm kernel is validated against jsKernels at odd sizes (the run stops on a
// mismatch). Then, single-threaded, each timing the median of the samples after warm-up (a sample
// repeats the call until it lasts ≥ 1 ms; samples continue until ≥ 5 and ≥ --min-ms):
//  1. gemmNN/NT/TN at 1024³ with operands resident in wasm memory (and gemmNN once with plain
//     arrays, which are copied in and out), in GFLOP/s; the TypeScript kernels at 256³ only (at
//     1024³ one product takes seconds), which the `note` column says.
//  2. the sweep: activity {1, 5, 10, 20, 50, 100} % × H {256, 1024, 2048} × B {1, 64}, with the
//     recurrent shapes of a GRU layer (N = 3H): the event product q = y·R (eventGemmNN, y [B,H]
//     with that fraction nonzero) against the dense gemmNN of the same shape; the event weight
//     gradient dR += yᵀ·dq (eventGemmTN) against gemmTN; the masked adjoint mask ⊙ (dq·Rᵀ)
//     (maskedGemmNT, mask with that fraction set) against gemmNT. Each row gives both times, the
//     dense-equivalent GFLOP/s of the event kernel (2·B·H·N / its time) and the speedup. The
//     event kernels cycle through PATTERNS different y, as a layer sees a new y every step.
// Last, per (kernel, H, B), the activity at which the event kernel stops beating the dense one
// (linear interpolation between sweep points), which sets Kernels.eventCrossover.
// The default run takes about a minute. `--json` prints one JSON object per row instead of tables.
// kernelBenchRows() gives the rows to other scripts.

import { pathToFileURL } from "node:url";
import { Rng } from "../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../packages/egru/src/kernels/backend.js";
import { loadWasmKernels, type WasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";

export const ACTIVITIES = [0.01, 0.05, 0.1, 0.2, 0.5, 1] as const;
export const HIDDEN_SIZES = [256, 1024, 2048] as const;
export const BATCHES = [1, 64] as const;

/** A dense product timing (part 1). */
export interface GemmRow {
  part: "gemm";
  kernel: "gemmNN" | "gemmNT" | "gemmTN";
  kernels: string;
  M: number;
  N: number;
  K: number;
  /** "views" (operands in wasm memory) or "copied" (plain arrays staged per call). */
  operands: string;
  ms: number;
  gflops: number;
  note?: string;
}

/** An event kernel against its dense product at one sweep point (part 2). */
export interface SweepRow {
  part: "sweep";
  kernel: "eventGemmNN" | "eventGemmTN" | "maskedGemmNT";
  dense: "gemmNN" | "gemmTN" | "gemmNT";
  B: number;
  H: number;
  N: number;
  /** Fraction of nonzero y (event kernels) or of set mask entries (masked). */
  activity: number;
  eventMs: number;
  denseMs: number;
  /** 2·B·H·N / eventMs. */
  eventGflopsDenseEq: number;
  denseGflops: number;
  /** denseMs / eventMs. */
  speedup: number;
  /** MACs the event kernel reports, averaged over the event patterns. */
  macs: number;
}

/** Activity below which the event kernel wins, per (kernel, H, B); 1 if it always wins. */
export interface CrossoverRow {
  part: "crossover";
  kernel: SweepRow["kernel"];
  B: number;
  H: number;
  crossover: number;
}

export type KernelBenchRow = GemmRow | SweepRow | CrossoverRow;

export interface KernelBenchOptions {
  /** Least total time per measurement in ms (default 150). */
  minMs?: number;
  /** Override the sweep axes (defaults above). */
  activities?: readonly number[];
  hiddenSizes?: readonly number[];
  batches?: readonly number[];
  /** Skip part 1 or part 2. */
  gemm?: boolean;
  sweep?: boolean;
  /** Called with each row as it is measured. */
  onRow?: (row: KernelBenchRow) => void;
}

/** Median ms of one call of fn, over samples of ≥ 1 ms after two warm-up calls. */
export function timeMs(fn: () => void, minMs = 150): number {
  fn();
  fn();
  const t0 = performance.now();
  fn();
  const once = Math.max(performance.now() - t0, 1e-3);
  const inner = Math.max(1, Math.ceil(1 / once));
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < 5 || (performance.now() - start < minMs && samples.length < 200)) {
    const s = performance.now();
    for (let i = 0; i < inner; i++) fn();
    samples.push((performance.now() - s) / inner);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

function fillNormal(a: Float32Array, rng: Rng): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  return a;
}

/** Events: a fraction `p` of entries nonzero (positive, as EGRU outputs are), the rest exactly 0. */
function fillEvents(a: Float32Array, rng: Rng, p: number, value: () => number): Float32Array {
  for (let i = 0; i < a.length; i++) a[i] = rng.uniform() < p ? value() : 0;
  return a;
}

const gflops = (flop: number, ms: number): number => flop / ms / 1e6;

/** Throw unless every wasm kernel agrees with jsKernels (MACs exactly, values to 1e-3 relative). */
export function validate(k: Kernels): void {
  const rng = new Rng(7);
  const M = 67,
    N = 131,
    K = 259;
  const mk = (n: number) => fillNormal(new Float32Array(n), rng);
  const A = mk(M * K),
    B = mk(K * N),
    Bt = mk(N * K),
    At = mk(K * M),
    dq = mk(M * N);
  const y = fillEvents(new Float32Array(M * K), rng, 0.2, () => rng.normal());
  const check = (what: string, run: (kk: Kernels, out: Float32Array) => number | void, n: number): void => {
    const a = new Float32Array(n).fill(0.5),
      b = new Float32Array(n).fill(0.5);
    const ma = run(k, a),
      mb = run(jsKernels, b);
    if (ma !== mb) throw new Error(`validation: ${what} MACs ${ma} != ${mb}`);
    let scale = 1;
    for (let i = 0; i < n; i++) scale = Math.max(scale, Math.abs(b[i]));
    for (let i = 0; i < n; i++) {
      if (!(Math.abs(a[i] - b[i]) <= 1e-3 * scale))
        throw new Error(`validation: ${what}[${i}] = ${a[i]}, jsKernels ${b[i]}`);
    }
  };
  check("gemmNN", (kk, c) => kk.gemmNN(M, N, K, A, 0, B, 0, c, 0, true), M * N);
  check("gemmNT", (kk, c) => kk.gemmNT(M, N, K, A, 0, Bt, 0, c, 0, false), M * N);
  check("gemmTN", (kk, c) => kk.gemmTN(M, N, K, At, 0, B, 0, c, 0, true), M * N);
  check("eventGemmNN", (kk, q) => kk.eventGemmNN(M, N, K, y, 0, B, 0, q, 0, true), M * N);
  check("eventGemmTN", (kk, dR) => kk.eventGemmTN(K, N, M, y, 0, dq, 0, dR, 0), K * N);
  check("maskedGemmNT", (kk, out) => kk.maskedGemmNT(M, K, N, dq, 0, Bt, 0, y, 0, out, 0), M * K);
}

function gemmRows(k: WasmKernels, minMs: number): GemmRow[] {
  const rows: GemmRow[] = [];
  const rng = new Rng(1);
  const n = 1024;
  const A = fillNormal(k.alloc(n * n), rng),
    B = fillNormal(k.alloc(n * n), rng),
    C = k.alloc(n * n);
  for (const kernel of ["gemmNN", "gemmNT", "gemmTN"] as const) {
    const ms = timeMs(() => k[kernel](n, n, n, A, 0, B, 0, C, 0, false), minMs);
    rows.push({
      part: "gemm",
      kernel,
      kernels: k.name,
      M: n,
      N: n,
      K: n,
      operands: "views",
      ms,
      gflops: gflops(2 * n ** 3, ms),
    });
  }
  const [a, b, c] = [A.slice(), B.slice(), C.slice()];
  const ms = timeMs(() => k.gemmNN(n, n, n, a, 0, b, 0, c, 0, false), minMs);
  rows.push({
    part: "gemm",
    kernel: "gemmNN",
    kernels: k.name,
    M: n,
    N: n,
    K: n,
    operands: "copied",
    ms,
    gflops: gflops(2 * n ** 3, ms),
  });
  [A, B, C].forEach((x) => k.free(x));
  const s = 256;
  const [ja, jb, jc] = [a, b, c].map((x) => x.slice(0, s * s));
  for (const kernel of ["gemmNN", "gemmNT", "gemmTN"] as const) {
    const ms = timeMs(() => jsKernels[kernel](s, s, s, ja, 0, jb, 0, jc, 0, false), minMs);
    rows.push({
      part: "gemm",
      kernel,
      kernels: jsKernels.name,
      M: s,
      N: s,
      K: s,
      operands: "plain",
      ms,
      gflops: gflops(2 * s ** 3, ms),
      note: "TypeScript kernels at 256³ (1024³ takes seconds)",
    });
  }
  return rows;
}

/**
 * Event patterns per sweep point: the event kernels cycle through this many different y (and
 * masks), as a recurrent layer sees a new y each step, so the rows a pattern selects are not
 * left in the cache by the previous call (which would flatter the event kernels at low activity).
 */
export const PATTERNS = 16;

/** Sweep rows for one (H, B): all activities, the three event kernels. */
function sweepRows(k: WasmKernels, H: number, B: number, activities: readonly number[], minMs: number): SweepRow[] {
  const N = 3 * H;
  const rng = new Rng(H * 1000 + B);
  const R = fillNormal(k.alloc(H * N), rng);
  const dR = k.alloc(H * N);
  const dq = fillNormal(k.alloc(B * N), rng);
  const q = k.alloc(B * N);
  const out = k.alloc(B * H);
  const ys = Array.from({ length: PATTERNS }, () => k.alloc(B * H));
  const masks = Array.from({ length: PATTERNS }, () => k.alloc(B * H));
  const flop = 2 * B * H * N;
  const y = fillEvents(ys[0], rng, 1, () => 0.5 + rng.uniform());
  const dense = {
    gemmNN: timeMs(() => k.gemmNN(B, N, H, y, 0, R, 0, q, 0, false), minMs),
    gemmTN: timeMs(() => k.gemmTN(H, N, B, y, 0, dq, 0, dR, 0, true), minMs),
    gemmNT: timeMs(() => k.gemmNT(B, H, N, dq, 0, R, 0, out, 0, false), minMs),
  };
  const rows: SweepRow[] = [];
  for (const activity of activities) {
    ys.forEach((yp, i) => {
      fillEvents(yp, rng, activity, () => 0.5 + rng.uniform());
      masks[i].set(yp.map((v) => (v === 0 ? 0 : 1)));
    });
    let step = 0;
    const next = (): number => (step = (step + 1) % PATTERNS);
    const kernels = [
      {
        kernel: "eventGemmNN",
        dense: "gemmNN",
        run: (i: number) => k.eventGemmNN(B, N, H, ys[i], 0, R, 0, q, 0, false),
      },
      { kernel: "eventGemmTN", dense: "gemmTN", run: (i: number) => k.eventGemmTN(H, N, B, ys[i], 0, dq, 0, dR, 0) },
      {
        kernel: "maskedGemmNT",
        dense: "gemmNT",
        run: (i: number) => k.maskedGemmNT(B, H, N, dq, 0, R, 0, masks[i], 0, out, 0),
      },
    ] as const;
    for (const e of kernels) {
      let macs = 0;
      for (let i = 0; i < PATTERNS; i++) macs += e.run(i);
      const eventMs = timeMs(() => void e.run(next()), minMs);
      const denseMs = dense[e.dense];
      rows.push({
        part: "sweep",
        kernel: e.kernel,
        dense: e.dense,
        B,
        H,
        N,
        activity,
        eventMs,
        denseMs,
        eventGflopsDenseEq: gflops(flop, eventMs),
        denseGflops: gflops(flop, denseMs),
        speedup: denseMs / eventMs,
        macs: macs / PATTERNS,
      });
    }
  }
  [R, dR, dq, q, out, ...ys, ...masks].forEach((x) => k.free(x));
  return rows;
}

/** Where speedup crosses 1 along increasing activity, per (kernel, H, B). */
export function crossovers(rows: SweepRow[]): CrossoverRow[] {
  const groups = new Map<string, SweepRow[]>();
  for (const r of rows) {
    const key = `${r.kernel}/${r.H}/${r.B}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    g.sort((a, b) => a.activity - b.activity);
    let crossover = 1;
    for (let i = 0; i < g.length; i++) {
      if (g[i].speedup >= 1) continue;
      if (i === 0) crossover = 0;
      else {
        const [a, b] = [g[i - 1], g[i]];
        crossover = a.activity + ((a.speedup - 1) / (a.speedup - b.speedup)) * (b.activity - a.activity);
      }
      break;
    }
    return { part: "crossover", kernel: g[0].kernel, B: g[0].B, H: g[0].H, crossover } as CrossoverRow;
  });
}

/** Validate, then measure; resolves to every row (also passed to onRow as measured). */
export async function kernelBenchRows(opts: KernelBenchOptions = {}): Promise<KernelBenchRow[]> {
  const k = await loadWasmKernels({ maximumPages: 32768 });
  if (!k) throw new Error("WebAssembly SIMD is not available here");
  validate(k);
  const minMs = opts.minMs ?? 150;
  const rows: KernelBenchRow[] = [];
  const emit = (r: KernelBenchRow): void => {
    rows.push(r);
    opts.onRow?.(r);
  };
  if (opts.gemm ?? true) gemmRows(k, minMs).forEach(emit);
  if (opts.sweep ?? true) {
    const sweep: SweepRow[] = [];
    for (const H of opts.hiddenSizes ?? HIDDEN_SIZES) {
      for (const B of opts.batches ?? BATCHES) {
        for (const r of sweepRows(k, H, B, opts.activities ?? ACTIVITIES, minMs)) {
          sweep.push(r);
          emit(r);
        }
      }
    }
    crossovers(sweep).forEach(emit);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Command line

function table(head: string[], body: (string | number)[][]): string {
  const cells = [head, ...body.map((r) => r.map(String))];
  const width = head.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padStart(width[i])).join("  ");
  return [line(head), width.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}

function print(rows: KernelBenchRow[]): void {
  const gemm = rows.filter((r): r is GemmRow => r.part === "gemm");
  console.log("Dense products, single thread\n");
  console.log(
    table(
      ["kernel", "kernels", "M×N×K", "operands", "ms", "GFLOP/s", "note"],
      gemm.map((r) => [
        r.kernel,
        r.kernels,
        `${r.M}×${r.N}×${r.K}`,
        r.operands,
        r.ms.toFixed(2),
        r.gflops.toFixed(1),
        r.note ?? "",
      ]),
    ),
  );
  const sweep = rows.filter((r): r is SweepRow => r.part === "sweep");
  for (const kernel of ["eventGemmNN", "eventGemmTN", "maskedGemmNT"] as const) {
    const s = sweep.filter((r) => r.kernel === kernel);
    if (!s.length) continue;
    console.log(`\n${kernel} against ${s[0].dense} (wasm, N = 3H; GFLOP/s dense-equivalent = 2·B·H·N / time)\n`);
    console.log(
      table(
        ["H", "B", "activity", "event ms", "dense ms", "event GF/s", "dense GF/s", "speedup"],
        s.map((r) => [
          r.H,
          r.B,
          `${(r.activity * 100).toFixed(0)}%`,
          r.eventMs.toFixed(3),
          r.denseMs.toFixed(3),
          r.eventGflopsDenseEq.toFixed(1),
          r.denseGflops.toFixed(1),
          `${r.speedup.toFixed(2)}×`,
        ]),
      ),
    );
  }
  const cross = rows.filter((r): r is CrossoverRow => r.part === "crossover");
  if (cross.length) {
    console.log("\nActivity below which the event kernel is faster\n");
    console.log(
      table(
        ["kernel", "H", "B", "crossover"],
        cross.map((r) => [r.kernel, r.H, r.B, `${(r.crossover * 100).toFixed(0)}%`]),
      ),
    );
  }
}

async function main(argv: string[]): Promise<void> {
  const json = argv.includes("--json");
  const i = argv.indexOf("--min-ms");
  const minMs = i >= 0 ? Number(argv[i + 1]) : 150;
  if (!(minMs > 0)) throw new Error(`--min-ms: expected a positive number, got ${argv[i + 1]}`);
  const rows = await kernelBenchRows({ minMs, onRow: json ? (r) => console.log(JSON.stringify(r)) : undefined });
  if (!json) print(rows);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
