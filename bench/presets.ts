// `npm run presets`: every preset of presets/ at its published model and batch sizes on reduced
// data, each in its own child process: two training steps and one evaluation batch, then a table
// of parameters, the micro-batch the memory estimate chose, step and eval-batch times and the
// peak resident memory (the child's process.resourceUsage().maxRSS). Exits non-zero if any
// preset fails. Reduced data: MNIST two batches' worth of training images and one evaluation
// batch of test images; the language models B streams of 2·(bptt + 30) + 1 tokens of the training
// text (room for two random-length segments) and one bptt-long segment of validation text per
// stream; DVS Gesture a synthetic set written into a temporary directory (frames cached there).
//
//   npm run presets                      every preset
//   npm run presets -- ptb-v0.2 dvs-iclr only these
//   npm run presets -- --json            JSON lines instead of the table
//   npm run presets -- --threads=2       each child on two threads, as egru --threads 2 trains it (replicas
//                                        when its batch comes in blocks, else the products split)
//   npm run presets -- --jobs=2          two presets at a time (each a child process on one thread,
//                                        planning its micro-batches with half the memory budget)
//   npm run presets -- --data=DIR        the folder holding ptb/ and wikitext-2/ (default ../shared/data)

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The datasets (PTB, WikiText-2 folders): --data=DIR, default ../shared/data beside the repository. */
const DATA =
  process.argv.find((a) => a.startsWith("--data="))?.slice(7) ??
  fileURLToPath(new URL("../../shared/data/", import.meta.url));

/** Presets run at a time (--jobs=N, default 1). */
const JOBS_ARG = process.argv.find((a) => a.startsWith("--jobs="))?.slice(7) ?? "1";
const JOBS = Number(JOBS_ARG);

/** Kernel threads of each child (--threads=N, default 1), as the CLI's --threads. */
const THREADS = Number(process.argv.find((a) => a.startsWith("--threads="))?.slice(10) ?? "1");

/** The WebAssembly kernels on THREADS worker threads, made the default of every layer. */
async function threaded(wasm: import("../packages/egru/src/kernels/backend.js").Kernels) {
  const { createThreadedKernels } = await import("../packages/egru/src/node/threaded-kernels.js");
  const { setKernels } = await import("../packages/egru/src/wasm/select.js");
  if (wasm.name !== "wasm-simd") throw new Error(`--threads needs the WebAssembly kernels, got ${wasm.name}`);
  const k = createThreadedKernels(wasm as import("../packages/egru/src/wasm/wasm-kernels.js").WasmKernels, THREADS);
  setKernels(k);
  return k;
}

/** What a child reports. */
interface PresetResult {
  preset: string;
  task: string;
  parameters: number;
  batch: number;
  microBatch: number;
  blocks: number;
  stepSeconds: number[];
  /** Training items of each step: tokens (language models) or examples (classifiers). */
  stepItems: number[];
  unit: "tokens" | "examples";
  threads: number;
  evalRows: number;
  evalSeconds: number;
  maxRssBytes: number;
}

