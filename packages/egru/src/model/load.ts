// Loading a saved model in any JavaScript environment (no files): from the { weights, config }
// that model.save() returns, or from a single bundle (bundleModel: the config inside the
// safetensors metadata). Weights in the CLI's checkpoint form (parameter names, 1-D) load too.

import { ValueError } from "../core/errors.js";
import { decodeSafetensors, encodeSafetensors } from "../io/safetensors.js";
import { createModel, type Model, type ModelConfig, type ModelRuntimeOptions } from "./config.js";
import { loadModelStateDict, MODEL_FORMAT, type SavedModel } from "./model-state.js";
import { loadParamTensors } from "./params-io.js";

/** One file holding both: the safetensors of the weights with the config as metadata "config". */
export function bundleModel(saved: SavedModel): Uint8Array {
  const { tensors, metadata } = decodeSafetensors(saved.weights, "model weights");
  return encodeSafetensors(tensors, { ...metadata, config: JSON.stringify(saved.config) });
}

/**
 * Build the model of `config` and load `weights` into it: safetensors of a state dict (model.save())
 * or of the parameters by name (a CLI checkpoint), told apart by the metadata's format.
 * A bundle (bundleModel) carries its config and needs none.
 */
export function loadModel(
  saved: SavedModel | Uint8Array,
  runtime: ModelRuntimeOptions = {},
  source = "model weights",
): Model {
  const weights = saved instanceof Uint8Array ? saved : saved.weights;
  const { tensors, metadata } = decodeSafetensors(weights, source);
  let config: ModelConfig;
  if (saved instanceof Uint8Array) {
    if (typeof metadata.config !== "string")
      throw new ValueError(`${source}: metadata config`, "a model bundle (bundleModel) with its config", "no config");
    try {
      config = JSON.parse(metadata.config) as ModelConfig;
    } catch (e) {
      throw new ValueError(`${source}: metadata config`, "JSON", `unparsable (${(e as Error).message})`);
    }
  } else config = saved.config;
  const model = createModel(config, runtime);
  if (metadata.format === MODEL_FORMAT) loadModelStateDict(model, tensors, source);
  else {
    loadParamTensors(model, tensors, source);
    if ("decoder" in model) model.weightsChanged();
  }
  return model;
}
