// The two models of the model API: the nn networks (nn/classifier.ts, nn/language-model.ts) with
// what a user of PyTorch or TF.js expects on top — a JSON-able config, stateDict()/loadStateDict()
// with PyTorch-style names, save(), and fit()/evaluate()/predict():
//   ClassifierModel  data { x [N, T, I], labels [N], T };  predict(x [N, T, I]) → logits [N, C], classes [N]
//   LmModel          data { tokens };                      predict(tokens [T, B]) → logits [T·B, V]
// createModel(config) and loadModel() return them; the CLI trains them as they are.

import { SequenceClassifier } from "../nn/classifier.js";
import { LanguageModel } from "../nn/language-model.js";
import type { ClassifierConfig, LanguageModelConfig } from "./config.js";
import type { SequenceData, TokenData } from "./data.js";
import {
  evaluateClassifier,
  evaluateLanguageModel,
  predictClassifier,
  predictLanguageModel,
  type ClassifierEvaluation,
  type LmEvaluation,
} from "./evaluate.js";
import { fit, type FitOptions, type FitResult } from "./fit.js";
import { weightFormatOf } from "./int8-network.js";
import type { WeightFormat } from "../layers/int8-weights.js";
import {
  loadModelStateDict,
  modelConfigOf,
  modelStateDict,
  saveModelBytes,
  type Network,
  type SavedModel,
} from "./model-state.js";
import type { StateDict } from "./state-dict.js";

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a mixin's constructor takes any arguments
type NetworkClass = new (...args: any[]) => object;

/** The state dict and save() over either network. */
function withStateDict<TBase extends NetworkClass>(Base: TBase) {
  return class extends Base {
    /** Every parameter by PyTorch-style name (copies, in PyTorch's layouts; see model-state.ts). */
    stateDict(): StateDict {
      return modelStateDict(this as unknown as Network);
    }

    /** Set every parameter from a state dict (names and shapes checked before anything changes: ShapeError). */
    loadStateDict(dict: StateDict): void {
      loadModelStateDict(this as unknown as Network, dict);
    }

    /** "int8" when the model's weights are int8 (quantize(): inference only), else "float32". */
    get weightFormat(): WeightFormat {
      return weightFormatOf(this as unknown as Network);
    }

    /** The weights (safetensors bytes, state-dict names) and the JSON-able configuration; loadModel() reads them back. */
    save(): SavedModel {
      return saveModelBytes(this as unknown as Network);
    }
  };
}

export class ClassifierModel extends withStateDict(SequenceClassifier) {
  /** The JSON-able configuration: createModel(config) builds this model again (fresh weights). */
  get config(): ClassifierConfig {
    return modelConfigOf(this) as ClassifierConfig;
  }

  /** Train (see fit.ts); yields to the event loop between batches. */
  fit(data: SequenceData, opts: FitOptions = {}): Promise<FitResult> {
    return fit(this, data, opts);
  }

  /** Loss, accuracy, sparsity and MACs, batchSize examples at a time (default 1000). */
  evaluate(data: SequenceData, opts: { batchSize?: number } = {}): ClassifierEvaluation {
    return evaluateClassifier(this, data, opts);
  }

  /** Logits [N, C] and classes [N] of x [N, T, I]. */
  predict(
    x: ArrayLike<number>,
    opts: { T: number; batchSize?: number },
  ): { logits: Float32Array; classes: Int32Array } {
    return predictClassifier(this, x, opts);
  }
}

export class LmModel extends withStateDict(LanguageModel) {
  /** The JSON-able configuration: createModel(config) builds this model again (fresh weights). */
  get config(): LanguageModelConfig {
    return modelConfigOf(this) as LanguageModelConfig;
  }

  /** Train on a token stream (see fit.ts): batchSize streams, bptt segments, the state carried. */
  fit(data: TokenData, opts: FitOptions = {}): Promise<FitResult> {
    return fit(this, data, opts);
  }

  /** Loss per token and perplexity: batchSize streams (default 1) walked in bptt segments (default 35). */
  evaluate(data: TokenData, opts: { batchSize?: number; bptt?: number } = {}): LmEvaluation {
    return evaluateLanguageModel(this, data, opts);
  }

  /** Logits [T·B, V] of tokens [T, B] (time-major) from zero state. */
  predict(tokens: ArrayLike<number>, opts: { B?: number } = {}): { logits: Float32Array } {
    return predictLanguageModel(this, tokens, opts);
  }
}
