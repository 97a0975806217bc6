// Loading a saved model in any JavaScript environment (no files): from the { weights, config }
// that model.save() returns, or from a single bundle (bundleModel: the config inside the
// safetensors metadata). Weights in the CLI's checkpoint form (parameter names, 1-D) load too, and
// so do int8 weights (I8 tensors, model/int8-state.ts): the model comes back with int8 weights.

import { ValueError } from "../core/errors.js";
import { decodeSafetensorsInt8, encodeSafetensors } from "../io/safetensors.js";
import { createModel, type Model, type ModelConfig, type ModelRuntimeOptions } from "./config.js";
import { loadWeightsInto, type SavedModel } from "./model-state.js";
import { quantizeNetwork } from "./int8-network.js";

/** One file holding both: the safetensors of the weights with the config as metadata "config". */
export function bundleModel(saved: SavedModel): Uint8Array {
  const { tensors, int8, metadata } = decodeSafetensorsInt8(saved.weights, "model weights");
  return encodeSafetensors({ ...tensors, ...int8 }, { ...metadata, config: JSON.stringify(saved.config) });
}

/**
 * Build the model of `config` and load `weights` into it: safetensors of a state dict (model.save(),
 * float32 or int8) or of the parameters by name (a CLI checkpoint), told apart by the metadata's
 * format. A bundle (bundleModel) carries its config and needs none. runtime.weights "int8" quantises
 * float32 weights after loading (quantize(); a file of int8 weights is int8 either way).
 */
export function loadModel(
  saved: SavedModel | Uint8Array,
  runtime: ModelRuntimeOptions = {},
  source = "model weights",
): Model {
  const weights = saved instanceof Uint8Array ? saved : saved.weights;
  const { metadata } = decodeSafetensorsInt8(weights, source);
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
  const model = createModel(config, { kernels: runtime.kernels });
  loadWeightsInto(model, weights, source);
  if (runtime.weights === "int8") quantizeNetwork(model, { axis: runtime.scaleAxis });
  return model;
}
