// Plain, JSON-able model configurations and the one factory from a configuration to a model.
// A configuration is a model's constructor options without the runtime-only ones (kernels, a
// custom event function), tagged with its type:
//   { type: "sequence-classifier", cell, inputSize, hiddenSize, layers, classes, readout, seed, … }
//   { type: "language-model", cell, vocab, embedding, hidden, layers, seed, dropout…, … }
// model.config returns it (defaults filled in); createModel(config, { kernels }) builds the model.

import { ValueError } from "../core/errors.js";
import type { Kernels } from "../kernels/backend.js";
import type { ClassifierOptions } from "../nn/classifier.js";
import type { LanguageModelOptions } from "../nn/language-model.js";
import { ClassifierModel, LmModel } from "./models.js";

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
}

/** Build the model a configuration describes (fresh weights from its seed). */
export function createModel(config: ClassifierConfig, runtime?: ModelRuntimeOptions): ClassifierModel;
export function createModel(config: LanguageModelConfig, runtime?: ModelRuntimeOptions): LmModel;
export function createModel(config: ModelConfig, runtime?: ModelRuntimeOptions): Model;
export function createModel(config: ModelConfig, runtime: ModelRuntimeOptions = {}): Model {
  if (typeof config !== "object" || config === null) throw new ValueError("model config", "an object", String(config));
  const { type, ...rest } = config;
  if (type === "sequence-classifier")
    return new ClassifierModel({ ...(rest as ClassifierOptions), kernels: runtime.kernels });
  if (type === "language-model") return new LmModel({ ...(rest as LanguageModelOptions), kernels: runtime.kernels });
  throw new ValueError("model config: type", '"sequence-classifier" or "language-model"', JSON.stringify(type));
}
