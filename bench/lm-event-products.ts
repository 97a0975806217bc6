// The event and masked products of a language-model training step at the paper's sizes (stack
// 750 → 1350 → 1350 → 750, decoder 750 × 10,000; B = 64, BPTT 16: 1,024 rows, 960 for the recurrent
// weight gradients), one thread, each at the event or mask densities given: the weight gradients
// eventGemmTN (by blocks of columns where a chunk of dq passes 1 MiB), the input and decoder products
// eventGemmNN, the masked back-products maskedGemmNT, and the dense gemmNT of the first shape for
// scale. Each time is kernels.bench.ts' timeMs (the median of at least 5 calls after 2 warm-ups);
// rates in multiply-accumulates executed (events × N, or mask entries × N) per second.
// docs/benchmarks.md §19.
//
//   node --conditions=egru-source --import tsx bench/lm-event-products.ts [--densities 0.05,0.16,0.3]

import { Rng } from "../packages/egru/src/core/rng.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { timeMs } from "./kernels.bench.js";

const at = process.argv.indexOf("--densities");
const densities = (at > 0 ? process.argv[at + 1] : "0.05,0.16,0.3").split(",").map(Number);
if (densities.some((d) => !(d > 0 && d <= 1))) throw new Error(`--densities: expected fractions in (0, 1]`);

const k = await loadWasmKernels({ maximumPages: 32768 });
if (!k) throw new Error("WebAssembly SIMD is not available here");
const rng = new Rng(5);

/** A kernel-memory array of n entries, each nonzero (normal) with probability `share`. */
const sparse = (n: number, share = 1): Float32Array => {
  const a = k.alloc(n);
  for (let j = 0; j < n; j++) a[j] = rng.uniform() < share ? rng.normal() : 0;
  return a;
};
const nonzeros = (a: Float32Array): number => k.countNonzero(a, 0, a.length);

interface Row {
  kernel: string;
  shape: string;
  density: number;
  ms: number;
  gmacs: number;
}
const rows: Row[] = [];
const add = (kernel: string, shape: string, density: number, ms: number, macs: number) =>
  rows.push({ kernel, shape, density, ms, gmacs: macs / ms / 1e6 });

for (const d of densities) {
  // weight gradients dR [H, N] += yᵀ·dq over B rows
  for (const [H, N, B] of [
    [1350, 4050, 960],
    [750, 10000, 1024],
    [750, 2250, 960],
    [1350, 4050, 64],
  ]) {
    const y = sparse(B * H, d);
    const dq = sparse(B * N);
    const dR = k.alloc(H * N);
    const ms = timeMs(() => k.eventGemmTN(H, N, B, y, 0, dq, 0, dR, 0));
    add("eventGemmTN", `${H} × ${N} over ${B}`, d, ms, nonzeros(y) * N);
    for (const a of [y, dq, dR]) k.free(a);
  }
  // products q [M, N] = x·W by the events of x [M, K]
  for (const [M, N, K] of [
    [1024, 4050, 1350],
    [1024, 10000, 750],
    [64, 4050, 1350],
  ]) {
    const x = sparse(M * K, d);
    const W = sparse(K * N);
    const q = k.alloc(M * N);
    const ms = timeMs(() => k.eventGemmNN(M, N, K, x, 0, W, 0, q, 0, false));
    add("eventGemmNN", `${M} × ${N} × ${K}`, d, ms, nonzeros(x) * N);
    for (const a of [x, W, q]) k.free(a);
  }
  // masked back-products out [B, H] = mask ⊙ (dq·Rᵀ), dq [B, N], R [H, N]
  for (const [B, H, N] of [
    [64, 1350, 4050],
    [1024, 1350, 4050],
    [1024, 750, 10000],
  ]) {
    const dq = sparse(B * N);
    const R = sparse(H * N);
    const mask = sparse(B * H, d);
    const out = k.alloc(B * H);
    const ms = timeMs(() => k.maskedGemmNT(B, H, N, dq, 0, R, 0, mask, 0, out, 0));
    add("maskedGemmNT", `${B} × ${H} × ${N}`, d, ms, nonzeros(mask) * N);
    if (d === densities[0] && B === 64) {
      const dense = timeMs(() => k.gemmNT(B, H, N, dq, 0, R, 0, out, 0, false));
      add("gemmNT (dense)", `${B} × ${H} × ${N}`, 1, dense, B * H * N);
    }
    for (const a of [dq, R, mask, out]) k.free(a);
  }
}

console.log(`# LM event products: ${k.name}, one thread, Node ${process.version}`);
console.log("| kernel | shape | density | ms | GMAC/s |");
console.log("|---|---|---:|---:|---:|");
for (const r of rows)
  console.log(
    `| ${r.kernel} | ${r.shape} | ${(100 * r.density).toFixed(0)} % | ${r.ms.toFixed(2)} | ${r.gmacs.toFixed(1)} |`,
  );
