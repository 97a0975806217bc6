// Fuzz: a run's checkpoint damaged at random (state.json's value, the tensor files' headers and
// bytes, checkpoint.json), resumed as egru train --resume resumes it: exactly what was saved, or a
// typed error naming the file. And the regressions it found: a state.json value nested 10^5 deep gave
// a RangeError (JSON.stringify), a checkpoint.json that is a link to nothing or to itself was
// reported as "no checkpoint", and a current checkpoint that is not there was named by its
// state.json instead of by checkpoint.json's field.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { loadCheckpoint } from "../../packages/cli/src/run/checkpoint.js";
import { CHECKPOINT } from "./format-checkpoint.js";
import { checkFormat, inTempDir } from "./property.js";

test("damaged checkpoints resume exactly as saved, or are refused naming the file", () => {
  checkFormat(CHECKPOINT, 100);
});

/** Write the fuzz format's checkpoint (ckpt-00000007) into the run directory `dir`. */
function writeCheckpoint(dir: string): void {
  for (const [path, bytes] of Object.entries(CHECKPOINT.instance())) {
    mkdirSync(join(dir, path, ".."), { recursive: true });
    writeFileSync(join(dir, path), bytes);
  }
}

/** loadCheckpoint(dir) fails with a message that starts with `start` and matches `re`. */
function refused(dir: string, start: string, re: RegExp): void {
  assert.throws(
    () => loadCheckpoint(dir),
    (e: Error) => e.message.startsWith(start) && re.test(e.message),
  );
}

test("a broken checkpoint.json link, a missing current checkpoint and a deep state.json are named", () => {
  inTempDir((dir) => {
    writeCheckpoint(dir);
    assert.equal(loadCheckpoint(dir).state.position.step, 7);
    const pointer = join(dir, "checkpoint.json");
    const state = join(dir, "ckpt-00000007", "state.json");
    const text = readFileSync(state, "utf8");
    writeFileSync(state, text.replace('"format"', `"deep":${"[".repeat(100_000)}${"]".repeat(100_000)},"format"`));
    refused(dir, `${state}: expected JSON nested at most 64 levels`, /got deeper nesting$/);
    writeFileSync(state, text);
    writeFileSync(pointer, JSON.stringify({ current: "ckpt-00000009", step: 9 }));
    refused(
      dir,
      `${pointer}: current: expected a checkpoint directory of this run`,
      /"ckpt-00000009", which is not there$/,
    );
    rmSync(pointer);
    symlinkSync(pointer, pointer);
    refused(dir, `${pointer}: expected a file`, /a loop of symbolic links$/);
    rmSync(pointer);
    symlinkSync(join(dir, "nowhere"), pointer);
    refused(dir, `${pointer}: expected a file`, /nothing there$/);
  });
});
