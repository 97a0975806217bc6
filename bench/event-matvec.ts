// The kernels issue's event-matvec target: the event product q = y·R (eventGemmNN, B = 1, y with a
// fraction of events) against the dense one (gemmNN 1×3H×H), H = 1024, N = 3H, one thread, in the
// build loadWasmKernels() picks (relaxed SIMD on Node ≥ 22; EGRU_RELAXED_SIMD=0 or 1 forces one).
//
//   node --conditions=egru-source --import tsx bench/event-matvec.ts [--rounds 15] [--min-ms 60] [--H 1024] [--activity 0.1]
//
// Every y has exactly round(activity·H) events, at random units. Each round times the dense
// product, the event product, the event product at 0 % activity (the fixed cost of a call: the
// list of events and the call itself) and the module's export at 0 % called directly (without the
// JavaScript wrapper's checks), in an order alternating by round;
// a timing is the median of samples of ≥ 1 ms over at least --min-ms. The event products cycle
// through PATTERNS different y, as a layer sees a new y each step, so the rows of one y are not
// left in the cache by the previous call. Prints each median, the median of the per-round ratios
// dense / event (the target: ≥ 10× at 10 %) and their range over the rounds.

import { Rng } from "../packages/egru/src/core/rng.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { PATTERNS, timeMs } from "./kernels.bench.js";

function arg(name: string, fallback: string): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = Number(i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback);
  if (!(v > 0) && name !== "activity") throw new Error(`--${name}: expected a positive number`);
  return v;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rounds = arg("rounds", "15");
const minMs = arg("min-ms", "60");
const H = arg("H", "1024");
const activity = arg("activity", "0.1");
const N = 3 * H;

const k = await loadWasmKernels({ maximumPages: 32768 });
if (!k) throw new Error("WebAssembly SIMD is not available here");
const rng = new Rng(H);
const R = k.alloc(H * N);
for (let i = 0; i < R.length; i++) R[i] = rng.normal();
const q = k.alloc(N);
const units = Array.from({ length: H }, (_, j) => j);
const ys = Array.from({ length: PATTERNS }, () => {
  const y = k.alloc(H);
  const count = Math.round(activity * H);
  for (let e = 0; e < count; e++) {
    // a random unit among those not yet taken (a partial Fisher–Yates shuffle)
    const t = e + rng.int(H - e);
    [units[e], units[t]] = [units[t], units[e]];
    y[units[e]] = 0.5 + rng.uniform();
  }
  return y;
});
const dense = k.alloc(H);
for (let j = 0; j < H; j++) dense[j] = 0.5 + rng.uniform();
const silent = k.alloc(H);
const ex = k.wasm.exports;
const scratch = k.alloc(Math.ceil(ex.scratchBytes(1, 1, H, 0) / 4) + 16);
const at = (a: Float32Array): number => a.byteOffset;
const scratchAt = (at(scratch) + 63) & ~63;

let i = 0;
let events = 0;
for (const y of ys) events += k.eventGemmNN(1, N, H, y, 0, R, 0, q, 0, false) / N;
const runs = {
  dense: () => k.gemmNN(1, N, H, dense, 0, R, 0, q, 0, false),
  event: () => void k.eventGemmNN(1, N, H, ys[(i = (i + 1) % PATTERNS)], 0, R, 0, q, 0, false),
  empty: () => void k.eventGemmNN(1, N, H, silent, 0, R, 0, q, 0, false),
  bare: () => void ex.eventGemmNN(1, N, H, at(silent), at(R), at(q), 0, scratchAt),
};
type Run = keyof typeof runs;
const order: Run[] = ["dense", "event", "empty", "bare"];
const t: Record<Run, number[]> = { dense: [], event: [], empty: [], bare: [] };
const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const ms = {} as Record<Run, number>;
  for (const name of r % 2 ? [...order].reverse() : order) ms[name] = timeMs(runs[name], minMs);
  for (const name of order) t[name].push(ms[name]);
  ratios.push(ms.dense / ms.event);
}
const f = (ms: number): string => `${(1000 * ms).toFixed(1)} µs`;
console.log(
  [
    `Node ${process.version}, ${k.wasm.relaxed ? "relaxed-SIMD" : "SIMD"} build, one thread, H = ${H}, N = ${N}, ` +
      `activity ${(100 * activity).toFixed(1)} % (${events / PATTERNS} events per y), ${rounds} rounds`,
    `dense gemmNN 1×${N}×${H}: ${f(median(t.dense))}`,
    `event eventGemmNN: ${f(median(t.event))}; at 0 % activity (the fixed cost): ${f(median(t.empty))}, ` +
      `of which the export ${f(median(t.bare))}`,
    `equal cost per row read would give dense / event = H / events = ${(H / (events / PATTERNS)).toFixed(2)}×`,
    `dense / event: ${median(ratios).toFixed(2)}× (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×)`,
  ].join("\n"),
);
