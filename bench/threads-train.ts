// Training steps per second on one and on two threads, side by side in one process: the
// default `egru train` job (row-sequential MNIST, 1×EGRU(128), batch 128), ptb-small (3×EGRU(256),
// batch 32, random BPTT around 35, on the first tokens of Penn Treebank) and dvs-synth (an EGRU(128)
// on 32×32 DVS frames, batch 16, on a synthetic set written to a temporary directory). Each job is
// built from its preset with the same seed as `egru train --threads 1` and `--threads 2` build it:
// a batch that comes in blocks (the default job: 128 rows in blocks of 64; any job with
// --micro-batch=N below its batch) on two threads as replicas, each running one block of the step
// (node/replica-pool.ts), otherwise (dvs-synth's batch of 16, ptb-small's whole batches) on
// createThreadedKernels(…, 2): products split across the threads, and the EGRU's and GRU's time
// loops by blocks of batch rows (docs/benchmarks.md §17). The trainers take their steps in
// turn (1, 2, 1, 2, …) on the same batches, so load on the machine hits both alike, and every pair of
// steps must give the same loss and gradient norm bit for bit (the script fails otherwise). A job in
// blocks also gets a third trainer, one thread on whole batches, timed for comparison only. Medians
// of the timed steps after the warm-up ones; the speedup is the ratio of the medians.
//
//   node --conditions=egru-source --import tsx bench/threads-train.ts [--steps=N] [--warmup=N]
//        [--jobs=default,ptb-small,dvs-synth] [--threads=2] [--data=DIR] [--json] [--profile=1|2]
//        [--micro-batch=N] [--min-work=MACS] [--min-pointwise=ELEMENTS]
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
/** The rows per block instead of the preset's (0: the preset's, "auto"). */
const MICRO = Number(opt("micro-batch", "0"));
/** The threaded kernels' split thresholds (ThreadOptions), when given: multiply-accumulates and pointwise elements. */
const MIN_WORK = opt("min-work", "");
const MIN_POINTWISE = opt("min-pointwise", "");

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
  /** Jobs whose batches run in blocks: one thread on whole batches, for comparison. */
  whole?: { seconds: number; rate: number };
}

const median = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** The trainers of preset `name` (the same seed): one thread, THREADS threads, and (classifiers) one thread in the same blocks. */
async function build(
  name: string,
  base: Kernels,
  many: ThreadedKernels,
  tmp: string,
): Promise<{ unit: JobResult["unit"]; make: Stepper[]; close: () => Promise<void> }> {
  const { loadPresets } = await import("../packages/cli/src/node/presets.js");
  const { parseConfig, isLmTask, DVS_TASK } = await import("../packages/cli/src/train/config.js");
  const { buildTrainer, buildLmTrainer } = await import("../packages/cli/src/train/build.js");
  const preset = loadPresets()[name];
  if (!preset) throw new Error(`no preset ${name}`);
  const base0 = parseConfig(preset, name);
  const total = WARMUP + STEPS;
  if (isLmTask(base0.task)) {
    const { loadCorpus } = await import("../packages/cli/src/node/corpus-files.js");
    const { longestSegment } = await import("../packages/cli/src/train/memory.js");
    const corpus = loadCorpus(base0.task as "ptb" | "wikitext-2", join(DATA, base0.task));
    const B = base0.batchSize;
    const reduced = {
      vocab: corpus.vocab,
      train: corpus.train.subarray(0, B * (total * longestSegment(base0) + 1)),
      valid: corpus.valid.subarray(0, B * (base0.lm.bptt + 1)),
      test: corpus.test.subarray(0, base0.lm.bptt + 1),
    };
    const c = MICRO ? { ...base0, microBatch: MICRO } : base0;
    const stepper = (t: ReturnType<typeof buildLmTrainer>): Stepper => ({
      step: () => {
        const s = t.trainStep();
        return { items: B * s.T, loss: s.loss, gradNorm: s.gradNorm };
      },
    });
    // as egru train --threads THREADS builds it: replicas when the batch comes in blocks, else threaded kernels
    const { lmRunTrainer } = await import("../packages/cli/src/run/language-model.js");
    const parallel = lmRunTrainer(c, reduced, undefined, many);
    const one = buildLmTrainer(c, reduced, { kernels: base });
    const make = PROFILE
      ? [stepper(PROFILE === 1 ? one : parallel)]
      : [
          stepper(one),
          stepper(parallel),
          ...(c.microBatch !== "auto" && c.microBatch < B
            ? [stepper(buildLmTrainer({ ...c, microBatch: B }, reduced, { kernels: base }))]
            : []),
        ];
    return { unit: "tokens", make, close: async () => parallel.replicas?.close() };
  }
  const { loadTask } = await import("../packages/cli/src/run/task-data.js");
  let data: string | undefined;
  if (base0.task === DVS_TASK) {
    const { writeSynthGestures } = await import("../packages/cli/src/node/dvs-files.js");
    data = join(tmp, "dvs");
    const users = Math.ceil((total * base0.batchSize) / 4);
    writeSynthGestures(data, { classes: 4, trainUsers: users, testUsers: 1, rate: 8, seed: 0 });
    process.env.EGRU_CACHE = join(tmp, "cache");
  }
  const micro = MICRO ? { microBatch: MICRO } : {};
  const c = parseConfig(
    { ...preset, ...micro, data, validation: 0, trainLimit: total * base0.batchSize, testLimit: 1 },
    name,
  );
  const task = loadTask(c, () => {});
  const B = c.batchSize;
  if (task.count("train") < total * B)
    throw new Error(`${name}: ${task.count("train")} training examples, need ${total * B}`);
  const order = Int32Array.from({ length: total * B }, (_, i) => i);
  const stepper = (t: ReturnType<typeof buildTrainer>): Stepper => {
    let i = 0;
    return {
      step: () => {
        const s = t.trainStep(order.subarray(i * B, (i + 1) * B), total);
        i++;
        return { items: B, loss: s.loss, gradNorm: s.gradNorm };
      },
    };
  };
  // as egru train --threads THREADS builds it: replicas when the configuration allows, else threaded kernels
  const { classifierTrainer } = await import("../packages/cli/src/run/classifier.js");
  const parallel = classifierTrainer(c, task, undefined, many);
  const one = buildTrainer(c, task, { kernels: base });
  const rows = one.options.microBatch ?? B;
  const make = PROFILE
    ? [stepper(PROFILE === 1 ? one : parallel)]
    : [
        stepper(one),
        stepper(parallel),
        // for comparison, untied to the checks: one thread on whole batches (the default job's way before blocks)
        ...(rows < B ? [stepper(buildTrainer({ ...c, microBatch: B }, task, { kernels: base }))] : []),
      ];
  return { unit: "examples", make, close: async () => parallel.replicas?.close() };
}

