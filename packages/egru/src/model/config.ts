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

/** Every field of T, mapped to true: a list of T's keys that the compiler keeps complete. */
type KeyList<T> = { [K in keyof Required<T>]: true };

const CELL_KEYS = { dropConnect: true, dropConnectShape: true, zoneout: true, egru: true } as const;
const EGRU_KEYS: KeyList<NonNullable<LanguageModelConfig["egru"]>> = {
  thresholdMode: true,
  thresholdMean: true,
  dampeningFactor: true,
  pseudoDerivativeSupport: true,
  traceDecay: true,
  weightGain: true,
  gradClip: true,
};
const CONFIG_KEYS: { [T in ModelConfig["type"]]: KeyList<Extract<ModelConfig, { type: T }>> } = {
  "sequence-classifier": {
    ...CELL_KEYS,
    type: true,
    cell: true,
    inputSize: true,
    hiddenSize: true,
    layers: true,
    classes: true,
    readout: true,
    seed: true,
    sparseInput: true,
    frontEnd: true,
    inputDropout: true,
    outputDropout: true,
    activityWeight: true,
    activityTarget: true,
    stateWeight: true,
    stateTarget: true,
    stateMeanWeight: true,
  },
  "language-model": {
    ...CELL_KEYS,
    type: true,
    cell: true,
    vocab: true,
    embedding: true,
    hidden: true,
    layers: true,
    seed: true,
    dropoutWords: true,
    dropoutEmbedding: true,
    dropoutForward: true,
    dropoutOutput: true,
    dropoutMask: true,
    arWeight: true,
    tarWeight: true,
    arOutput: true,
  },
};

/**
 * A field the configuration's type does not have is refused (ValueError naming it), not ignored: a
 * misplaced option (an EGRU option outside "egru", say) would otherwise build a different model silently.
 */
function checkConfigKeys(config: ModelConfig): void {
  const known: Record<string, true> = CONFIG_KEYS[config.type];
  for (const key of Object.keys(config))
    if (!Object.hasOwn(known, key))
      throw new ValueError(
        `model config: ${key}`,
        Object.hasOwn(EGRU_KEYS, key)
          ? `no such field in a ${config.type} config (EGRU options go under "egru")`
          : `no such field in a ${config.type} config`,
        JSON.stringify(config[key as keyof ModelConfig]),
      );
  if (config.egru === undefined || config.egru === null) return;
  if (typeof config.egru !== "object")
    throw new ValueError("model config: egru", "an object", JSON.stringify(config.egru));
  for (const key of Object.keys(config.egru))
    if (!Object.hasOwn(EGRU_KEYS, key))
      throw new ValueError(
        `model config: egru.${key}`,
        "no such EGRU option",
        JSON.stringify(config.egru[key as keyof typeof config.egru]),
      );
}

/** Build the model a configuration describes (fresh weights from its seed). */
export function createModel(config: ClassifierConfig, runtime?: ModelRuntimeOptions): ClassifierModel;
export function createModel(config: LanguageModelConfig, runtime?: ModelRuntimeOptions): LmModel;
export function createModel(config: ModelConfig, runtime?: ModelRuntimeOptions): Model;
export function createModel(config: ModelConfig, runtime: ModelRuntimeOptions = {}): Model {
  if (typeof config !== "object" || config === null) throw new ValueError("model config", "an object", String(config));
  const { type, ...rest } = config;
  if (type === "sequence-classifier" || type === "language-model") checkConfigKeys(config);
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
