// MNIST as sequences, the way the EGRU paper's tasks read it (docs/paper-setups.md#sequential-mnist-setups):
//   row      28 steps of one image row (28 pixels) each — the built-in default task;
//   pixel    sequential MNIST (sMNIST): 784 steps of one pixel, row-major;
//   permuted psMNIST: 784 steps of one pixel in the fixed bit-reversal order.
// Pixels are scaled to [0, 1] (÷255, no mean/std normalisation, as the paper's script). Parsing
// is from bytes (isomorphic); reading the files is src/node/mnist-files.ts.

import { ShapeError, ValueError } from "egru";
import { parseIdx } from "./idx.js";

export type MnistVariant = "row" | "pixel" | "permuted";

export const MNIST_CLASSES = 10;
export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;

/** Images [N, 28·28] (row-major bytes, 0 = background) and labels [N] in 0…9. */
export interface MnistSplit {
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** Parse an images file and a labels file (decompressed IDX bytes) into one split. */
export function parseMnist(
  images: Uint8Array,
  labels: Uint8Array,
  names: { images: string; labels: string },
): MnistSplit {
  const im = parseIdx(images, names.images, 3);
  const lb = parseIdx(labels, names.labels, 1);
  const [n, rows, cols] = im.shape;
  if (rows !== MNIST_SIDE || cols !== MNIST_SIDE) {
    throw new ShapeError(`${names.images}: image size`, `${MNIST_SIDE}×${MNIST_SIDE}`, `${rows}×${cols}`);
  }
  if (lb.shape[0] !== n)
    throw new ShapeError(`${names.labels}: count`, `${n} labels (one per image)`, String(lb.shape[0]));
  for (let i = 0; i < n; i++) {
    if (lb.data[i] >= MNIST_CLASSES) throw new ValueError(`${names.labels}: label ${i}`, "0…9", String(lb.data[i]));
  }
  return { images: im.data, labels: lb.data, count: n };
}

/**
 * The bit-reversal permutation of EvNN's psMNIST: list the ⌈log2 n⌉-bit reversals of 0 … 2^bits − 1
 * in order and keep those below n. perm[k] is the pixel read at step k.
 */
export function bitReversalPermutation(n: number): Int32Array {
  const bits = Math.max(1, Math.ceil(Math.log2(n)));
  const out = new Int32Array(n);
  let k = 0;
  for (let i = 0; i < 1 << bits; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
    if (r < n) out[k++] = r;
  }
  return out;
}

const PERMUTATION = bitReversalPermutation(MNIST_PIXELS);

/** Sequence shape of a variant: T steps of I inputs. */
export function mnistShape(variant: MnistVariant): { T: number; I: number } {
  if (variant === "row") return { T: MNIST_SIDE, I: MNIST_SIDE };
  return { T: MNIST_PIXELS, I: 1 };
}

/**
 * A batch as a time-major float32 sequence x [T, B, I] (pixels ÷ 255) and its labels [B], from
 * the examples at `indices` of the split.
 */
export function mnistBatch(
  split: MnistSplit,
  indices: ArrayLike<number>,
  variant: MnistVariant,
): { x: Float32Array; labels: Uint8Array } {
  const B = indices.length;
  const { T, I } = mnistShape(variant);
  const x = new Float32Array(T * B * I);
  const labels = new Uint8Array(B);
  for (let b = 0; b < B; b++) {
    const n = indices[b];
    if (!Number.isInteger(n) || n < 0 || n >= split.count)
      throw new ShapeError("indices", `0 ≤ index < ${split.count}`, String(n));
    labels[b] = split.labels[n];
    const img = n * MNIST_PIXELS;
    for (let t = 0; t < T; t++) {
      for (let i = 0; i < I; i++) {
        const p = variant === "row" ? t * MNIST_SIDE + i : variant === "pixel" ? t : PERMUTATION[t];
        x[(t * B + b) * I + i] = split.images[img + p] / 255;
      }
    }
  }
  return { x, labels };
}