async function main(): Promise<void> {
  const base = await loadWasmKernels({ maximumPages: 65536 });
  if (!base) throw new Error("WebAssembly SIMD is not available here");
  const many: ThreadedKernels = createThreadedKernels(base, THREADS, {
    ...(MIN_WORK ? { minWork: Number(MIN_WORK) } : {}),
    ...(MIN_POINTWISE ? { minPointwise: Number(MIN_POINTWISE) } : {}),
  });
  const cpu = cpus();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");
  if (!JSON_OUT)
    console.log(
      `# training steps on 1 and ${THREADS} threads: ${cpu[0]?.model ?? "?"}, ${cpu.length} logical cores, ` +
        `${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}; load average at start ${load}; ` +
        `${WARMUP} warm-up + ${STEPS} timed steps per variant, interleaved\n`,
    );
  const results: JobResult[] = [];
  for (const job of JOBS) {
    const tmp = mkdtempSync(join(tmpdir(), "egru-threads-"));
    try {
      const { unit, make, close } = await build(job, base, many, tmp);
      try {
        if (PROFILE) {
          const t0 = performance.now();
          for (let s = 0; s < WARMUP + STEPS; s++) make[0].step();
          console.log(
            `${job}: ${WARMUP + STEPS} steps on variant ${PROFILE} in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
          );
          continue;
        }
        const times: number[][] = make.map(() => []);
        const items: number[][] = make.map(() => []);
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
          const same = out[0];
          if (same.loss !== out[1].loss || same.gradNorm !== out[1].gradNorm)
            throw new Error(
              `${job}, step ${s + 1}: ${THREADS} threads differ from one (loss ${out[1].loss} vs ${same.loss}, ` +
                `gradient norm ${out[1].gradNorm} vs ${same.gradNorm})`,
            );
        }
        // items per second from each step's own items (random BPTT lengths differ between steps)
        const rates = times.map((ts, v) => median(ts.map((t, i) => items[v][i] / t)));
        results.push({
          job,
          unit,
          steps: STEPS,
          seconds: [median(times[0]), median(times[1])],
          rate: [rates[0], rates[1]],
          speedup: rates[1] / rates[0],
          ...(times[2] ? { whole: { seconds: median(times[2]), rate: rates[2] } } : {}),
        });
      } finally {
        await close();
      }
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
    `| job | step, 1 thread (s) | step, ${THREADS} threads (s) | rate, 1 thread | rate, ${THREADS} threads | speedup | 1 thread, whole batches (s) |`,
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of results) {
    const f = (x: number): string => x.toFixed(x < 10 ? 2 : 0);
    console.log(
      `| ${r.job} | ${r.seconds[0].toFixed(3)} | ${r.seconds[1].toFixed(3)} | ${f(r.rate[0])} ${r.unit}/s | ${f(r.rate[1])} ${r.unit}/s | ${r.speedup.toFixed(2)}× | ${r.whole ? r.whole.seconds.toFixed(3) : "–"} |`,
    );
  }
  console.log(
    `\nlosses and gradient norms identical on 1 and ${THREADS} threads at every step; load average at end ${after}`,
  );
}

await main();
