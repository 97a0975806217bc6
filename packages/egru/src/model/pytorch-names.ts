// The one name mapping between egru's models and their PyTorch twins (tools/egru_pytorch.py), whose
// module names are those of EvNN's benchmark models, so EvNN checkpoints load by name:
//   egru state dict                         PyTorch / EvNN
//   frontEnd.{k}.weight|bias                conv.{k'}.…        (nn.Sequential; k' = k, +1 from the Linear on: its Flatten)
//   rnn.layers.{l}.kernel|…|thr             layers.{l}.kernel|…|thr   (EvNN EGRU; thr_reparam with sigmoid thresholds, v0.1)
//   rnn.weight_ih_l{l} …                    layers.{l}.weight_ih_l0 … (one nn.GRU / nn.LSTM per layer)
//   head.weight|bias                        fc.weight|bias
//   encoder.weight                          embeddings.weight
//   rnns.{l}.…                              rnns.{l}.…         (thr → thr_reparam as above)
//   decoder.weight (tied), decoder.bias     decoder.decoder.weight (tied), decoder.decoder.bias
// plus EvNN's fixed scalars of every EGRU layer, dampening_factor, pseudo_derivative_support and
// _max_norm [1]: written on export (_max_norm is the clip inside backward, gradClip, or EvNN's −1 for
// none); on import the first two must equal the model's γ and s, _max_norm is read and ignored (the
// clip is the configuration's model.gradClip). Import also reads AWD's WeightDrop names of the GRU
// and LSTM language models (rnns.{l}.module.…, weight_hh_l0_raw). Every layout is PyTorch's already
// (state-dict.ts); only names change. Errors name the file, the tensor and both shapes.

import { ShapeError, ValueError } from "../core/errors.js";
import { encodeSafetensors } from "../io/safetensors.js";
import { EGRU } from "../layers/egru.js";
import type { SequenceClassifier } from "../nn/classifier.js";
import type { LanguageModel } from "../nn/language-model.js";
import { loadModelStateDict, modelConfigOf, modelStateDict, type Network } from "./model-state.js";
import type { StateDict } from "./state-dict.js";

/** The format tag of an exported model's config.json and safetensors metadata. */
export const PYTORCH_FORMAT = "egru-pytorch-1";

/** One tensor: its egru state-dict name, its PyTorch name and shape. */
export interface TorchName {
  egru: string;
  torch: string;
  shape: number[];
}

/** An EvNN fixed scalar [1] of an EGRU layer, and the model's value (null: read and ignored). */
export interface TorchConstant {
  torch: string;
  value: number;
  option: string | null;
}

export interface TorchLayout {
  names: TorchName[];
  constants: TorchConstant[];
}

/** The architecture tools/egru_pytorch.py builds (config.json of an export). */
export interface PytorchConfig {
  format: typeof PYTORCH_FORMAT;
  type: "sequence-classifier" | "language-model";
  cell: "egru" | "gru" | "lstm";
  layers: { input: number; hidden: number }[];
  egru: {
    thresholdMode: string;
    traceDecay: number;
    dampeningFactor: number;
    pseudoDerivativeSupport: number;
    /** The clip inside backward (EgruOptions.gradClip; 0 = off), also each layer's _max_norm. */
    gradClip: number;
  } | null;
  readout?: string;
  classes?: number;
  inputSize?: number;
  frontEnd?: { channels: number; height: number; width: number; layers: Record<string, unknown>[] } | null;
  vocab?: number;
  embedding?: number;
  /** Every tensor's PyTorch name and shape. */
  tensors: Record<string, number[]>;
  /** egru's own configuration of the model (model.json). */
  model: ReturnType<typeof modelConfigOf>;
}

const isLm = (m: Network): m is LanguageModel => "decoder" in m;

/** The index of frontEnd stage k in the PyTorch Sequential (a Flatten sits before the first Linear). */
function frontEndIndex(m: SequenceClassifier, k: number): number {
  const stages = m.frontEnd?.stages ?? [];
  const firstLinear = stages.findIndex((s) => s.kind === "linear");
  return firstLinear >= 0 && k >= firstLinear ? k + 1 : k;
}

/** The PyTorch name of a classifier's state-dict name. */
function classifierTorchName(m: SequenceClassifier, name: string): string {
  let g = /^frontEnd\.(\d+)\.(.+)$/.exec(name);
  if (g) return `conv.${frontEndIndex(m, Number(g[1]))}.${g[2]}`;
  g = /^rnn\.layers\.(\d+)\.(.+)$/.exec(name);
  if (g) return `layers.${g[1]}.${thresholdName(m.cells[Number(g[1])].layer, g[2])}`;
  g = /^rnn\.(weight|bias)_(ih|hh)_l(\d+)$/.exec(name);
  if (g) return `layers.${g[3]}.${g[1]}_${g[2]}_l0`;
  g = /^head\.(.+)$/.exec(name);
  if (g) return `fc.${g[1]}`;
  throw new ValueError("state dict name", "a classifier tensor", name);
}

