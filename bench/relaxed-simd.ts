// Relaxed SIMD against SIMD: the two builds of the WebAssembly kernels (assembly/common.ts madd:
// f32x4.relaxed_madd, fused where the host has FMA, against a multiply then an add) side by side in
// one process, one thread each, on the products they differ in, and the event matvec against the
// dense one (the kernels issue's ≥ 10× target) in both builds.
//
//   <node ≥ 22> --conditions=egru-source --import tsx bench/relaxed-simd.ts [--rounds 9] [--min-ms 40] [--only name,…] [--json]
//
// Needs a host with relaxed SIMD (Node ≥ 22; Node 20 with --experimental-wasm-relaxed-simd). Each
// case is first run once in both builds and the results compared (relative difference over the
// output's largest magnitude, printed as `max rel diff`); then, for --rounds rounds, each build is
// timed in turn (the order alternating by round; a timing is the median of samples of ≥ 1 ms over at
// least --min-ms), and the table gives each build's median over the rounds and the median of the
// per-round ratios SIMD / relaxed (> 1: relaxed faster). Event products cycle through PATTERNS
// different y, as a layer sees a new y each step. The default run takes about four minutes.

import { Rng } from "../packages/egru/src/core/rng.js";
import { quantizeMatrix } from "../packages/egru/src/kernels/int8.js";
import { EGRU } from "../packages/egru/src/layers/egru.js";
import { GRU } from "../packages/egru/src/layers/gru.js";
import { loadWasmKernels, relaxedSimdSupported, type WasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { PATTERNS, timeMs } from "./kernels.bench.js";

/** A benchmark case: set up in one build, returns its call and the output array to compare. */
interface Case {
  name: string;
  /** Multiply-accumulates of one call (dense-equivalent for event products), for GFLOP/s. */
  macs: number;
  setup(k: WasmKernels): { run: () => void; out: () => Float32Array; dispose: () => void };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function normal(k: WasmKernels, n: number, rng: Rng): Float32Array {
  const a = k.alloc(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

/** PATTERNS arrays [n] with a fraction p nonzero (positive, as EGRU outputs are). */
function events(k: WasmKernels, n: number, p: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: PATTERNS }, () => {
    const y = k.alloc(n);
    for (let i = 0; i < n; i++) y[i] = rng.uniform() < p ? 0.5 + rng.uniform() : 0;
    return y;
  });
}

const free = (k: WasmKernels, ...xs: Float32Array[]): void => xs.forEach((x) => k.free(x));

function gemm(kernel: "gemmNN" | "gemmNT" | "gemmTN", M: number, N: number, K: number): Case {
  return {
    name: `${kernel} ${M}×${N}×${K}`,
    macs: M * N * K,
    setup(k) {
      const rng = new Rng(M + N + K);
      const a = normal(k, M * K, rng),
        b = normal(k, K * N, rng),
        c = k.alloc(M * N);
      const run = (): void => k[kernel](M, N, K, a, 0, b, 0, c, 0, false);
      return { run, out: () => (run(), c), dispose: () => free(k, a, b, c) };
    },
  };
}

/** q[B, 3H] = y[B, H]·R[H, 3H], y with a fraction p of events (eventGemmNN). */
function eventNN(H: number, B: number, p: number): Case {
  const N = 3 * H;
  return {
    name: `eventGemmNN B=${B} H=${H} ${Math.round(100 * p)} %`,
    macs: B * H * N,
    setup(k) {
      const R = normal(k, H * N, new Rng(H)),
        q = k.alloc(B * N);
      const ys = events(k, B * H, p, H + B);
      let i = 0;
      return {
        run: () => k.eventGemmNN(B, N, H, ys[(i = (i + 1) % PATTERNS)], 0, R, 0, q, 0, false),
        out: () => (k.eventGemmNN(B, N, H, ys[0], 0, R, 0, q, 0, false), q),
        dispose: () => free(k, R, q, ...ys),
      };
    },
  };
}

/** dR[H, 3H] += y[B, H]ᵀ·dq[B, 3H] (eventGemmTN). */
function eventTN(H: number, B: number, p: number): Case {
  const N = 3 * H;
  return {
    name: `eventGemmTN B=${B} H=${H} ${Math.round(100 * p)} %`,
    macs: B * H * N,
    setup(k) {
      const rng = new Rng(H + 1);
      const dq = normal(k, B * N, rng),
        dR = k.alloc(H * N);
      const ys = events(k, B * H, p, H + B + 1);
      let i = 0;
      return {
        run: () => k.eventGemmTN(H, N, B, ys[(i = (i + 1) % PATTERNS)], 0, dq, 0, dR, 0),
        out: () => (dR.fill(0), k.eventGemmTN(H, N, B, ys[0], 0, dq, 0, dR, 0), dR),
        dispose: () => free(k, dq, dR, ...ys),
      };
    },
  };
}

/** out[B, H] = mask ⊙ dq[B, 3H]·R[H, 3H]ᵀ (maskedGemmNT). */
function masked(H: number, B: number, p: number): Case {
  const N = 3 * H;
  return {
    name: `maskedGemmNT B=${B} H=${H} ${Math.round(100 * p)} %`,
    macs: B * H * N,
    setup(k) {
      const rng = new Rng(H + 2);
      const R = normal(k, H * N, rng),
        dq = normal(k, B * N, rng),
        out = k.alloc(B * H);
      const masks = events(k, B * H, p, H + B + 2);
      let i = 0;
      return {
        run: () => k.maskedGemmNT(B, H, N, dq, 0, R, 0, masks[(i = (i + 1) % PATTERNS)], 0, out, 0),
        out: () => (k.maskedGemmNT(B, H, N, dq, 0, R, 0, masks[0], 0, out, 0), out),
        dispose: () => free(k, R, dq, out, ...masks),
      };
    },
  };
}

/** q[M, N] = x[M, K]·W, W int8 [K, N] with per-output scales (gemmNNi8), x with a fraction p nonzero. */
function int8(M: number, K: number, N: number, p: number): Case {
  return {
    name: `gemmNNi8 ${M}×${N}×${K} ${Math.round(100 * p)} %`,
    macs: M * N * K,
    setup(k) {
      const rng = new Rng(K + N);
      const w = new Float32Array(K * N);
      for (let i = 0; i < w.length; i++) w[i] = rng.normal();
      const W = quantizeMatrix(w, K, N, "output");
      const values = k.allocInt8(K * N);
      values.set(W.values);
      const Wk = { ...W, values };
      const xs = events(k, M * K, p, K + M);
      for (const x of xs) for (let i = 0; i < x.length; i++) if (x[i] !== 0 && rng.uniform() < 0.5) x[i] = -x[i];
      const q = k.alloc(M * N);
      let i = 0;
      return {
        run: () => k.gemmNNi8(M, N, K, xs[(i = (i + 1) % PATTERNS)], 0, Wk, q, 0, false),
        out: () => (k.gemmNNi8(M, N, K, xs[0], 0, Wk, q, 0, false), q),
        dispose: () => {
          k.free(values);
          free(k, q, ...xs);
        },
      };
    },
  };
}

/** LM-size stacks (750 → 1350 → 1350 → 750), one token per step at B = 1, with their steppers. */
function stack(cell: "GRU" | "EGRU", quantized: boolean): Case {
  const sizes = [750, 1350, 1350, 750];
  let macs = 0;
  for (let l = 0; l + 1 < sizes.length; l++) macs += 3 * sizes[l + 1] * (sizes[l] + sizes[l + 1]);
  return {
    name: `${cell} stack stepper ${sizes.join("→")}${quantized ? " int8" : ""}`,
    macs,
    setup(k) {
      const layers = sizes.slice(0, -1).map((I, l) => {
        const opts = { inputSize: I, hiddenSize: sizes[l + 1], seed: l, kernels: k };
        const layer = cell === "GRU" ? new GRU(opts) : new EGRU({ ...opts, inputEvents: l > 0 });
        layer.eval();
        if (quantized) layer.quantize();
        return layer;
      });
      const steppers = layers.map((l) => l.stepper(1));
      const rng = new Rng(5);
      const tokens = Array.from({ length: PATTERNS }, () =>
        Float32Array.from({ length: sizes[0] }, () => rng.normal()),
      );
      let i = 0;
      let last: Float32Array = new Float32Array(0);
      const step = (x: Float32Array): void => {
        let v = x;
        for (const s of steppers) v = s.step(v);
        last = v;
      };
      return {
        run: () => step(tokens[(i = (i + 1) % PATTERNS)]),
        out: () => {
          // the first token from a fresh state in both builds
          for (const s of steppers) s.reset();
          step(tokens[0]);
          return Float32Array.from(last);
        },
        dispose: () => steppers.forEach((s) => s.dispose()),
      };
    },
  };
}

const CASES: Case[] = [
  gemm("gemmNN", 1024, 1024, 1024),
  gemm("gemmNT", 1024, 1024, 1024),
  gemm("gemmTN", 1024, 1024, 1024),
  gemm("gemmNN", 64, 3072, 1024),
  gemm("gemmNN", 1, 3072, 1024),
  gemm("gemmNT", 1, 1024, 3072),
  eventNN(1024, 1, 0.1),
  eventNN(1024, 64, 0.1),
  eventTN(1024, 64, 0.1),
  masked(1024, 64, 0.1),
  int8(1, 1024, 3072, 1),
  int8(1, 1024, 3072, 0.1),
  int8(64, 1024, 3072, 1),
  stack("GRU", false),
  stack("EGRU", false),
  stack("GRU", true),
];

interface Result {
  name: string;
  simdMs: number;
  relaxedMs: number;
  /** Median of the per-round ratios simd / relaxed. */
  ratio: number;
  gflopsSimd: number;
  gflopsRelaxed: number;
  maxRelDiff: number;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return scale > 0 ? d / scale : d;
}

async function main(): Promise<void> {
  if (!relaxedSimdSupported()) {
    process.stderr.write(
      `relaxed-simd: this host (Node ${process.version}) has no WebAssembly relaxed SIMD; run it on Node ≥ 22\n`,
    );
    process.exit(2);
  }
  const rounds = Number(arg("rounds", "9"));
  const minMs = Number(arg("min-ms", "40"));
  const only = arg("only", "");
  const json = process.argv.includes("--json");
  const builds = {
    simd: await loadWasmKernels({ relaxedSimd: false, maximumPages: 32768 }),
    relaxed: await loadWasmKernels({ relaxedSimd: true, maximumPages: 32768 }),
  };
  if (!builds.simd || !builds.relaxed) throw new Error("WebAssembly SIMD is not available here");
  const cases = only ? CASES.filter((c) => only.split(",").some((o) => c.name.includes(o))) : CASES;
  const results: Result[] = [];
  for (const c of cases) {
    const simd = c.setup(builds.simd);
    const relaxed = c.setup(builds.relaxed);
    const diff = maxRelDiff(Float32Array.from(relaxed.out()), Float32Array.from(simd.out()));
    const t: { simd: number[]; relaxed: number[]; ratio: number[] } = { simd: [], relaxed: [], ratio: [] };
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (["simd", "relaxed"] as const) : (["relaxed", "simd"] as const);
      const ms = { simd: 0, relaxed: 0 };
      for (const b of order) ms[b] = timeMs(b === "simd" ? simd.run : relaxed.run, minMs);
      t.simd.push(ms.simd);
      t.relaxed.push(ms.relaxed);
      t.ratio.push(ms.simd / ms.relaxed);
    }
    simd.dispose();
    relaxed.dispose();
    const res: Result = {
      name: c.name,
      simdMs: median(t.simd),
      relaxedMs: median(t.relaxed),
      ratio: median(t.ratio),
      gflopsSimd: (2 * c.macs) / median(t.simd) / 1e6,
      gflopsRelaxed: (2 * c.macs) / median(t.relaxed) / 1e6,
      maxRelDiff: diff,
    };
    results.push(res);
    if (json) process.stdout.write(`${JSON.stringify(res)}\n`);
    else process.stderr.write(`  ${c.name}: ${res.ratio.toFixed(3)}\n`);
  }
  if (json) return;
  const lines = [
    `Node ${process.version}, one thread, ${rounds} rounds (interleaved), min ${minMs} ms per timing`,
    "",
    "| product | SIMD ms | relaxed ms | SIMD / relaxed | GFLOP/s (dense-eq.) SIMD / relaxed | max rel diff |",
    "|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.name} | ${fmt(r.simdMs)} | ${fmt(r.relaxedMs)} | ${r.ratio.toFixed(3)}× | ` +
        `${r.gflopsSimd.toFixed(1)} / ${r.gflopsRelaxed.toFixed(1)} | ${r.maxRelDiff.toExponential(1)} |`,
    ),
  ];
  const ev = results.find((r) => r.name === "eventGemmNN B=1 H=1024 10 %");
  const dense = results.find((r) => r.name === "gemmNN 1×3072×1024");
  if (ev && dense) {
    lines.push(
      "",
      `event matvec at 10 % against the dense one, H = 1024 (N = 3072), B = 1: ` +
        `SIMD ${(dense.simdMs / ev.simdMs).toFixed(2)}×, relaxed ${(dense.relaxedMs / ev.relaxedMs).toFixed(2)}×`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

function fmt(ms: number): string {
  return ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(4);
}

await main();
