// Where a configuration's data comes from (Node only): MNIST for the classifier tasks (the packaged
// copy or --data), the corpus directory for the language-model tasks (--data, or the cache that
// `egru data download` fills).

import { existsSync } from "node:fs";
import { join } from "node:path";
import { defaultCacheDir } from "../node/download.js";
import { loadMnist } from "../node/mnist-files.js";
import type { TrainConfig } from "../train/config.js";
import { mnistTask, type ClassificationTask, type MnistTaskName } from "../train/task.js";
import { UsageError } from "./run.js";

/** Load the classifier task's data for a configuration. */
export function loadTask(c: TrainConfig): ClassificationTask {
  const { train, test } = loadMnist(c.data ?? null);
  return mnistTask(c.task as MnistTaskName, train, test, { validation: c.validation, trainLimit: c.trainLimit, testLimit: c.testLimit });
}

/** The corpus directory of a language-model configuration: --data, else the download cache. */
export function corpusDir(c: TrainConfig): string {
  const dir = c.data ?? join(defaultCacheDir(), c.task);
  if (!existsSync(dir)) {
    throw new UsageError("--data", `a directory with the ${c.task} files (get them with: egru data download ${c.task})`, `${dir}, which does not exist`);
  }
  return dir;
}
