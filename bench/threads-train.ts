// Training steps per second on one and on two kernel threads, side by side in one process: the
// default `egru train` job (row-sequential MNIST, 1×EGRU(128), batch 128), ptb-small (3×EGRU(256),
// batch 32, random BPTT around 35, on the first tokens of Penn Treebank) and dvs-synth (an EGRU(128)
// on 32×32 DVS frames, batch 16, on a synthetic set written to a temporary directory). Each job is
// built twice from its preset with the same seed, once on the one-thread WebAssembly kernels and once
// on createThreadedKernels(…, 2); the two trainers take their steps in turn (1, 2, 1, 2, …) on the
// same batches, so load on the machine hits both alike, and every pair of steps must give the same
// loss and gradient norm bit for bit (the script fails otherwise). Medians of the timed steps after
// the warm-up ones; the speedup is the ratio of the medians.
//
//   node --conditions=egru-source --import tsx bench/threads-train.ts [--steps=N] [--warmup=N]
//        [--jobs=default,ptb-small,dvs-synth] [--threads=2] [--data=DIR] [--json] [--profile=1|2]
//
// --data is the folder holding ptb/ (default ../shared/data beside the repository). --profile=V
// runs only variant V (1: one thread, 2: the threaded one) with no comparison, for a CPU profile
// (node --cpu-prof … bench/threads-train.ts --profile=1 --jobs=ptb-small).

import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Kernels } from "../packages/egru/src/kernels/backend.js";
import { createThreadedKernels, type ThreadedKernels } from "../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";

const opt = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const STEPS = Number(opt("steps", "12"));
const WARMUP = Number(opt("warmup", "2"));
const THREADS = Number(opt("threads", "2"));
const JOBS = opt("jobs", "default,ptb-small,dvs-synth").split(",");
const DATA = opt("data", fileURLToPath(new URL("../../shared/data/", import.meta.url)));
const JSON_OUT = process.argv.includes("--json");
const PROFILE = Number(opt("profile", "0"));

/** One trainer of a job: a step returns the items it trained (examples or tokens) and its loss and gradient norm. */
interface Stepper {
  step(): { items: number; loss: number; gradNorm: number };
}

