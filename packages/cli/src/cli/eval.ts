// `egru eval RUN_DIR|CHECKPOINT_DIR [--split test|valid|train]`: the kind of the run evaluates its
// model (run/kind.ts: a classifier its checkpoint on one split; a language model its best-validation
// weights, or the named checkpoint's, on the validation and test splits at the test batch size);
// each split's record is written to eval-<split>.json in the run directory and printed as a table
// (or one JSON line each with --json). With --weights int8 the weights are quantised first (the
// library's quantizeNetwork, as egru quantize does) and the records go to eval-<split>-int8.json.
// Node only.

import { join } from "node:path";
import { defaultKernels, type Kernels, type ScaleAxis, type WeightFormat } from "egru";
import { writeFileAtomic } from "../node/atomic-file.js";
import { nodeMemoryLimits } from "../node/memory-limits.js";
import { kindOf } from "../run/kinds.js";
import { openForEval } from "../run/run-files.js";
import type { SplitName } from "../train/task.js";
import { EXIT_OK } from "./run.js";

export interface EvalFlags {
  /** Default: test (language models: valid and test). */
  split?: SplitName;
  json?: boolean;
  quiet?: boolean;
  /** "int8": quantise the weights first. Default float32. */
  weights?: WeightFormat;
  scaleAxis?: ScaleAxis;
}

export async function evalCommand(
  path: string,
  f: EvalFlags,
  ctx: { kernels?: Kernels; kernelName: string },
): Promise<number> {
  const { runDir, checkpoint, config, source } = openForEval(path);
  const kernels = ctx.kernels ?? defaultKernels();
  const out = kindOf(config).evaluate({
    path,
    runDir,
    checkpoint,
    config,
    split: f.split,
    kernels,
    kernelName: ctx.kernelName,
    budget: { limits: nodeMemoryLimits(kernels), source },
    quiet: f.quiet === true || f.json === true,
    int8: f.weights === "int8" ? { axis: f.scaleAxis ?? "output" } : null,
  });
  const suffix = f.weights === "int8" ? "-int8" : "";
  for (const record of out.records) {
    writeFileAtomic(join(runDir, `eval-${record.split}${suffix}.json`), `${JSON.stringify(record, null, 2)}\n`);
    if (f.json) process.stdout.write(`${JSON.stringify(record)}\n`);
  }
  if (!f.json) process.stdout.write(`${out.text}\n`);
  return EXIT_OK;
}
