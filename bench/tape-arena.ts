// Training steps of the default `egru train` job (row-sequential MNIST, 1×EGRU(128), batch 128) with
// the training tape in the kernels' memory (layers/tape-arena.ts) against the same job with the tape
// in ordinary arrays copied in and out of it (the arena's cap at 0, the code path before the arena),
// side by side in one process: the two trainers take their steps in turn on the same batches, so load
// on the machine hits both alike, and every pair of steps must give the same loss and gradient norm
// bit for bit (the script fails otherwise). Medians of the timed steps after the warm-up ones.
//
//   node --conditions=egru-source --import tsx bench/tape-arena.ts [--steps=N] [--warmup=N] [--threads=1|2]

import { loadavg } from "node:os";
import type { Kernels } from "../packages/egru/src/kernels/backend.js";
import { setTapeArenaCap } from "../packages/egru/src/layers/tape-arena.js";
import { createThreadedKernels } from "../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { loadPresets } from "../packages/cli/src/node/presets.js";
import { loadTask } from "../packages/cli/src/run/task-data.js";
import { buildTrainer } from "../packages/cli/src/train/build.js";
import { parseConfig } from "../packages/cli/src/train/config.js";

const opt = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const STEPS = Number(opt("steps", "20"));
const WARMUP = Number(opt("warmup", "3"));
const THREADS = Number(opt("threads", "1"));

const one = await loadWasmKernels();
if (!one) throw new Error("WebAssembly SIMD kernels are missing");
const threaded = THREADS > 1 ? createThreadedKernels(one, THREADS) : null;
const kernels: Kernels = threaded ?? one;

const B = 128;
const total = WARMUP + STEPS;
const c = parseConfig({ ...loadPresets().default, validation: 0, trainLimit: total * B, testLimit: 1 }, "default");
const task = loadTask(c, () => {});
const order = Int32Array.from({ length: total * B }, (_, i) => i);
const inPlace = buildTrainer(c, task, { kernels });
const copied = buildTrainer(c, task, { kernels });

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const times: [number[], number[]] = [[], []];
const load0 = loadavg()[0];
for (let s = 0; s < total; s++) {
  const batch = order.subarray(B * s, B * (s + 1));
  let t = performance.now();
  const a = inPlace.trainStep(batch, total);
  const ta = performance.now() - t;
  const previous = setTapeArenaCap(0);
  t = performance.now();
  const b = copied.trainStep(batch, total);
  const tb = performance.now() - t;
  setTapeArenaCap(previous);
  if (a.loss !== b.loss || a.gradNorm !== b.gradNorm) throw new Error(`step ${s}: the two paths differ`);
  if (s >= WARMUP) {
    times[0].push(ta);
    times[1].push(tb);
  }
}
await threaded?.close();
const [mIn, mCopy] = times.map(median);
console.log(
  `# default job, ${THREADS} kernel thread(s), ${WARMUP} warm-up + ${STEPS} timed steps per variant, interleaved; load ${load0.toFixed(2)} → ${loadavg()[0].toFixed(2)}\n`,
);
console.log("| tape | step (ms, median) |\n|---|---:|");
console.log(`| copied (cap 0) | ${mCopy.toFixed(1)} |`);
console.log(`| in kernel memory | ${mIn.toFixed(1)} |`);
console.log(
  `\nratio copied / in place: ${(mCopy / mIn).toFixed(3)}; losses and gradient norms identical at every step`,
);
