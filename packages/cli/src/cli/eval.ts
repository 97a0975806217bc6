// `egru eval RUN_DIR|CHECKPOINT_DIR [--split test|valid|train]`: the kind of the run evaluates its
// model (run/kind.ts: a classifier its checkpoint on one split; a language model its best-validation
// weights, or the named checkpoint's, on the validation and test splits at the test batch size);
// each split's record is written to eval-<split>.json in the run directory and printed as a table
// (or one JSON line each with --json). Node only.

import { dirname, join } from "node:path";
import { defaultKernels, type Kernels } from "egru";
import { writeFileAtomic } from "../node/atomic-file.js";
import { nodeMemoryLimits } from "../node/memory-limits.js";
import { loadCheckpoint } from "../run/checkpoint.js";
import { kindOf } from "../run/kinds.js";
import { parseConfig } from "../train/config.js";
import type { SplitName } from "../train/task.js";
import { EXIT_OK } from "./run.js";

export interface EvalFlags {
  /** Default: test (language models: valid and test). */
  split?: SplitName;
  json?: boolean;
  quiet?: boolean;
}

export async function evalCommand(
  path: string,
  f: EvalFlags,
  ctx: { kernels?: Kernels; kernelName: string },
): Promise<number> {
  const checkpoint = loadCheckpoint(path);
  const source = `${join(checkpoint.dir, "state.json")}: config`;
  const config = parseConfig(checkpoint.state.config, source);
  const kernels = ctx.kernels ?? defaultKernels();
  const out = kindOf(config).evaluate({
    path,
    checkpoint,
    config,
    split: f.split,
    kernels,
    kernelName: ctx.kernelName,
    budget: { limits: nodeMemoryLimits(kernels), source },
    quiet: f.quiet === true || f.json === true,
  });
  const runDir = dirname(checkpoint.dir);
  for (const record of out.records) {
    writeFileAtomic(join(runDir, `eval-${record.split}.json`), `${JSON.stringify(record, null, 2)}\n`);
    if (f.json) process.stdout.write(`${JSON.stringify(record)}\n`);
  }
  if (!f.json) process.stdout.write(`${out.text}\n`);
  return EXIT_OK;
}
