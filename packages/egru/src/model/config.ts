// Plain, JSON-able model configurations and the one factory from a configuration to a model.
// A configuration is a model's constructor options without the runtime-only ones (kernels, a
// custom event function), tagged with its type:
//   { type: "sequence-classifier", cell, inputSize, hiddenSize, layers, classes, readout, seed, … }
//   { type: "language-model", cell, vocab, embedding, hidden, layers, seed, dropout…, … }
// model.config returns it (defaults filled in); createModel(config, { kernels }) builds the model
// ({ weights: "int8" } makes its weights int8 after building: model/quantize.ts).

import { ValueError } from "../core/errors.js";
import type { Kernels } from "../kernels/backend.js";
import type { ScaleAxis } from "../kernels/int8.js";
import type { WeightFormat } from "../layers/int8-weights.js";
import type { ClassifierOptions } from "../nn/classifier.js";
import type { LanguageModelOptions } from "../nn/language-model.js";
import { ClassifierModel, LmModel } from "./models.js";
import { quantizeNetwork } from "./int8-network.js";

type JsonOptions<T> = Omit<T, "kernels" | "egru"> & { egru?: Omit<NonNullable<ClassifierOptions["egru"]>, "event"> };

export interface ClassifierConfig extends JsonOptions<ClassifierOptions> {
  type: "sequence-classifier";
}

export interface LanguageModelConfig extends JsonOptions<LanguageModelOptions> {
  type: "language-model";
}

export type ModelConfig = ClassifierConfig | LanguageModelConfig;

export type Model = ClassifierModel | LmModel;

/** Runtime options of a model that are not part of its configuration. */
export interface ModelRuntimeOptions {
  /** The kernels every layer computes with; default: the library's default kernels at each call. */
  kernels?: Kernels;
  /** "int8": int8 weights for inference (quantize(), model/quantize.ts); default "float32". */
  weights?: WeightFormat;
  /** With weights "int8": the units each scale belongs to (default "output"). */
  scaleAxis?: ScaleAxis;
}

/** Build the model a configuration describes (fresh weights from its seed). */
export function createModel(config: ClassifierConfig, runtime?: ModelRuntimeOptions): ClassifierModel;
export function createModel(config: LanguageModelConfig, runtime?: ModelRuntimeOptions): LmModel;
export function createModel(config: ModelConfig, runtime?: ModelRuntimeOptions): Model;
export function createModel(config: ModelConfig, runtime: ModelRuntimeOptions = {}): Model {
  if (typeof config !== "object" || config === null) throw new ValueError("model config", "an object", String(config));
  const { type, ...rest } = config;
  const w = runtime.weights ?? "float32";
  if (w !== "float32" && w !== "int8") throw new ValueError("weights", '"float32" or "int8"', JSON.stringify(w));
  let model: Model;
  if (type === "sequence-classifier")
    model = new ClassifierModel({ ...(rest as ClassifierOptions), kernels: runtime.kernels });
  else if (type === "language-model")
    model = new LmModel({ ...(rest as LanguageModelOptions), kernels: runtime.kernels });
  else throw new ValueError("model config: type", '"sequence-classifier" or "language-model"', JSON.stringify(type));
  if (w === "int8") quantizeNetwork(model, { axis: runtime.scaleAxis });
  return model;
}
