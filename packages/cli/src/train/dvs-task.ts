// DVS Gesture as a classification task (isomorphic): clips [T, C, S, S] (data/dvs-frames.ts) and
// their labels served as time-major batches [T, B, C·S·S]. A seeded share of the training clips is
// held out for validation; with protocol "authors" every training clip trains and the test set is the
// validation split, as the official code selects models (docs/paper-setups.md#quirks-of-the-official-code-reproduce-or-fix, quirk 17).
// Training batches are augmented when asked, with a random stream derived from the seed and the
// training step, so a resumed run augments exactly as an uninterrupted one.

import { Rng, ValueError } from "egru";
import { augmentClip, type ClipAugment } from "../data/dvs-frames.js";
import type { ClassificationTask, SplitName } from "./task.js";

/** Clips [T, C, S, S] and their labels; clip(i) may read from memory or from a file, one at a time. */
export interface DvsClips {
  count: number;
  labels: number[];
  clip(i: number): Float32Array;
  /**
   * Optional: clip i's T frames of I = C·S·S floats written straight into rows t·B + b of the
   * time-major batch x [T, B, I], which hold zeros (a file's clips: only their nonzero values are
   * read and written).
   */
  clipInto?(i: number, x: Float32Array, b: number, B: number, I: number): void;
}

/** Clips held in memory. */
export function memoryClips(clips: Float32Array[], labels: number[]): DvsClips {
  if (clips.length !== labels.length)
    throw new ValueError("clips", `one label per clip (${clips.length})`, String(labels.length));
  return { count: clips.length, labels, clip: (i) => clips[i] };
}

export interface DvsTaskOptions {
  T: number;
  C: number;
  /** Frame side. */
  S: number;
  classes: number;
  validation: number;
  seed: number;
  augment: ClipAugment | null;
  /** "authors": every training clip trains and the test set is the validation split (see config.ts). */
  protocol?: "holdout" | "authors";
  trainLimit?: number;
  testLimit?: number;
}

export function dvsTask(train: DvsClips, test: DvsClips, o: DvsTaskOptions): ClassificationTask {
  const I = o.C * o.S * o.S;
  const n = train.count;
  if (n === 0)
    throw new ValueError(
      "DVS training clips",
      "at least one window of a training sample",
      "none (are the recordings shorter than a window?)",
    );
  if (!Number.isInteger(o.validation) || o.validation < 0 || o.validation >= n)
    throw new ValueError("validation", `a whole number in [0, ${n}) (the training clips)`, String(o.validation));
  const order = new Rng(o.seed * 7 + 42).permutation(n);
  const valid = order.subarray(n - o.validation);
  let trainIdx = order.subarray(0, n - o.validation);
  if (o.trainLimit !== undefined) trainIdx = trainIdx.subarray(0, Math.min(o.trainLimit, trainIdx.length));
  const testCount = Math.min(o.testLimit ?? test.count, test.count);
  // the authors' protocol validates on the test set (model selection on test data, labelled as such)
  const onTest = o.protocol === "authors";
  const source = (split: SplitName): { set: DvsClips; idx: ArrayLike<number> | null } =>
    split === "test" || (split === "valid" && onTest)
      ? { set: test, idx: null }
      : { set: train, idx: split === "train" ? trainIdx : valid };
  const count = (split: SplitName): number =>
    split === "train" ? trainIdx.length : split === "valid" && !onTest ? valid.length : testCount;
  return {
    name: "dvs-gesture",
    T: o.T,
    I,
    classes: o.classes,
    count,
    sparseInput: true,
    frame: { channels: o.C, height: o.S, width: o.S },
    batch: (split, indices, step, alloc) => {
      const { set, idx } = source(split);
      const B = indices.length;
      const x = alloc ? alloc(o.T * B * I) : new Float32Array(o.T * B * I);
      const labels = new Uint8Array(B);
      const rng = split === "train" && o.augment ? new Rng(o.seed * 1_000_003 + 104_729 * ((step ?? 0) + 1)) : null;
      for (let b = 0; b < B; b++) {
        const k = indices[b];
        if (!Number.isInteger(k) || k < 0 || k >= count(split))
          throw new ValueError("batch index", `0 ≤ index < ${count(split)}`, String(k));
        const j = idx ? idx[k] : k;
        labels[b] = set.labels[j];
        if (!(rng && o.augment) && set.clipInto) {
          set.clipInto(j, x, b, B, I); // (x is a new batch: zeros)
          continue;
        }
        let clip = set.clip(j);
        if (rng && o.augment) clip = augmentClip(clip, o.T, o.C, o.S, rng, o.augment);
        for (let t = 0; t < o.T; t++) x.set(clip.subarray(t * I, (t + 1) * I), (t * B + b) * I);
      }
      return { x, labels };
    },
  };
}
