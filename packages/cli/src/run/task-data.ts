// Where a configuration's data comes from (Node only): MNIST for the classifier tasks (the packaged
// copy or --data), the corpus directory for the language-model tasks (--data, or the cache that
// `egru data download` fills).

import { existsSync } from "node:fs";
import { join } from "node:path";
import { defaultCacheDir } from "../node/download.js";
import { loadMnist } from "../node/mnist-files.js";
import { DVS_TASK, type TrainConfig } from "../train/config.js";
import { dvsTask } from "../train/dvs-task.js";
import { loadDvsClips } from "../node/dvs-clips.js";
import { mnistTask, type ClassificationTask, type MnistTaskName } from "../train/task.js";
import { UsageError } from "./exit.js";

/** Load the classifier task's data for a configuration (messages, e.g. skipped recordings, go to `log`). */
export function loadTask(
  c: TrainConfig,
  log: (m: string) => void = (m) => process.stderr.write(`${m}\n`),
): ClassificationTask {
  if (c.task === DVS_TASK) return loadDvsTask(c, log);
  const { train, test } = loadMnist(c.data ?? null);
  return mnistTask(c.task as MnistTaskName, train, test, {
    validation: c.validation ?? 5000,
    trainLimit: c.trainLimit,
    testLimit: c.testLimit,
  });
}

/** DVS Gesture from --data (the real archive or `egru data synth-dvs`), frames cached on disk. */
function loadDvsTask(c: TrainConfig, log: (m: string) => void): ClassificationTask {
  if (!c.data)
    throw new UsageError(
      "--data",
      "the DvsGesture directory (README: Event-camera data; or egru data synth-dvs --out DIR)",
      "nothing",
    );
  if (!existsSync(c.data))
    throw new UsageError("--data", "the DvsGesture directory", `${c.data}, which does not exist`);
  const d = loadDvsClips(c.data, c.dvs, defaultCacheDir(), log);
  const { T, C, H } = d.shape;
  return dvsTask(d.train, d.test, {
    T,
    C,
    S: H,
    classes: d.classes,
    seed: c.seed,
    validation: c.dvs.protocol === "authors" ? 0 : (c.validation ?? Math.max(1, Math.round(d.train.count / 10))),
    augment: c.dvs.augment
      ? { minScale: c.dvs.cropScale, maxDegrees: c.dvs.rotateDegrees, perspective: c.dvs.perspective }
      : null,
    protocol: c.dvs.protocol,
    trainLimit: c.trainLimit,
    testLimit: c.testLimit,
  });
}

/** Where a language-model configuration's corpus is: --data, else the download cache. */
export function corpusPath(c: TrainConfig): string {
  return c.data ?? join(defaultCacheDir(), c.task);
}

/** The corpus directory of a language-model configuration, which must exist. */
export function corpusDir(c: TrainConfig): string {
  const dir = corpusPath(c);
  if (!existsSync(dir)) {
    throw new UsageError(
      "--data",
      `a directory with the ${c.task} files (get them with: egru data download ${c.task})`,
      `${dir}, which does not exist`,
    );
  }
  return dir;
}
