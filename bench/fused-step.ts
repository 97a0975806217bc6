// The EGRU stack's streaming step at B = 1 with the fused kernel call a layer (kernels.egruStep)
// against the separate calls (the same kernels with egruStep hidden) and, on two or more threads,
// against the fused call with the int8 step's end (its parts' finish and the cell) on the calling
// thread instead of split by units (threaded kernels with minStepEnd out of reach), side by side,
// alternating, on float32 and int8 weights. The stack is the language model's (750 → 1350 → 1350 →
// 750), thresholds at the 82.5 % quantile of each layer's state (bench/baselines.ts calibrateThresholds).
//
//   node --conditions=egru-source --import tsx bench/fused-step.ts [--threads 2] [--steps 2000] [--rounds 3]
//
// Prints the median and mean ms of a step of each variant per round; results in docs/benchmarks.md §11.

import { Rng } from "../packages/egru/src/core/rng.js";
import { calibrateThresholds } from "./baselines.js";
import type { Kernels } from "../packages/egru/src/kernels/backend.js";
import { EGRU } from "../packages/egru/src/layers/egru.js";
import { createThreadedKernels } from "../packages/egru/src/node/threaded-kernels.js";
import { loadBestKernels } from "../packages/egru/src/wasm/select.js";
import type { WasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name}: expected an integer ≥ 1, got ${process.argv[i + 1]}`);
  return v;
};
const threads = arg("--threads", 2);
const steps = arg("--steps", 2000);
const rounds = arg("--rounds", 3);

const base = (await loadBestKernels("auto")) as WasmKernels;
const kernels: Kernels = threads > 1 ? createThreadedKernels(base, threads) : base;
/** The same threads with the int8 step's end on the calling thread (a second pool). */
const cellHere = threads > 1 ? createThreadedKernels(base, threads, { minStepEnd: Number.POSITIVE_INFINITY }) : null;
/** The kernels with egruStep hidden: the stepper then makes the separate calls. */
const separate = new Proxy(kernels, {
  get(target, key) {
    if (key === "egruStep") return undefined;
    const v: unknown = Reflect.get(target, key, target);
    return typeof v === "function" ? v.bind(target) : v;
  },
});

const sizes = [750, 1350, 1350, 750];
const rng = new Rng(1);
const tokens = Array.from({ length: 64 }, () => Float32Array.from({ length: sizes[0] }, () => rng.normal()));
const make = (k: Kernels, l: number) =>
  new EGRU({ kernels: k, inputSize: sizes[l], hiddenSize: sizes[l + 1], seed: 10 + l, inputEvents: l > 0 }).eval();

const layers = sizes.slice(0, -1).map((_, l) => make(kernels, l));
calibrateThresholds(layers, tokens.slice(0, 32), 0.825);

/** The stack's steppers on kernels k, float32 or int8 weights (the same values). */
const steppers = (k: Kernels, int8: boolean) =>
  layers.map((layer, l) => {
    const copy = make(k, l);
    copy.setWeights(layer.getWeights());
    if (int8) copy.quantize();
    return copy.stepper(1);
  });

console.log(`# fused-step: ${base.name}, ${threads} thread(s), ${steps} steps a round, LM stack ${sizes.join(" → ")}`);
for (const int8 of [false, true]) {
  const variants = [
    ["fused", steppers(kernels, int8)],
    ["separate calls", steppers(separate, int8)],
    ...(cellHere && int8 ? [["fused, end on the calling thread", steppers(cellHere, int8)] as const] : []),
  ] as const;
  for (let round = 0; round < rounds; round++) {
    const line: string[] = [];
    for (const [name, ss] of variants) {
      const times: number[] = [];
      let zeros = 0;
      let total = 0;
      for (let i = 0; i < steps; i++) {
        const t0 = performance.now();
        let v: Float32Array = tokens[i % tokens.length];
        for (const s of ss) v = s.step(v);
        times.push(performance.now() - t0);
        for (const s of ss) {
          const y = s.state.y;
          zeros += y.reduce((n, e) => n + (e === 0 ? 1 : 0), 0);
          total += y.length;
        }
      }
      times.sort((a, b) => a - b);
      const mean = times.reduce((a, b) => a + b, 0) / steps;
      line.push(
        `${name} ${times[steps >> 1].toFixed(3)} ms (mean ${mean.toFixed(3)}, ${((100 * zeros) / total).toFixed(1)} % silent)`,
      );
    }
    console.log(`${int8 ? "int8   " : "float32"} round ${round + 1}: ${line.join("; ")}`);
  }
}
process.exit(0);