/** What a job measures, per variant. */
interface JobResult {
  job: string;
  unit: "examples" | "tokens";
  steps: number;
  /** Median seconds per step and items per second, one thread then THREADS threads. */
  seconds: [number, number];
  rate: [number, number];
  speedup: number;
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Two trainers of preset `name` (the same seed): one on `one`, one on `many`. */
async function build(
  name: string,
  kernels: Kernels[],
  tmp: string,
): Promise<{ unit: JobResult["unit"]; make: Stepper[] }> {
  const { loadPresets } = await import("../packages/cli/src/node/presets.js");
  const { parseConfig, isLmTask, DVS_TASK } = await import("../packages/cli/src/train/config.js");
  const { buildTrainer, buildLmTrainer } = await import("../packages/cli/src/train/build.js");
  const preset = loadPresets()[name];
  if (!preset) throw new Error(`no preset ${name}`);
  const base = parseConfig(preset, name);
  const total = WARMUP + STEPS;
  if (isLmTask(base.task)) {
    const { loadCorpus } = await import("../packages/cli/src/node/corpus-files.js");
    const { longestSegment } = await import("../packages/cli/src/train/memory.js");
    const corpus = loadCorpus(base.task as "ptb" | "wikitext-2", join(DATA, base.task));
    const B = base.batchSize;
    const reduced = {
      vocab: corpus.vocab,
      train: corpus.train.subarray(0, B * (total * longestSegment(base) + 1)),
      valid: corpus.valid.subarray(0, B * (base.lm.bptt + 1)),
      test: corpus.test.subarray(0, base.lm.bptt + 1),
    };
    return {
      unit: "tokens",
      make: kernels.map((k) => {
        const t = buildLmTrainer(base, reduced, { kernels: k });
        return {
          step: () => {
            const s = t.trainStep();
            return { items: B * s.T, loss: s.loss, gradNorm: s.gradNorm };
          },
        };
      }),
    };
  }
  const { loadTask } = await import("../packages/cli/src/run/task-data.js");
  let data: string | undefined;
  if (base.task === DVS_TASK) {
    const { writeSynthGestures } = await import("../packages/cli/src/node/dvs-files.js");
    data = join(tmp, "dvs");
    const users = Math.ceil((total * base.batchSize) / 4);
    writeSynthGestures(data, { classes: 4, trainUsers: users, testUsers: 1, rate: 8, seed: 0 });
    process.env.EGRU_CACHE = join(tmp, "cache");
  }
  const c = parseConfig({ ...preset, data, validation: 0, trainLimit: total * base.batchSize, testLimit: 1 }, name);
  const task = loadTask(c, () => {});
  const B = c.batchSize;
  if (task.count("train") < total * B)
    throw new Error(`${name}: ${task.count("train")} training examples, need ${total * B}`);
  const order = Int32Array.from({ length: total * B }, (_, i) => i);
  return {
    unit: "examples",
    make: kernels.map((k) => {
      const t = buildTrainer(c, task, { kernels: k });
      let i = 0;
      return {
        step: () => {
          const s = t.trainStep(order.subarray(i * B, (i + 1) * B), total);
          i++;
          return { items: B, loss: s.loss, gradNorm: s.gradNorm };
        },
      };
    }),
  };
}

async function main(): Promise<void> {
  const base = await loadWasmKernels({ maximumPages: 65536 });
  if (!base) throw new Error("WebAssembly SIMD is not available here");
  const many: ThreadedKernels = createThreadedKernels(base, THREADS);
  const cpu = cpus();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");
  if (!JSON_OUT)
    console.log(
      `# training steps on 1 and ${THREADS} kernel threads: ${cpu[0]?.model ?? "?"}, ${cpu.length} logical cores, ` +
        `${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; load average at start ${load}; ` +
        `${WARMUP} warm-up + ${STEPS} timed steps per variant, interleaved\n`,
    );
  const results: JobResult[] = [];
  for (const job of JOBS) {
    const tmp = mkdtempSync(join(tmpdir(), "egru-threads-"));
    try {
      const { unit, make } = await build(job, PROFILE ? [PROFILE === 1 ? base : many] : [base, many], tmp);
      if (PROFILE) {
        const t0 = performance.now();
        for (let s = 0; s < WARMUP + STEPS; s++) make[0].step();
        console.log(
          `${job}: ${WARMUP + STEPS} steps on variant ${PROFILE} in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
        );
        continue;
      }
      const times: [number[], number[]] = [[], []];
      const items: [number[], number[]] = [[], []];
      for (let s = 0; s < WARMUP + STEPS; s++) {
        const out = make.map((m, v) => {
          const t0 = performance.now();
          const o = m.step();
          const dt = (performance.now() - t0) / 1000;
          if (s >= WARMUP) {
            times[v].push(dt);
            items[v].push(o.items);
          }
          return o;
        });
        if (out[0].loss !== out[1].loss || out[0].gradNorm !== out[1].gradNorm)
          throw new Error(
            `${job}, step ${s + 1}: ${THREADS} threads differ from one (loss ${out[1].loss} vs ${out[0].loss}, ` +
              `gradient norm ${out[1].gradNorm} vs ${out[0].gradNorm})`,
          );
      }
      // items per second from each step's own items (random BPTT lengths differ between steps)
      const rates = [0, 1].map((v) => median(times[v].map((t, i) => items[v][i] / t))) as [number, number];
      results.push({
        job,
        unit,
        steps: STEPS,
        seconds: [median(times[0]), median(times[1])],
        rate: rates,
        speedup: rates[1] / rates[0],
      });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  await many.close();
  if (PROFILE) return;
  const after = loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");
  if (JSON_OUT) {
    for (const r of results) console.log(JSON.stringify({ ...r, threads: THREADS, loadStart: load, loadEnd: after }));
    return;
  }
  console.log(
    `| job | step, 1 thread (s) | step, ${THREADS} threads (s) | rate, 1 thread | rate, ${THREADS} threads | speedup |`,
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const r of results) {
    const f = (x: number): string => x.toFixed(x < 10 ? 2 : 0);
    console.log(
      `| ${r.job} | ${r.seconds[0].toFixed(3)} | ${r.seconds[1].toFixed(3)} | ${f(r.rate[0])} ${r.unit}/s | ${f(r.rate[1])} ${r.unit}/s | ${r.speedup.toFixed(2)}× |`,
    );
  }
  console.log(
    `\nlosses and gradient norms identical on 1 and ${THREADS} threads at every step; load average at end ${after}`,
  );
}

await main();
