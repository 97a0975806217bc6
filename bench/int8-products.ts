// The int8 products against the float32 ones at the language-model stack's shapes, one thread, in
// the build loadWasmKernels() picks: the event gather q[N] = y[K]·W (K = 1350, N = 3·1350, y with a
// fraction of nonzeros) and the dense one-row product of the first layer (K = 750 dense inputs), each
// float32 (eventGemmNN / gemmNN) against int8 (gemmNNi8, scales per output unit).
//
//   node --conditions=egru-source --import tsx bench/int8-products.ts [--rounds 7] [--min-ms 100] [--matrices 8]
//
// Every call takes the next of --matrices copies of the weights (8 × 21.9 MB float32: more than any
// cache, as a stack's layers are) and the next of 16 inputs; the two kernels alternate by round, and
// the ratio is the median of the per-round ratios float32 / int8.

import { Rng } from "../packages/egru/src/core/rng.js";
import { type Int8Matrix, quantizeMatrix } from "../packages/egru/src/kernels/int8.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { timeMs } from "./kernels.bench.js";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!(v > 0)) throw new Error(`--${name}: expected a positive number`);
  return v;
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rounds = arg("rounds", 7);
const minMs = arg("min-ms", 100);
const copies = arg("matrices", 8);
const k = await loadWasmKernels({ maximumPages: 65536 });
if (!k) throw new Error("WebAssembly SIMD is not available here");

interface Case {
  what: string;
  K: number;
  N: number;
  activity: number;
}
const CASES: Case[] = [
  { what: "event gather, 17 % of inputs (a 1350-unit layer at 83 % sparsity)", K: 1350, N: 4050, activity: 0.17 },
  { what: "event gather, 10 % of inputs", K: 1350, N: 4050, activity: 0.1 },
  { what: "dense inputs (the first layer's embedding, 750)", K: 750, N: 4050, activity: 1 },
];

const rng = new Rng(5);
const rows: string[] = [];
for (const c of CASES) {
  const { K, N } = c;
  const f32: Float32Array[] = [];
  const i8: Int8Matrix[] = [];
  for (let m = 0; m < copies; m++) {
    const w = k.alloc(K * N);
    for (let i = 0; i < w.length; i++) w[i] = rng.normal();
    const q = quantizeMatrix(w, K, N, "output");
    const values = k.allocInt8(K * N);
    values.set(q.values);
    const scales = k.alloc(N);
    scales.set(q.scales);
    f32.push(w);
    i8.push({ ...q, values, scales });
  }
  const ys = Array.from({ length: 16 }, () => {
    const y = k.alloc(K);
    for (let j = 0; j < K; j++) if (c.activity >= 1 || rng.uniform() < c.activity) y[j] = 0.5 + rng.uniform();
    return y;
  });
  const out = k.alloc(N);
  let i = 0;
  const next = (): [Float32Array, number] => {
    i++;
    return [ys[i % 16], i % copies];
  };
  const dense = c.activity >= 1;
  const runF32 = (): void => {
    const [y, m] = next();
    if (dense) k.gemmNN(1, N, K, y, 0, f32[m], 0, out, 0, false);
    else k.eventGemmNN(1, N, K, y, 0, f32[m], 0, out, 0, false);
  };
  const runI8 = (): void => {
    const [y, m] = next();
    k.gemmNNi8(1, N, K, y, 0, i8[m], out, 0, false);
  };
  const tf: number[] = [];
  const ti: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [a, b] =
      r % 2 ? [timeMs(runI8, minMs), timeMs(runF32, minMs)].reverse() : [timeMs(runF32, minMs), timeMs(runI8, minMs)];
    tf.push(a);
    ti.push(b);
    ratios.push(a / b);
  }
  const us = (ms: number): string => `${(1000 * ms).toFixed(1)} µs`;
  rows.push(
    `| ${c.what}, ${K} → ${N} | ${us(median(tf))} | ${us(median(ti))} | ${median(ratios).toFixed(2)}× ` +
      `(${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×) |`,
  );
  for (const w of f32) k.free(w);
  for (const q of i8) {
    k.free(q.values);
    k.free(q.scales as Float32Array);
  }
}
console.log(
  [
    `Node ${process.version}, ${k.wasm.relaxed ? "relaxed-SIMD" : "SIMD"} build, one thread, ${copies} copies of each matrix, ${rounds} rounds`,
    "",
    "| product | float32 | int8 | float32 / int8 (rounds) |",
    "|---|---:|---:|---:|",
    ...rows,
  ].join("\n"),
);
