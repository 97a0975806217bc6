// Fuzz: a training configuration file with its JSON value damaged at random (wrong types, edge and
// huge numbers, strings for numbers, __proto__, unknown fields, deep nesting), read as egru train
// --config and as a run's config.json: a configuration that survives its own round trip through
// config.json, or a typed error naming the file and field.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readRunConfig } from "../../packages/cli/src/run/run-files.js";
import { CONFIG } from "./format-config.js";
import { checkFormat, inTempDir } from "./property.js";

test("damaged configuration files give a configuration or typed errors naming the file", () => {
  checkFormat(CONFIG, 100);
});

test("a configuration nested 10^5 deep is refused naming the file, before anything walks it", () => {
  inTempDir((dir) => {
    const path = join(dir, "config.json");
    writeFileSync(path, `{"model":${'{"a":'.repeat(100_000)}0${"}".repeat(100_000)}}`);
    assert.throws(
      () => readRunConfig(dir),
      (e: Error) => e.name === "ValueError" && e.message.startsWith(`${path}: expected JSON nested at most 64 levels`),
    );
  });
});