/** Two steps and one evaluation batch of `name` (runs in the child). */
async function runOne(name: string, tmp: string): Promise<PresetResult> {
  const { loadPresets } = await import("../packages/cli/src/node/presets.js");
  const { parseConfig, isLmTask, DVS_TASK } = await import("../packages/cli/src/train/config.js");
  const { loadBestKernels } = await import("../packages/egru/src/wasm/select.js");
  const { NODE_WASM_PAGES, nodeMemoryLimits } = await import("../packages/cli/src/node/memory-limits.js");
  const { parameterCount } = await import("../packages/cli/src/train/build.js");
  const wasm = await loadBestKernels("auto", { maximumPages: NODE_WASM_PAGES });
  const kernels = THREADS > 1 ? await threaded(wasm) : wasm;
  // with --jobs=N the children share the machine: each plans with 1/N of the ordinary-memory budget
  const limits = nodeMemoryLimits(kernels);
  const budget = { limits: { ...limits, host: Math.floor(limits.host / JOBS) }, source: `preset ${name}` };
  const preset = loadPresets()[name];
  if (!preset) throw new Error(`no preset ${name}`);
  const base = parseConfig(preset, `presets/${name}.json`);
  const seconds = (f: () => void): number => {
    const t0 = performance.now();
    f();
    return (performance.now() - t0) / 1000;
  };
  const common = { preset: name, task: base.task, batch: base.batchSize };
  if (isLmTask(base.task)) {
    const { loadCorpus } = await import("../packages/cli/src/node/corpus-files.js");
    const { longestSegment } = await import("../packages/cli/src/train/memory.js");
    const corpus = loadCorpus(base.task as "ptb" | "wikitext-2", join(DATA, base.task));
    const B = base.batchSize;
    const reduced = {
      vocab: corpus.vocab,
      train: corpus.train.subarray(0, B * (2 * longestSegment(base) + 1)),
      valid: corpus.valid.subarray(0, B * (base.lm.bptt + 1)),
      test: corpus.test.subarray(0, base.lm.bptt + 1),
    };
    // as egru train builds it: blocks, and replicas with --threads
    const { lmRunTrainer } = await import("../packages/cli/src/run/language-model.js");
    const trainer = lmRunTrainer(base, reduced, budget, kernels);
    const stepItems: number[] = [];
    const stepSeconds = [0, 1].map(() => seconds(() => stepItems.push(B * trainer.trainStep().T)));
    const evalSeconds = seconds(() => trainer.evaluate("valid", B));
    await trainer.replicas?.close();
    const rows = trainer.options.microBatch ?? B;
    return {
      ...common,
      parameters: parameterCount(trainer.model),
      microBatch: rows,
      blocks: Math.ceil(B / rows),
      stepSeconds,
      stepItems,
      unit: "tokens",
      threads: THREADS,
      evalRows: B,
      evalSeconds,
      maxRssBytes: 0,
    };
  }
  const { loadTask } = await import("../packages/cli/src/run/task-data.js");
  let data: string | undefined;
  if (base.task === DVS_TASK) {
    const { writeSynthGestures } = await import("../packages/cli/src/node/dvs-files.js");
    data = join(tmp, "dvs");
    // one clip per class and recording: enough for two training batches and one evaluation batch
    const users = Math.ceil(Math.max(2 * base.batchSize, base.evalBatchSize) / 4);
    writeSynthGestures(data, { classes: 4, trainUsers: users, testUsers: users, rate: 8, seed: 0 });
    process.env.EGRU_CACHE = join(tmp, "cache");
  }
  const c = parseConfig(
    { ...preset, data, validation: 0, trainLimit: 2 * base.batchSize, testLimit: base.evalBatchSize },
    name,
  );
  const task = loadTask(c, () => {});
  if (task.count("train") < 2 * c.batchSize)
    throw new Error(`${name}: only ${task.count("train")} training examples for two batches of ${c.batchSize}`);
  // as egru train builds it: blocks, evaluation rows, and replicas with --threads
  const { classifierTrainer } = await import("../packages/cli/src/run/classifier.js");
  const trainer = classifierTrainer(c, task, budget, kernels);
  const order = Int32Array.from({ length: 2 * c.batchSize }, (_, i) => i);
  const stepSeconds = [0, 1].map((k) =>
    seconds(() => trainer.trainStep(order.subarray(k * c.batchSize, (k + 1) * c.batchSize), 2)),
  );
  const evalSeconds = seconds(() => trainer.evaluate("test"));
  await trainer.replicas?.close();
  const rows = trainer.options.microBatch ?? c.batchSize;
  return {
    ...common,
    parameters: parameterCount(trainer.model),
    microBatch: rows,
    blocks: Math.ceil(c.batchSize / rows),
    stepSeconds,
    stepItems: [c.batchSize, c.batchSize],
    unit: "examples",
    threads: THREADS,
    evalRows: task.count("test"),
    evalSeconds,
    maxRssBytes: 0,
  };
}

