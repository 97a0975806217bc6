// The pointwise kernels of a step, in the build loadWasmKernels() picks: the EGRU cell's forward
// (egruCellForwardUnits over every unit: gates, state, event, trace) at the language model's
// H = 1,350 for one stream (B = 1, the streaming step) and for a training batch (B = 64), and the
// softmax over rows of 10,000 words (softmaxRows, the language model's loss: 1,024 rows, one
// training step at B = 64, BPTT 16). The cell runs as a stream does, on its own state: the internal state h put back every 64
// calls (so that units keep firing; thresholds 0.3 to 1.5, so that some never do), the trace (0.1 at
// the start) either carried from call to call over the whole run or put back with h. A unit that does
// not fire decays its trace by α = 0.9 a step: into the float32 subnormals after ~830 steps, where
// rounding then holds it (0.9 · 2^−149 rounds to 2^−149), unless the kernel stores it as 0.
//
//   node --conditions=egru-source --import tsx bench/pointwise.ts [--rounds 9]
//
// Each row: the median over rounds of the mean time of a call; results in docs/benchmarks.md §18.

import { Rng } from "../packages/egru/src/core/rng.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { median } from "./baselines.js";

const i = process.argv.indexOf("--rounds");
const rounds = i >= 0 ? Number(process.argv[i + 1]) : 9;
if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds: expected an integer ≥ 1");

const k = await loadWasmKernels({ maximumPages: 16384 });
if (!k) throw new Error("WebAssembly SIMD is not available here");
const ex = k.wasm.exports;
const rng = new Rng(3);
const filled = (n: number, f: () => number): Float32Array => {
  const a = k.alloc(n);
  for (let j = 0; j < n; j++) a[j] = f();
  return a;
};

/** Median over rounds of the mean ms of `calls` calls of f. */
function time(calls: number, f: () => void): number {
  const ms: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (let c = 0; c < calls; c++) f();
    ms.push((performance.now() - t0) / calls);
  }
  return median(ms);
}

const rows: [string, string][] = [];
const H = 1350;
for (const B of [1, 64]) {
  const n = B * H;
  const normal = () => rng.normal();
  const [a, q, h] = [filled(3 * n, normal), filled(3 * n, normal), filled(n, normal)];
  const thr = filled(H, () => 0.3 + 1.2 * rng.uniform()); // (some units never fire)
  const [y, o, tr, c, z, r, g, hr] = Array.from({ length: 8 }, () => k.alloc(n));
  const h0 = Float32Array.from(h);
  const at = (v: Float32Array) => v.byteOffset;
  for (const carried of [true, false]) {
    tr.fill(0.1);
    let calls = 0;
    const step = () => {
      if (calls++ % 64 === 0) {
        h.set(h0);
        if (!carried) tr.fill(0.1);
      }
      ex.egruCellForwardUnits(
        B,
        H,
        0,
        H,
        at(a),
        at(q),
        at(h),
        at(tr),
        at(thr),
        0,
        1,
        0.9,
        at(y),
        at(h),
        at(o),
        at(tr),
        at(c),
        at(z),
        at(r),
        at(g),
        at(hr),
      );
    };
    const ms = time(B === 1 ? 4000 : 100, step);
    const traces = carried ? "traces carried over the run" : "traces put back every 64 calls";
    rows.push([`EGRU cell forward B = ${B}, H = ${H}, ${traces}`, `${(1000 * ms).toFixed(1)} µs`]);
  }
}
{
  const N = 1024;
  const V = 10000;
  const x = filled(N * V, () => 3 * rng.normal());
  const out = k.alloc(N * V);
  const logZ = k.alloc(N);
  const ms = time(1, () => ex.softmaxRows(N, V, x.byteOffset, out.byteOffset, logZ.byteOffset, 1 / N));
  rows.push([`softmaxRows ${N} × ${V}`, `${ms.toFixed(1)} ms`]);
}
console.log(
  `# pointwise kernels: Node ${process.version}, ${k.wasm.relaxed ? "relaxed-SIMD" : "SIMD"} build, ${rounds} rounds\n`,
);
console.log("| kernel | time a call |\n|---|---:|");
for (const [what, t] of rows) console.log(`| ${what} | ${t} |`);