/** The PyTorch name of a language model's state-dict name. */
function lmTorchName(m: LanguageModel, name: string): string {
  if (name === "encoder.weight") return "embeddings.weight";
  if (name.startsWith("decoder.")) return `decoder.${name}`;
  const g = /^rnns\.(\d+)\.(.+)$/.exec(name);
  if (g) return `rnns.${g[1]}.${thresholdName(m.cells[Number(g[1])].layer, g[2])}`;
  throw new ValueError("state dict name", "a language-model tensor", name);
}

/** EvNN v0.1 calls the threshold logits thr_reparam (sigmoid mode); v0.2's clamped thresholds are thr. */
function thresholdName(layer: unknown, name: string): string {
  return name === "thr" && layer instanceof EGRU && layer.thresholdMode === "sigmoid" ? "thr_reparam" : name;
}

/** Every tensor of the model under its PyTorch name, and EvNN's fixed scalars of its EGRU layers. */
export function pytorchLayout(m: Network): TorchLayout {
  const dict = modelStateDict(m);
  const names = Object.keys(dict).map((egru) => ({
    egru,
    torch: isLm(m) ? lmTorchName(m, egru) : classifierTorchName(m, egru),
    shape: dict[egru].shape,
  }));
  const constants = m.cells.flatMap((c, l): TorchConstant[] => {
    if (!(c.layer instanceof EGRU)) return [];
    const p = isLm(m) ? `rnns.${l}.` : `layers.${l}.`;
    return [
      { torch: `${p}dampening_factor`, value: c.layer.dampeningFactor, option: "model.dampeningFactor" },
      {
        torch: `${p}pseudo_derivative_support`,
        value: c.layer.pseudoDerivativeSupport,
        option: "model.pseudoDerivativeSupport",
      },
      { torch: `${p}_max_norm`, value: c.layer.gradClip > 0 ? c.layer.gradClip : -1, option: null },
    ];
  });
  return { names, constants };
}

/** The model's weights under PyTorch names (copies), EvNN's fixed scalars included. */
export function pytorchStateDict(m: Network): StateDict {
  const dict = modelStateDict(m);
  const { names, constants } = pytorchLayout(m);
  const out: StateDict = {};
  for (const n of names) out[n.torch] = dict[n.egru];
  for (const c of constants) out[c.torch] = { shape: [1], data: Float32Array.of(c.value) };
  return out;
}

/** The architecture of the model for tools/egru_pytorch.py. */
export function pytorchConfig(m: Network): PytorchConfig {
  const first = m.cells[0].layer;
  const egru =
    first instanceof EGRU
      ? {
          thresholdMode: first.thresholdMode,
          traceDecay: first.traceDecay,
          dampeningFactor: first.dampeningFactor,
          pseudoDerivativeSupport: first.pseudoDerivativeSupport,
          gradClip: first.gradClip,
        }
      : null;
  const tensors = Object.fromEntries(Object.entries(pytorchStateDict(m)).map(([k, t]) => [k, t.shape]));
  const common = {
    format: PYTORCH_FORMAT,
    cell: m.options.cell,
    layers: m.cells.map((c) => ({ input: c.inputSize, hidden: c.hiddenSize })),
    egru,
    tensors,
    model: modelConfigOf(m),
  } as const;
  if (isLm(m)) return { ...common, type: "language-model", vocab: m.embedding.vocab, embedding: m.embedding.dim };
  return {
    ...common,
    type: "sequence-classifier",
    readout: m.options.readout,
    classes: m.options.classes,
    inputSize: m.options.inputSize,
    frontEnd: frontEndConfig(m),
  };
}

/** The CNN front-end as the layers of a PyTorch Sequential (a Flatten before the Linear). */
function frontEndConfig(m: SequenceClassifier): PytorchConfig["frontEnd"] {
  const fe = m.options.frontEnd;
  if (!m.frontEnd || !fe) return null;
  const layers = m.frontEnd.stages.flatMap((s): Record<string, unknown>[] => {
    if (s.kind === "conv") {
      const g = s.layer.geometry;
      return [{ kind: "conv", in: g.C, out: s.layer.outChannels, kernel: g.kh, stride: g.stride, padding: g.pad }];
    }
    if (s.kind === "pool") return [{ kind: "pool", kernel: s.layer.kernel, stride: s.layer.stride }];
    if (s.kind === "relu") return [{ kind: "relu" }];
    return [{ kind: "flatten" }, { kind: "linear", in: s.layer.inputSize, out: s.layer.outputSize }];
  });
  return { channels: fe.channels, height: fe.height, width: fe.width, layers };
}

