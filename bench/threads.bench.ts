// Dense product 1024³ on 1 and 2 threads (the worker pool over the shared WebAssembly memory),
// validated against the one-thread result, median of repeated runs. Run:
//   node --conditions=egru-source --import tsx bench/threads.bench.ts [--json]

import { createThreadedKernels } from "../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { timeMs } from "./kernels.bench.js";

const json = process.argv.includes("--json");
const base = await loadWasmKernels({ maximumPages: 32768 });
if (!base) throw new Error("WebAssembly SIMD is not available here");
const n = 1024;
const A = base.alloc(n * n);
const B = base.alloc(n * n);
for (let i = 0; i < A.length; i++) {
  A[i] = Math.sin(i);
  B[i] = Math.cos(i);
}
const reference = base.alloc(n * n);
base.gemmNN(n, n, n, A, 0, B, 0, reference, 0, false);
const rows: { kernel: string; threads: number; ms: number; gflops: number }[] = [];
for (const threads of [1, 2]) {
  const k = threads === 1 ? base : createThreadedKernels(base, threads);
  const C = base.alloc(n * n);
  for (const kernel of ["gemmNN", "gemmNT"] as const) {
    const ms = timeMs(() => k[kernel](n, n, n, A, 0, B, 0, C, 0, false));
    if (kernel === "gemmNN" && C.some((v, i) => v !== reference[i]))
      throw new Error(`${threads} threads: result differs from one thread`);
    rows.push({ kernel, threads, ms, gflops: (2 * n ** 3) / ms / 1e6 });
  }
  if ("close" in k) await (k as { close(): Promise<void> }).close();
}
if (json) for (const r of rows) console.log(JSON.stringify(r));
else {
  console.log("Dense products 1024³, WebAssembly SIMD, by threads (results identical to one thread)\n");
  console.log("kernel  threads     ms  GFLOP/s");
  for (const r of rows)
    console.log(
      `${r.kernel.padEnd(6)}  ${String(r.threads).padStart(7)}  ${r.ms.toFixed(2).padStart(5)}  ${r.gflops.toFixed(1).padStart(7)}`,
    );
}
