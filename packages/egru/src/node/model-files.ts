// Saving and loading models on disk (Node only). saveModel(model, dir) writes model.json (the
// configuration) and model.safetensors (the state dict; int8 weights as I8 tensors); sealedBundle()
// gives the one-file form (bundleModel) sealed with its data's sha256. loadModel(path) reads back
//   a directory of saveModel:          model.json + model.safetensors
//   a run directory of `egru train`:   model.json + best.safetensors (best validation weights),
//                                      else the current checkpoint's ckpt-…/model.safetensors
//   a bundle file (bundleModel):       the config inside the safetensors metadata
// Every missing or damaged file is a typed error naming it.

import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StateError, ValueError } from "../core/errors.js";
import type { Model, ModelConfig, ModelRuntimeOptions } from "../model/config.js";
import { bundleModel, loadModel as loadFromBytes } from "../model/load.js";
import { decodeSafetensorsInt8 } from "../io/safetensors.js";
import { readFileBytes, readJsonFile } from "./read-file.js";
import { checkSealed, sealSafetensors } from "./sealed-safetensors.js";

export const MODEL_CONFIG_FILE = "model.json";
export const MODEL_WEIGHTS_FILE = "model.safetensors";

/** Safetensors bytes sealed with their data's sha256 (int8 tensors kept). */
function sealed(bytes: Uint8Array): Uint8Array {
  const { tensors, int8, metadata } = decodeSafetensorsInt8(bytes, "model weights");
  return sealSafetensors({ ...tensors, ...int8 }, metadata);
}

/** The bytes saveModel writes as model.safetensors: the weights sealed with their data's sha256. */
export function sealedWeights(model: Model): Uint8Array {
  return sealed(model.save().weights);
}

/** Write model.json and model.safetensors into dir (created if needed). */
export function saveModel(model: Model, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, MODEL_CONFIG_FILE), `${JSON.stringify(model.config, null, 2)}\n`);
  writeFileSync(join(dir, MODEL_WEIGHTS_FILE), sealedWeights(model));
}

/** The model as one file (bundleModel: the config in the metadata), sealed with its data's sha256; loadModel(file) reads it. */
export function sealedBundle(model: Model): Uint8Array {
  return sealed(bundleModel(model.save()));
}

const readJson = readJsonFile;

/** The weights file of a model or run directory (see the header). */
export function modelWeightsFile(dir: string): string {
  for (const f of [MODEL_WEIGHTS_FILE, "best.safetensors"]) if (existsSync(join(dir, f))) return join(dir, f);
  const pointer = join(dir, "checkpoint.json");
  if (!existsSync(pointer))
    throw new StateError(
      dir,
      `${MODEL_WEIGHTS_FILE}, best.safetensors or a checkpoint (checkpoint.json)`,
      "none of them",
    );
  const current = (readJson(pointer, "JSON naming the current checkpoint") as { current?: unknown }).current;
  // only a checkpoint directory of this run: "..", "/" or a path never leads out of it
  if (typeof current !== "string" || !/^ckpt-\d{1,12}$/.test(current))
    throw new ValueError(
      `${pointer}: current`,
      "a checkpoint directory name of this run (ckpt-NNNNNNNN)",
      JSON.stringify(current),
    );
  const file = join(dir, current, "model.safetensors");
  if (!existsSync(file)) throw new StateError(file, "the current checkpoint's weights", "missing");
  return file;
}

/** Load a model from a saveModel directory, an `egru train` run directory or a bundle file. */
export function loadModel(path: string, runtime: ModelRuntimeOptions = {}): Model {
  if (!existsSync(path)) throw new StateError(path, "a model directory, run directory or bundle file", "nothing there");
  if (!statSync(path).isDirectory()) {
    const bytes = readFileBytes(path, "a model bundle");
    checkSealed(bytes, path);
    return loadFromBytes(bytes, runtime, path);
  }
  const configPath = join(path, MODEL_CONFIG_FILE);
  if (!existsSync(configPath))
    throw new StateError(configPath, "the model's configuration (written by saveModel or egru train)", "missing");
  const config = readJson(configPath, "a model configuration in JSON") as ModelConfig;
  const weights = modelWeightsFile(path);
  const bytes = readFileBytes(weights, "the model's weights");
  checkSealed(bytes, weights);
  return loadFromBytes({ config, weights: bytes }, runtime, weights);
}