/** What `egru export --format pytorch` writes: safetensors of pytorchStateDict and the config. */
export function exportPytorch(m: Network): { weights: Uint8Array; config: PytorchConfig } {
  return { weights: encodeSafetensors(pytorchStateDict(m), { format: PYTORCH_FORMAT }), config: pytorchConfig(m) };
}

const showShape = (s: number[]): string => `[${s.join(", ")}]`;

/**
 * AWD's WeightDrop wrapper (EvNN's GRU and LSTM language models with DropConnect) keeps a layer as
 * `rnns.{l}.module.…` and its recurrent weight as `rnns.{l}.weight_hh_l0_raw` (the module's copy is
 * the last masked one): both read as `rnns.{l}.…`, the raw weight winning.
 */
function withoutWeightDrop(dict: StateDict, source: string): StateDict {
  const plain = (k: string): string => k.replace(/\.module\./, ".").replace(/_raw$/, "");
  const raw = new Set(
    Object.keys(dict)
      .filter((k) => k.endsWith("_raw"))
      .map(plain),
  );
  const out: StateDict = {};
  for (const [k, t] of Object.entries(dict)) {
    const name = plain(k);
    if (!k.endsWith("_raw") && raw.has(name)) continue;
    if (name in out) throw new ValueError(`${source}: ${k}`, "one tensor per name", `a second tensor for ${name}`);
    out[name] = t;
  }
  return out;
}

/** Why an unexpected name may be there: EvNN's other threshold parameterisation. */
function hint(names: string[]): string {
  if (names.some((n) => n.endsWith(".thr_reparam")))
    return ' (thr_reparam holds EvNN v0.1 sigmoid thresholds: set model.thresholdMode to "sigmoid")';
  if (names.some((n) => /\.thr$/.test(n)))
    return ' (thr holds EvNN v0.2 clamped thresholds: set model.thresholdMode to "clamp")';
  return "";
}

/**
 * Set the model's weights from a PyTorch / EvNN state dict (PyTorch names, any float dtype already
 * read as float32). Everything is checked before anything changes: missing and unexpected names
 * (all listed), each shape (the tensor and both shapes), EvNN's fixed scalars against the model's
 * options, and a tied decoder weight equal to the embedding. `source` (the file) starts every error.
 */
export function loadPytorchStateDict(m: Network, dict: StateDict, source = "PyTorch state dict"): void {
  const given = withoutWeightDrop(dict, source);
  const { names, constants } = pytorchLayout(m);
  const known = new Set([...names.map((n) => n.torch), ...constants.map((c) => c.torch)]);
  const optional = new Set(constants.map((c) => c.torch));
  if (isLm(m)) optional.add("decoder.decoder.weight");
  const missing = names.map((n) => n.torch).filter((n) => !(n in given) && !optional.has(n));
  const unexpected = Object.keys(given).filter((k) => !known.has(k));
  if (missing.length || unexpected.length) {
    const parts = [
      missing.length ? `missing ${missing.join(", ")}` : "",
      unexpected.length ? `unexpected ${unexpected.join(", ")}${hint(unexpected)}` : "",
    ];
    throw new ShapeError(source, "exactly the tensors of the configured model", parts.filter(Boolean).join("; "));
  }
  const want = [...names, ...constants.map((c) => ({ torch: c.torch, shape: [1] }))];
  for (const { torch, shape } of want) {
    const t = given[torch];
    if (!t) continue;
    const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (!same)
      throw new ShapeError(
        `${source}: ${torch}`,
        `shape ${showShape(shape)} (the model's)`,
        `shape ${showShape(t.shape)}`,
      );
  }
  for (const c of constants) {
    const t = given[c.torch];
    // a half-precision checkpoint holds 0.7 as 0.7002 (float16) or 0.6992 (bfloat16): equal to 1/256
    if (!t || c.option === null || Math.abs(t.data[0] - c.value) <= Math.abs(c.value) / 256) continue;
    throw new ValueError(
      `${source}: ${c.torch}`,
      `${c.value} (the configuration's ${c.option}; set it to match)`,
      String(t.data[0]),
    );
  }
  if (isLm(m)) checkTied(given, source);
  const egruDict: StateDict = {};
  for (const n of names) if (n.torch in given) egruDict[n.egru] = given[n.torch];
  loadModelStateDict(m, egruDict, source);
}

/** egru's decoder is the embedding: a checkpoint's decoder weight must equal it. */
function checkTied(given: StateDict, source: string): void {
  const dec = given["decoder.decoder.weight"];
  const emb = given["embeddings.weight"];
  if (!dec) return;
  const i = dec.data.findIndex((v, k) => v !== emb.data[k]);
  if (i >= 0)
    throw new ValueError(
      `${source}: decoder.decoder.weight`,
      "equal to embeddings.weight (the decoder is tied to the embedding)",
      `${dec.data[i]} where the embedding has ${emb.data[i]} (value ${i})`,
    );
}