/** What a child process left: its exit status and output. */
interface ChildOutput {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** One preset in its own child process (this file with --child). */
function runChild(name: string, tmp: string): Promise<ChildOutput> {
  const args = ["--conditions=egru-source", "--import", "tsx", fileURLToPath(import.meta.url)];
  const child = spawn(
    process.execPath,
    [...args, "--child", name, tmp, `--data=${DATA}`, `--jobs=${JOBS}`, `--threads=${THREADS}`],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-20000);
  });
  return new Promise((done) => {
    child.on("error", (e) => done({ status: null, stdout, stderr: `${stderr}${e.message}` }));
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const child = argv.indexOf("--child");
  if (child >= 0) {
    const r = await runOne(argv[child + 1], argv[child + 2]);
    r.maxRssBytes = process.resourceUsage().maxRSS * 1024;
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0); // the kernel threads, if any, would keep the child alive
  }
  const json = argv.includes("--json");
  const { loadPresets, PRESET_DIR } = await import("../packages/cli/src/node/presets.js");
  const { PRESETS } = await import("../packages/cli/src/train/config.js");
  const all = Object.keys(loadPresets(PRESET_DIR)).filter((n) => !(n in PRESETS));
  const wanted = argv.filter((a) => !a.startsWith("--"));
  const unknown = wanted.filter((n) => !all.includes(n));
  if (unknown.length) {
    process.stderr.write(`presets: no preset ${unknown.join(", ")} in presets/ (there are: ${all.join(", ")})\n`);
    return 2;
  }
  const jobs = JOBS;
  if (!Number.isInteger(jobs) || jobs < 1) {
    process.stderr.write(`presets: --jobs expects a whole number ≥ 1, got ${JOBS_ARG}\n`);
    return 2;
  }
  // the longest first (measured: docs/benchmarks.md §5), so that parallel jobs end together
  const order = [/^dvs-iclr$/, /smnist/, /^wikitext-2/, /^ptb-iclr-2000/, /^ptb-iclr-1350/, /^ptb-v0\.2/];
  const rank = (n: string): number => {
    const i = order.findIndex((re) => re.test(n));
    return i < 0 ? order.length : i;
  };
  const names = wanted.length ? wanted : [...all].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const cpu = cpus();
  if (!json) {
    console.log(
      `# presets at published sizes, reduced data: ${cpu[0]?.model ?? "unknown CPU"}, ${cpu.length} logical cores, ` +
        `${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${jobs} at a time, ${THREADS} kernel thread${THREADS > 1 ? "s" : ""} each; ${new Date().toISOString()}\n`,
    );
    console.log("| preset | parameters | batch | micro-batch | step (s) | training rate | eval batch (s) | peak RSS |");
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  }
  const t0 = performance.now();
  const failed: string[] = [];
  const report = (name: string, r: ChildOutput): void => {
    const line = r.stdout.trim().split("\n").pop() ?? "";
    let res: PresetResult | null = null;
    try {
      res = r.status === 0 ? (JSON.parse(line) as PresetResult) : null;
    } catch {
      res = null;
    }
    const minutes = ((performance.now() - t0) / 60000).toFixed(1);
    if (!res) {
      failed.push(name);
      const why = (r.stderr || `exit ${r.status}`).trim().split("\n").slice(-3).join(" / ");
      process.stderr.write(`presets: ${name} failed after ${minutes} min\n`);
      if (json) console.log(JSON.stringify({ preset: name, failed: why }));
      else console.log(`| ${name} | failed: ${why} | | | | | | |`);
      return;
    }
    process.stderr.write(`presets: ${name} done at ${minutes} min\n`);
    if (json) console.log(JSON.stringify(res));
    else {
      const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
      const step = sum(res.stepSeconds) / res.stepSeconds.length;
      const rate = sum(res.stepItems) / sum(res.stepSeconds);
      console.log(
        `| ${name} | ${res.parameters.toLocaleString("en-US")} | ${res.batch} | ${res.blocks > 1 ? `${res.microBatch} (${res.blocks} blocks)` : "whole"} | ` +
          `${step.toFixed(2)} | ${rate.toFixed(rate < 10 ? 2 : 0)} ${res.unit}/s | ${res.evalSeconds.toFixed(2)} (${res.evalRows} rows) | ${mib(res.maxRssBytes)} |`,
      );
    }
  };
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const name = names[next++];
      process.stderr.write(`presets: ${name} started (${next} of ${names.length})\n`);
      const tmp = mkdtempSync(join(tmpdir(), "egru-presets-"));
      try {
        report(name, await runChild(name, tmp));
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, names.length) }, worker));
  const total = (performance.now() - t0) / 1000;
  if (!json)
    console.log(
      `\n${names.length - failed.length} of ${names.length} presets ran in ${(total / 60).toFixed(1)} min${failed.length ? `; failed: ${failed.join(", ")}` : ""}`,
    );
  return failed.length ? 1 : 0;
}

process.exitCode = await main();
