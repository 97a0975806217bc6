// The state dicts of the two models, with PyTorch-style dotted names:
//   sequence classifier   frontEnd.{k}.weight/bias (Conv2d [O, C, kh, kw], Linear [O, I]),
//                         rnn.… (the stack: nn.GRU/nn.LSTM names, or rnn.layers.{l}.kernel … for EGRU),
//                         head.weight [C, H], head.bias [C]
//   language model        encoder.weight [V, E] (the embedding), rnns.{l}.… (one module per layer,
//                         as AWD-LSTM and the EGRU LM hold them: sizes E→H→…→E differ),
//                         decoder.weight [V, E] (tied: the embedding again; optional on load, shape
//                         checked, value ignored), decoder.bias [V]
// and save(): the weights as safetensors bytes with the JSON-able configuration beside them (a model
// with int8 weights: I8 tensors and their scales, model/int8-state.ts; the state dict itself is always
// float32, the values the int8 weights stand for).

import { ValueError } from "../core/errors.js";
import { decodeSafetensorsInt8, encodeSafetensors, type Int8Tensor } from "../io/safetensors.js";
import type { SequenceClassifier } from "../nn/classifier.js";
import type { LanguageModel } from "../nn/language-model.js";
import type { ModelConfig } from "./config.js";
import { configOf } from "./config-of.js";
import { hasInt8, int8StateTensors, loadInt8StateDict } from "./int8-state.js";
import { loadParamTensors } from "./params-io.js";
import {
  cellEntries,
  linearEntries,
  loadStateDictInto,
  ownLayoutEntries,
  stackEntries,
  stateDictOf,
  type StateDict,
  type StateEntry,
} from "./state-dict.js";

/** The format tag in the metadata of a saved model's safetensors (state-dict names; the CLI's files, with parameter names, carry others). */
export const MODEL_FORMAT = "egru-state-dict-1";

/** A saved model: safetensors bytes of its state dict, and its configuration. */
export interface SavedModel {
  weights: Uint8Array;
  config: ModelConfig;
}

function classifierEntries(m: SequenceClassifier): StateEntry[] {
  const front = (m.frontEnd?.stages ?? []).flatMap((s, k): StateEntry[] => {
    if (s.kind === "linear") return linearEntries(`frontEnd.${k}.`, s.layer);
    if (s.kind !== "conv") return [];
    const g = s.layer.geometry;
    return ownLayoutEntries(`frontEnd.${k}.`, s.layer, {
      weight: [s.layer.outChannels, g.C, g.kh, g.kw],
      bias: [s.layer.outChannels],
    });
  });
  return [...front, ...stackEntries("rnn.", m.cells), ...linearEntries("head.", m.head)];
}

function lmEntries(m: LanguageModel): StateEntry[] {
  const emb = m.embedding;
  const V = emb.vocab;
  return [
    ...ownLayoutEntries("encoder.", emb, { weight: [V, emb.dim] }),
    ...m.cells.flatMap((c, l) => cellEntries(`rnns.${l}.`, c, 0)),
    { name: "decoder.bias", shape: [V], get: () => m.decoder.bias.slice(), set: (d) => m.decoder.bias.set(d) },
  ];
}

/** Either network, as the nn classes build it. */
export type Network = SequenceClassifier | LanguageModel;

const isLm = (m: Network): m is LanguageModel => "decoder" in m;

/** The JSON-able configuration of a network (see config.ts). */
export function modelConfigOf(m: Network): ModelConfig {
  return isLm(m) ? configOf("language-model", m.options) : configOf("sequence-classifier", m.options);
}

/** The state entries of either network. */
function modelEntries(m: Network): StateEntry[] {
  return isLm(m) ? lmEntries(m) : classifierEntries(m);
}

/** Every parameter by PyTorch-style name (copies, in PyTorch's layouts). */
export function modelStateDict(m: Network): StateDict {
  const dict = stateDictOf(modelEntries(m));
  if (isLm(m)) dict["decoder.weight"] = { ...dict["encoder.weight"], data: dict["encoder.weight"].data.slice() };
  return dict;
}

/** Set every parameter from a state dict (all checked first; see state-dict.ts for the errors). */
export function loadModelStateDict(m: Network, dict: StateDict, source = "state dict"): void {
  if (isLm(m)) {
    loadStateDictInto(lmEntries(m), dict, source, { "decoder.weight": [m.embedding.vocab, m.embedding.dim] });
    m.weightsChanged();
  } else {
    loadStateDictInto(classifierEntries(m), dict, source);
  }
}

/** Set a network from float32 tensors and int8 ones (a file of int8 weights; see int8-state.ts). */
export function loadModelInt8StateDict(
  m: Network,
  floats: StateDict,
  int8: Record<string, Int8Tensor>,
  source = "state dict",
): void {
  if (isLm(m)) {
    loadInt8StateDict(lmEntries(m), floats, int8, source, { "decoder.weight": [m.embedding.vocab, m.embedding.dim] });
    m.weightsChanged();
  } else loadInt8StateDict(classifierEntries(m), floats, int8, source);
}

/** The value of the metadata "weights" in the file of a model with int8 weights. */
export const INT8_WEIGHTS = "int8";

/** The model's weights (safetensors, state-dict names; int8 where its layers hold int8) and configuration. */
export function saveModelBytes(m: Network): SavedModel {
  const entries = modelEntries(m);
  if (hasInt8(entries))
    return {
      weights: encodeSafetensors(int8StateTensors(entries), { format: MODEL_FORMAT, weights: INT8_WEIGHTS }),
      config: modelConfigOf(m),
    };
  const dict = modelStateDict(m);
  if (isLm(m)) delete dict["decoder.weight"]; // tied: stored once
  return { weights: encodeSafetensors(dict, { format: MODEL_FORMAT }), config: modelConfigOf(m) };
}

/**
 * Set a network from the safetensors bytes of its weights: a state dict (save(), told by the
 * metadata's format; int8 tensors too) or the parameters by name (a CLI checkpoint, float32 only).
 * Returns the file's metadata.
 */
export function loadWeightsInto(m: Network, bytes: Uint8Array, source: string): Record<string, string> {
  const { tensors, int8, metadata } = decodeSafetensorsInt8(bytes, source);
  if (metadata.format === MODEL_FORMAT) loadModelInt8StateDict(m, tensors, int8, source);
  else {
    const first = Object.keys(int8)[0];
    if (first !== undefined)
      throw new ValueError(`${source}: tensor ${first}: dtype`, "F32 (a checkpoint's parameters are float32)", "I8");
    loadParamTensors(m, tensors, source);
    if (isLm(m)) m.weightsChanged();
  }
  return metadata;
}
