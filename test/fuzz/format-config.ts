// Fuzz format: a training configuration file, read as egru train --config reads one (configFromFlags:
// readJsonFile, checkConfigShape, mergeConfig over the preset, parseConfig) or as a run's config.json
// is read back (readRunConfig), the case's seed choosing which. JSON edits put wrong types, edge and
// huge numbers, numbers beyond a double, strings for numbers, reserved keys (__proto__), unknown
// fields and deep nesting anywhere in the value. A configuration egru accepts is written to the run's
// config.json and read again on --resume: it must come back from that round trip unchanged.

import { configFromFlags } from "../../packages/cli/src/cli/train.js";
import { readRunConfig } from "../../packages/cli/src/run/run-files.js";
import { parseConfig, type TrainConfig } from "../../packages/cli/src/train/config.js";
import { jsonFile } from "./codecs.js";
import type { FuzzFormat } from "./harness.js";

const FILE = "config.json";

/** A run's config.json: every field, as egru train writes it. */
function runConfig(): Uint8Array {
  const c = parseConfig({
    task: "mnist-row",
    model: { cell: "egru", hidden: 16, layers: 2, zoneout: 0.1, dropConnect: 0.2, readout: "trace" },
    optimizer: { kind: "adamw", lr: 3e-3, clip: 1, weightDecay: 0.01 },
    schedule: { kind: "plateau", factor: 0.5, patience: 1 },
    epochs: 3,
    batchSize: 32,
    validation: 100,
    trainLimit: 1000,
    seed: 7,
    microBatch: 16,
  });
  return Buffer.from(`${JSON.stringify(c, null, 2)}\n`, "utf8");
}

export const CONFIG: FuzzFormat<TrainConfig> = {
  name: "config",
  reads: "egru train --config FILE (configFromFlags); a run's config.json (readRunConfig)",
  instance: () => ({ [FILE]: runConfig() }),
  files: [{ path: FILE, json: jsonFile(2) }],
  tokens: ["{", "}", "[", '"', ":", ",", "1e400", "-", "null", '"__proto__":{},', "\\u0000"],
  read: (dir, seed) =>
    seed % 2 === 0 ? configFromFlags("default", { config: `${dir}/${FILE}` }).config : readRunConfig(dir),
  wrong: (c) => {
    let again: unknown;
    try {
      again = parseConfig(JSON.parse(JSON.stringify(c)), "the round trip");
    } catch (e) {
      return `accepted, but refused after a round trip through config.json: ${(e as Error).message}`;
    }
    return JSON.stringify(again) === JSON.stringify(c) ? null : "changed by a round trip through config.json";
  },
};
