// `npm run bench`: every benchmark, one after the other in one run on this machine, after a
// header naming the machine. Each part is its own script (runnable alone):
//   bench/kernels.bench.ts   dense products and the event-vs-dense sweep (activity × H × B)
//   bench/threads.bench.ts   dense products on 1 and 2 threads (the worker pool)
//   bench/baselines.ts       inference step latency and training throughput at the language-
//                            model size: egru EGRU and GRU against PyTorch and onnxruntime-node
//   bench/int8-products.ts   the int8 products against the float32 ones at the stack's shapes
//   bench/pointwise.ts       the EGRU cell's forward and the loss's softmax
// Arguments after `--` go to both scripts (e.g. --json). Results are recorded, with the machine,
// in docs/benchmarks.md.

import { spawnSync } from "node:child_process";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const cpu = cpus();
console.log(
  `# machine: ${cpu[0]?.model ?? "unknown CPU"}, ${cpu.length} logical cores, ` +
    `${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}; ${new Date().toISOString()}`,
);
let failed = false;
for (const script of ["kernels.bench.ts", "threads.bench.ts", "baselines.ts", "int8-products.ts", "pointwise.ts"]) {
  console.log(`\n## ${script}\n`);
  const r = spawnSync(process.execPath, ["--conditions=egru-source", "--import", "tsx", join(here, script), ...args], {
    stdio: "inherit",
  });
  if (r.status !== 0) {
    console.error(`bench: ${script} failed (exit ${r.status})`);
    failed = true;
  }
}
process.exitCode = failed ? 1 : 0;
