// The event and masked products at B > 1 on the paths chosen for many rows, against the per-row
// paths they replace, side by side in one process, one thread:
//  - eventGemmNN q = y·R in one call (by column tiles of R packed in cache, where a chunk has ≥ 4
//    events per row of R) against the same product in calls of 4 rows (whole rows of R, read once
//    per batch row);
//  - maskedGemmNT out = mask ⊙ (dq·Rᵀ) in one call (by column, dq in chunks that stay in cache)
//    against calls of 4 rows (by row: R read once per batch row), and against the dense gemmNT.
// Both paths give the same bits (test/kernels/wasm-kernels.test.ts). Shapes: the language-model
// stack's (H = 1350, N = 3H; the batch of one step, 64 rows, and of a whole sequence, 1,024 rows) and
// the kernel benchmark's H = 1024.
//
//   node --conditions=egru-source --import tsx bench/batch-event-paths.ts [--min-ms 200]
//
// Prints each time (median of timeMs samples, rounds alternating the order) and the ratios.

import { Rng } from "../packages/egru/src/core/rng.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { timeMs } from "./kernels.bench.js";

const i = process.argv.indexOf("--min-ms");
const minMs = i >= 0 ? Number(process.argv[i + 1]) : 200;
if (!(minMs > 0)) throw new Error(`--min-ms: expected a positive number, got ${process.argv[i + 1]}`);

const k = await loadWasmKernels({ maximumPages: 32768 });
if (!k) throw new Error("WebAssembly SIMD is not available here");
const rng = new Rng(3);
/** Fill a with normals where a uniform draw falls below `share`, else 0 (share 1: all). */
const fill = (a: Float32Array, share = 1, value?: number) => {
  for (let j = 0; j < a.length; j++) a[j] = rng.uniform() < share ? (value ?? rng.normal()) : 0;
  return a;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
/** Median over 3 rounds (order alternating) of each variant's timeMs. */
function compare(variants: Record<string, () => void>): Record<string, number> {
  const names = Object.keys(variants);
  const t: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < 3; r++)
    for (const n of r % 2 ? [...names].reverse() : names) t[n].push(timeMs(variants[n], minMs));
  return Object.fromEntries(names.map((n) => [n, median(t[n])]));
}
const ms = (x: number) => `${x.toFixed(3)} ms`;

console.log(
  `batch-event-paths: Node ${process.version}, one thread, ${k.wasm.relaxed ? "relaxed-SIMD" : "SIMD"} build`,
);
console.log("\neventGemmNN, one call against calls of 4 rows");
for (const [B, H, share] of [
  [64, 1350, 0.2],
  [1024, 1350, 0.2],
  [64, 1024, 0.05],
  [64, 1024, 0.1],
  [64, 1024, 0.2],
  [64, 1024, 0.5],
  [16, 1024, 0.2],
]) {
  const N = 3 * H;
  const y = fill(k.alloc(B * H), share);
  const R = fill(k.alloc(H * N));
  const q = k.alloc(B * N);
  const t = compare({
    one: () => void k.eventGemmNN(B, N, H, y, 0, R, 0, q, 0, false),
    rows: () => {
      for (let b0 = 0; b0 < B; b0 += 4) k.eventGemmNN(Math.min(4, B - b0), N, H, y, b0 * H, R, 0, q, b0 * N, false);
    },
  });
  console.log(
    `  B ${B}, H ${H}, ${100 * share} % events: one call ${ms(t.one)}, rows of 4 ${ms(t.rows)}: ${(t.rows / t.one).toFixed(2)}×`,
  );
  for (const a of [y, R, q]) k.free(a);
}
console.log("\nmaskedGemmNT, one call against calls of 4 rows and against the dense gemmNT");
for (const [B, H, share] of [
  [64, 1350, 0.4],
  [64, 1350, 0.6],
  [1024, 1350, 0.6],
  [64, 1024, 0.5],
  [64, 256, 0.5],
]) {
  const N = 3 * H;
  const dq = fill(k.alloc(B * N));
  const R = fill(k.alloc(H * N));
  const mask = fill(k.alloc(B * H), share, 1);
  const out = k.alloc(B * H);
  const t = compare({
    one: () => void k.maskedGemmNT(B, H, N, dq, 0, R, 0, mask, 0, out, 0),
    rows: () => {
      for (let b0 = 0; b0 < B; b0 += 4)
        k.maskedGemmNT(Math.min(4, B - b0), H, N, dq, b0 * N, R, 0, mask, b0 * H, out, b0 * H);
    },
    dense: () => k.gemmNT(B, H, N, dq, 0, R, 0, out, 0, false),
  });
  console.log(
    `  B ${B}, H ${H}, ${100 * share} % set: one call ${ms(t.one)}, rows of 4 ${ms(t.rows)}, dense ${ms(t.dense)}: ` +
      `${(t.rows / t.one).toFixed(2)}× the rows, ${(t.dense / t.one).toFixed(2)}× the dense product (rows ${(t.dense / t.rows).toFixed(2)}×)`,
  );
  for (const a of [dq, R, mask, out]) k.free(a);
}
