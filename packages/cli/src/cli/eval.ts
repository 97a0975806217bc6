// `egru eval RUN_DIR|CHECKPOINT_DIR [--split test|valid|train]`: rebuild the model of a checkpoint,
// evaluate it on a split, print the summary table (or one JSON line) and write eval-<split>.json
// into the run directory. A language-model run is evaluated as `egru train` ends: its best-validation
// weights (a named checkpoint directory: that checkpoint's) on the validation and test splits at the
// test batch size, each split's record written and printed.

import { dirname, join, resolve } from "node:path";
import { defaultKernels } from "egru";
import { loadCheckpoint, writeFileAtomic, type LoadedCheckpoint } from "../node/checkpoint.js";
import { loadCorpus, type CorpusName } from "../node/corpus-files.js";
import { loadRunWeights } from "../node/run-files.js";
import { buildTrainer, loadModelTensors } from "../train/build.js";
import { nodeMemoryLimits } from "../node/memory-limits.js";
import { isLmTask, parseConfig, type TrainConfig } from "../train/config.js";
import { buildLmTrainer } from "../train/lm-build.js";
import type { SplitName } from "../train/task.js";
import { progressBar } from "./progress.js";
import { EXIT_OK } from "./run.js";
import { corpusDir, loadTask } from "./task-data.js";
import { evaluateLm, lmEvalRecord, lmSummaryLines } from "./train-lm.js";
import { evalRecord, summaryLines } from "./train.js";

export interface EvalFlags {
  /** Default: test (language models: valid and test). */
  split?: SplitName;
  json?: boolean;
  quiet?: boolean;
}

export async function evalCommand(path: string, f: EvalFlags, ctx: { kernels: string }): Promise<number> {
  const ck = loadCheckpoint(path);
  const config = parseConfig(ck.state.config, `${join(ck.dir, "state.json")}: config`);
  if (isLmTask(config.task)) return evalLm(path, ck, config, f, ctx);
  const split = f.split ?? "test";
  const task = loadTask(config);
  const trainer = buildTrainer(config, task, {
    limits: nodeMemoryLimits(defaultKernels()),
    source: `${join(ck.dir, "state.json")}: config`,
  });
  loadModelTensors(trainer.model, ck.model, join(ck.dir, "model.safetensors"));
  const n = task.count(split);
  const bar = progressBar(`eval ${split}`, n, [], { quiet: f.quiet || f.json });
  const t0 = performance.now();
  const r = trainer.evaluate(split, (done) => bar.update(done, {}));
  bar.stop();
  const record = {
    type: "eval",
    checkpoint: ck.dir,
    step: ck.state.position.step,
    kernels: ctx.kernels,
    seconds: (performance.now() - t0) / 1000,
    ...evalRecord(r),
  };
  const runDir = dirname(ck.dir);
  writeFileAtomic(join(runDir, `eval-${split}.json`), `${JSON.stringify(record, null, 2)}\n`);
  if (f.json) process.stdout.write(`${JSON.stringify(record)}\n`);
  else
    process.stdout.write(
      `egru eval: ${ck.dir} (step ${ck.state.position.step}), ${r.count} ${split} examples\n${summaryLines(r, config.model.cell).join("\n")}\n`,
    );
  return EXIT_OK;
}

/** A language-model run: perplexities of its best weights (or the named checkpoint's) at the test batch size. */
function evalLm(
  path: string,
  ck: LoadedCheckpoint,
  config: TrainConfig,
  f: EvalFlags,
  ctx: { kernels: string },
): number {
  const runDir = dirname(ck.dir);
  const trainer = buildLmTrainer(config, loadCorpus(config.task as CorpusName, corpusDir(config)));
  let weights = join(ck.dir, "model.safetensors");
  if (resolve(path) === resolve(ck.dir)) {
    loadModelTensors(trainer.model, ck.model, weights);
    trainer.model.weightsChanged();
  } else {
    weights = loadRunWeights(trainer.model, runDir);
  }
  const splits = f.split ? [f.split] : (["valid", "test"] as const);
  const tb = config.lm.testBatchSize;
  const t0 = performance.now();
  const results = evaluateLm(trainer, [...splits], tb, f.quiet || f.json === true);
  const seconds = (performance.now() - t0) / 1000;
  for (const r of results) {
    const record = {
      type: "eval",
      weights,
      step: ck.state.position.step,
      kernels: ctx.kernels,
      seconds,
      ...lmEvalRecord(r),
    };
    writeFileAtomic(join(runDir, `eval-${r.split}.json`), `${JSON.stringify(record, null, 2)}\n`);
    if (f.json) process.stdout.write(`${JSON.stringify(record)}\n`);
  }
  if (!f.json) {
    const test = results[results.length - 1];
    const valid = results.length > 1 ? results[0] : null;
    process.stdout.write(
      `egru eval: ${config.task} language model, weights ${weights}\n${lmSummaryLines(valid, test, config.model.cell).join("\n")}\n`,
    );
  }
  return EXIT_OK;
}
