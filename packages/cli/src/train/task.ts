// A classification task as the trainer sees it: three splits of sequences with labels, served
// as time-major batches. MNIST (data/mnist.ts) is here; DVS Gesture is in dvs-task.ts.

import { Rng, ValueError } from "egru";
import { mnistBatch, mnistShape, MNIST_CLASSES, type MnistSplit, type MnistVariant } from "../data/mnist.js";

export type SplitName = "train" | "valid" | "test";

export interface ClassificationTask {
  /** Name for logs, e.g. "mnist-row". */
  readonly name: string;
  /** Sequence length and input features per step. */
  readonly T: number;
  readonly I: number;
  readonly classes: number;
  /** The inputs are mostly zeros (event-camera frames), so input products may skip them. */
  readonly sparseInput?: boolean;
  /** Each step's input is an image [channels, height, width] (a CNN front-end can read it). */
  readonly frame?: { channels: number; height: number; width: number };
  /** Examples in each split. */
  count(split: SplitName): number;
  /**
   * A batch of examples `indices` (0 … count − 1) of a split: x [T, B, I] and labels [B]. `step`
   * (training batches: the optimizer step) seeds any augmentation, so a resumed run repeats it.
   * `alloc`, where given, makes x (zeros of n floats, e.g. in the kernels' memory; a task may ignore it).
   */
  batch(
    split: SplitName,
    indices: ArrayLike<number>,
    step?: number,
    alloc?: (n: number) => Float32Array,
  ): { x: Float32Array; labels: Uint8Array };
}

export type MnistTaskName = "mnist-row" | "smnist" | "psmnist";

const VARIANTS: Record<MnistTaskName, MnistVariant> = { "mnist-row": "row", smnist: "pixel", psmnist: "permuted" };

/**
 * MNIST as a sequence task. The validation split is `validation` examples held out of the 60,000
 * training images by a fixed shuffle (seed 42, as the paper's script splits 80/20), the rest train;
 * `trainLimit` / `testLimit` keep only the first examples of a split (quick runs and tests).
 */
export function mnistTask(
  name: MnistTaskName,
  train: MnistSplit,
  test: MnistSplit,
  opts: { validation: number; trainLimit?: number; testLimit?: number },
): ClassificationTask {
  const variant = VARIANTS[name];
  if (!variant) throw new ValueError("task", '"mnist-row", "smnist" or "psmnist"', JSON.stringify(name));
  if (!Number.isInteger(opts.validation) || opts.validation < 0 || opts.validation >= train.count) {
    throw new ValueError("validation", `a whole number in [0, ${train.count})`, String(opts.validation));
  }
  const order = new Rng(42).permutation(train.count);
  const validIdx = order.subarray(train.count - opts.validation);
  let trainIdx = order.subarray(0, train.count - opts.validation);
  if (opts.trainLimit !== undefined) trainIdx = trainIdx.subarray(0, Math.min(opts.trainLimit, trainIdx.length));
  const testCount = Math.min(opts.testLimit ?? test.count, test.count);
  const { T, I } = mnistShape(variant);
  const pick = (idx: Int32Array, at: ArrayLike<number>): Int32Array =>
    Int32Array.from(at, (k) => {
      if (!Number.isInteger(k) || k < 0 || k >= idx.length)
        throw new ValueError("batch index", `0 ≤ index < ${idx.length}`, String(k));
      return idx[k];
    });
  return {
    name,
    T,
    I,
    classes: MNIST_CLASSES,
    count: (split) => (split === "train" ? trainIdx.length : split === "valid" ? validIdx.length : testCount),
    batch: (split, indices) => {
      if (split === "test") {
        for (let b = 0; b < indices.length; b++) {
          const k = indices[b];
          if (!Number.isInteger(k) || k < 0 || k >= testCount)
            throw new ValueError("batch index", `0 ≤ index < ${testCount}`, String(k));
        }
        return mnistBatch(test, indices, variant);
      }
      return mnistBatch(train, pick(split === "train" ? trainIdx : validIdx, indices), variant);
    },
  };
}
