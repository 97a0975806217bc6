// Fuzz format: the MNIST IDX files as egru train reads a --data directory (loadMnist: readDataFile,
// then parseIdx and parseMnist), raw and gzip-compressed. Size fields: the magic number and every
// dimension (big-endian u32), and the gzip trailer's CRC and length.

import { gzipSync } from "node:zlib";
import type { MnistSplit } from "../../packages/cli/src/data/mnist.js";
import { loadMnist } from "../../packages/cli/src/node/mnist-files.js";
import type { Field } from "./damage.js";
import type { FuzzFormat } from "./harness.js";

/** An IDX file of unsigned bytes with this shape (elements i·7 mod `mod`). */
function idx(shape: number[], mod: number): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(4 + 4 * shape.length + count);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x800 | shape.length, false);
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) out[4 + 4 * shape.length + i] = (i * 7) % mod;
  return out;
}

/** The magic number and dimensions of an IDX file. */
const idxFields = (dims: number) => (): Field[] => [
  { name: "magic", at: 0, bytes: 4, little: false },
  ...Array.from({ length: dims }, (_, d) => ({
    name: `dimension ${d}`,
    at: 4 + 4 * d,
    bytes: 4 as const,
    little: false,
  })),
];

/** The gzip trailer: CRC-32 and the uncompressed length. */
const gzipFields = (bytes: Uint8Array): Field[] => [
  { name: "crc32", at: bytes.length - 8, bytes: 4, little: true },
  { name: "isize", at: bytes.length - 4, bytes: 4, little: true },
];

type Mnist = ReturnType<typeof loadMnist>;

/** What is wrong with an accepted split: its arrays against its count, a label outside 0…9. */
function splitWrong(s: MnistSplit, name: string): string | null {
  if (s.images.length !== s.count * 784) return `${name}: ${s.images.length} pixels for ${s.count} images`;
  if (s.labels.length !== s.count) return `${name}: ${s.labels.length} labels for ${s.count} images`;
  if (s.labels.some((l) => l > 9)) return `${name}: a label above 9`;
  return null;
}

export const IDX: FuzzFormat<Mnist> = {
  name: "idx",
  reads: "loadMnist(dir): readDataFile (raw or .gz), parseIdx, parseMnist",
  instance: () => ({
    "train-images-idx3-ubyte": idx([4, 28, 28], 256),
    "train-labels-idx1-ubyte": idx([4], 10),
    "t10k-images-idx3-ubyte.gz": gzipSync(idx([3, 28, 28], 256)),
    "t10k-labels-idx1-ubyte.gz": gzipSync(idx([3], 10)),
  }),
  files: [
    { path: "train-images-idx3-ubyte", fields: idxFields(3) },
    { path: "train-labels-idx1-ubyte", fields: idxFields(1) },
    { path: "t10k-images-idx3-ubyte.gz", fields: gzipFields },
    { path: "t10k-labels-idx1-ubyte.gz", fields: gzipFields },
  ],
  read: (dir) => loadMnist(dir),
  wrong: (r) => splitWrong(r.train, "train") ?? splitWrong(r.test, "test"),
};
