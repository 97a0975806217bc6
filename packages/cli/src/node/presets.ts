// Named starting configurations for `egru train --preset`: the built-in default (src/train/config.ts)
// and the JSON recipes shipped in the package's presets/ folder (the paper's sequential-MNIST,
// DVS Gesture and language-model recipes, the LM's GRU and LSTM baselines of matching size, and
// the small PTB comparison). Node only.

import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { ValueError } from "egru";
import { PRESETS, type TrainConfigInput } from "../train/config.js";

/** The presets/ folder of the package (beside src/ and dist/). */
export const PRESET_DIR = fileURLToPath(new URL("../../presets/", import.meta.url));

/** Every preset by name: built-in first, then presets/<name>.json. */
export function loadPresets(dir = PRESET_DIR): Record<string, TrainConfigInput> {
  const out: Record<string, TrainConfigInput> = { ...PRESETS };
  let files: string[] = [];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith(".json"))
      .sort();
  } catch {
    return out; // no presets folder: the built-in ones only
  }
  for (const f of files) {
    const path = join(dir, f);
    try {
      out[f.slice(0, -5)] = JSON.parse(readFileSync(path, "utf8")) as TrainConfigInput;
    } catch (e) {
      throw new ValueError(path, "a JSON configuration", `unparsable (${(e as Error).message})`);
    }
  }
  return out;
}
