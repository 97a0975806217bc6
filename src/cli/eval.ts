// `egru eval RUN_DIR|CHECKPOINT_DIR [--split test|valid|train]`: rebuild the model of a checkpoint,
// evaluate it on a split, print the summary table (or one JSON line) and write eval-<split>.json
// into the run directory.

import { dirname, join } from "node:path";
import { loadCheckpoint, writeFileAtomic } from "../node/checkpoint.js";
import { buildTrainer, loadModelTensors } from "../train/build.js";
import { parseConfig } from "../train/config.js";
import { getKernels } from "../kernels/backend.js";
import { nodeMemoryLimits } from "../node/memory-limits.js";
import type { SplitName } from "../train/task.js";
import { progressBar } from "./progress.js";
import { EXIT_OK } from "./run.js";
import { loadTask } from "./task-data.js";
import { evalRecord, summaryLines } from "./train.js";

export interface EvalFlags {
  split: SplitName;
  json?: boolean;
  quiet?: boolean;
}

export async function evalCommand(path: string, f: EvalFlags, ctx: { kernels: string }): Promise<number> {
  const ck = loadCheckpoint(path);
  const config = parseConfig(ck.state.config, `${join(ck.dir, "state.json")}: config`);
  const task = loadTask(config);
  const source = `${join(ck.dir, "state.json")}: config`;
  const trainer = buildTrainer(config, task, { limits: nodeMemoryLimits(getKernels()), source });
  loadModelTensors(trainer.model, ck.model, join(ck.dir, "model.safetensors"));
  const n = task.count(f.split);
  const bar = progressBar(`eval ${f.split}`, n, [], { quiet: f.quiet || f.json });
  const t0 = performance.now();
  const r = trainer.evaluate(f.split, (done) => bar.update(done, {}));
  bar.stop();
  const record = { type: "eval", checkpoint: ck.dir, step: ck.state.position.step, kernels: ctx.kernels, seconds: (performance.now() - t0) / 1000, ...evalRecord(r) };
  const runDir = dirname(ck.dir);
  writeFileAtomic(join(runDir, `eval-${f.split}.json`), `${JSON.stringify(record, null, 2)}\n`);
  if (f.json) process.stdout.write(`${JSON.stringify(record)}\n`);
  else process.stdout.write(`egru eval: ${ck.dir} (step ${ck.state.position.step}), ${r.count} ${f.split} examples\n${summaryLines(r, config.model.cell).join("\n")}\n`);
  return EXIT_OK;
}
