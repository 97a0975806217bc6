// Fuzz: MNIST IDX files (raw and gzip) damaged at random, read as egru train reads --data; and the
// regression it found: a dataset file that is a link to nothing, or to itself, is named as such
// (it was reported as "neither exists", the file and its .gz both).

import assert from "node:assert/strict";
import { symlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { EgruError } from "../../packages/egru/src/core/errors.js";
import { readDataFile } from "../../packages/cli/src/node/data-files.js";
import { IDX } from "./format-idx.js";
import { checkFormat, inTempDir } from "./property.js";

test("damaged IDX files give MNIST splits or typed errors naming the file", () => {
  checkFormat(IDX, 100);
});

test("a dataset file that is a broken or looping link is read, and named with the reason", () => {
  inTempDir((dir) => {
    const dangling = join(dir, "train-images-idx3-ubyte");
    const loop = join(dir, "train-labels-idx1-ubyte");
    symlinkSync(join(dir, "nowhere"), dangling);
    symlinkSync(loop, loop);
    for (const [path, why] of [
      [dangling, "nothing there"],
      [loop, "a loop of symbolic links"],
    ])
      assert.throws(
        () => readDataFile(dir, path.slice(dir.length + 1)),
        (e: Error) =>
          e instanceof EgruError && e.message.startsWith(`${path}: expected a file`) && e.message.endsWith(why),
      );
  });
});
