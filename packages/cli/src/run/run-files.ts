// Reading a finished (or interrupted) run directory back (Node only): its configuration, metrics
// records, vocabulary, and the model rebuilt with its best-validation weights (best.safetensors) or,
// failing that, its last checkpoint's. A run of weights only (egru import: config.json, model.json,
// best.safetensors, no checkpoint) is read the same way; it has no training state to resume.
// Errors name the file and line.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { decodeSafetensors, loadParamTensors, type ParamOwner, StateError, ValueError } from "egru";
import { checkSealed, readFileBytes, readFileText, readJsonFile } from "egru/node";
import { parseConfig, type TrainConfig } from "../train/config.js";
import { type LoadedCheckpoint, loadCheckpoint } from "./checkpoint.js";

/** Where a run of weights only records where its weights came from (egru import). */
export const IMPORT_FILE = "imported.json";

/** A run directory with weights (best.safetensors) and a configuration but no checkpoint: an imported run. */
export function isWeightsOnlyRun(dir: string): boolean {
  const has = (f: string): boolean => existsSync(join(dir, f));
  return !has("checkpoint.json") && !has("state.json") && has("config.json") && has("best.safetensors");
}

/** What `egru eval` needs of a path: the run directory, its checkpoint (null for weights only), the configuration. */
export function openForEval(path: string): {
  runDir: string;
  checkpoint: LoadedCheckpoint | null;
  config: TrainConfig;
  source: string;
} {
  if (isWeightsOnlyRun(path))
    return { runDir: path, checkpoint: null, config: readRunConfig(path), source: join(path, "config.json") };
  const checkpoint = loadCheckpoint(path, false); // (its weights are read, its state is not resumed)
  const source = `${join(checkpoint.dir, "state.json")}: config`;
  return { runDir: dirname(checkpoint.dir), checkpoint, config: parseConfig(checkpoint.state.config, source), source };
}

/** A run-directory file that must exist: its path, or a StateError naming what is missing. */
export function runFile(runDir: string, file: string): string {
  if (!existsSync(runDir))
    throw new StateError("run directory", "an existing run directory", `${runDir}, which does not exist`);
  const p = join(runDir, file);
  if (!existsSync(p)) throw new StateError(p, `the run's ${file}`, "missing (is this a run directory of egru train?)");
  return p;
}

export function readRunConfig(runDir: string): TrainConfig {
  const p = runFile(runDir, "config.json");
  return parseConfig(readJsonFile(p, "the run's configuration"), p);
}

/** The records of metrics.jsonl (a missing file gives none; a damaged line is an error naming it). */
export function readMetrics(runDir: string): Record<string, unknown>[] {
  const p = join(runDir, "metrics.jsonl");
  if (!existsSync(p)) return [];
  const out: Record<string, unknown>[] = [];
  readFileText(p, "the run's metrics, one JSON record a line")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      let r: unknown;
      try {
        r = JSON.parse(line);
      } catch (e) {
        throw new ValueError(`${p}: line ${i + 1}`, "a JSON record", `unparsable (${(e as Error).message})`);
      }
      if (typeof r !== "object" || r === null || typeof (r as { type?: unknown }).type !== "string") {
        throw new ValueError(`${p}: line ${i + 1}`, 'a JSON object with a "type"', line.slice(0, 60));
      }
      out.push(r as Record<string, unknown>);
    });
  return out;
}

/** The words of a language-model run's vocab.txt, in id order. */
export function readVocab(runDir: string): string[] {
  const words = readFileText(runFile(runDir, "vocab.txt"), "the run's vocabulary, one word a line").split("\n");
  if (words[words.length - 1] === "") words.pop();
  return words;
}

/** Load the run's best weights (best.safetensors), else its last checkpoint's; returns the file read. */
export function loadRunWeights(model: ParamOwner & { weightsChanged?: () => void }, runDir: string): string {
  const best = join(runDir, "best.safetensors");
  let source: string;
  if (existsSync(best)) {
    const bytes = readFileBytes(best, "the run's best weights");
    checkSealed(bytes, best); // the data's sha256, recorded when egru wrote the file
    loadParamTensors(model, decodeSafetensors(bytes, best).tensors, best);
    source = best;
  } else {
    const ck = loadCheckpoint(runDir, false);
    source = join(ck.dir, "model.safetensors");
    loadParamTensors(model, ck.model, source);
  }
  model.weightsChanged?.();
  return source;
}
