// PyTorch-style state dicts: every parameter of a model under a dotted name with its shape, read
// and written in the layout its PyTorch counterpart uses, so weights move between egru and torch
// by name. Per layer kind:
//   EGRU (EvNN's names and layout)  kernel [I, 3H]  recurrent_kernel [H, 3H]  bias [3H]  recurrent_bias [3H]  thr [H]
//   GRU  (nn.GRU, layer l)          weight_ih_l{l} [3H, I]  weight_hh_l{l} [3H, H]  bias_ih_l{l} [3H]  bias_hh_l{l} [3H]
//   LSTM (nn.LSTM, layer l)         weight_ih_l{l} [4H, I]  weight_hh_l{l} [4H, H]  bias_ih_l{l} [4H]  bias_hh_l{l} [4H]
//   Linear (nn.Linear)              weight [O, I]  bias [O]
//   Embedding (nn.Embedding)        weight [V, E]
// Loading checks everything before changing anything: missing and unexpected names are listed in
// one ShapeError, a wrong shape names the tensor and both shapes. The matrices that can be int8 say
// where their int8 copy lives (StateEntry.int8; files of int8 weights: model/int8-state.ts).

import { ShapeError } from "../core/errors.js";
import type { Tensor } from "../io/safetensors.js";
import { EGRU } from "../layers/egru.js";
import { GRU } from "../layers/gru.js";
import type { Linear } from "../layers/linear.js";
import type { WeightedLayer } from "../layers/weighted-layer.js";
import type { SequenceCell } from "../nn/cells.js";

/** Tensors by dotted name, e.g. "rnn.weight_ih_l0" or "encoder.weight". */
export type StateDict = Record<string, Tensor>;

/**
 * How a PyTorch-layout tensor holds an int8 matrix [K, N] (layers/int8-weights.ts): "kn" as it is
 * (EGRU's kernel [I, 3H]), "nk" transposed (nn.Linear, nn.LSTM, nn.Embedding: [outputs, inputs]),
 * "gru" as nn.GRU holds its weights ([3H, K], gate blocks r, z, n; layers/gru-layout.ts).
 */
export type TorchInt8Layout = "kn" | "nk" | "gru";

/** Where a state entry's matrix can be int8: the layer, its weight's name there, the tensor's layout. */
export interface Int8Place {
  layer: WeightedLayer;
  weight: string;
  layout: TorchInt8Layout;
}

/** One named parameter: its shape, and how to read and write it in the PyTorch layout. */
export interface StateEntry {
  name: string;
  shape: number[];
  get(): Float32Array;
  set(data: Float32Array): void;
  /** Present for the matrices that can be int8. */
  int8?: Int8Place;
}

/** The parameters a model exposes to state dicts. */
export interface HasStateEntries {
  stateEntries(): StateEntry[];
}

/** Entries of a layer stored in the PyTorch layout already (LSTM, Embedding, Conv2d): names kept. */
export function ownLayoutEntries(
  prefix: string,
  layer: WeightedLayer,
  shapes: Record<string, number[]>,
  suffix = "",
): StateEntry[] {
  const slots = layer.int8Slots();
  return Object.keys(shapes).map((k) => ({
    name: `${prefix}${k.replace(/_l0$/, `_l${suffix}`)}`,
    shape: shapes[k],
    get: () => layer.weights[k].slice(),
    set: (d) => layer.setWeights({ [k]: d }),
    ...(slots[k] ? { int8: { layer, weight: k, layout: slots[k].transposed ? "nk" : "kn" } } : {}),
  }));
}

/** nn.Linear's weight [O, I] and bias [O]. */
export function linearEntries(prefix: string, layer: Linear): StateEntry[] {
  const shapes: Record<string, number[]> = { weight: [layer.outputSize, layer.inputSize] };
  if ("bias" in layer.weights) shapes.bias = [layer.outputSize];
  return Object.keys(shapes).map((k) => ({
    name: `${prefix}${k}`,
    shape: shapes[k],
    get: () => layer.getTorchWeights()[k],
    set: (d) => layer.setTorchWeights({ [k]: d }),
    ...(k === "weight" ? { int8: { layer, weight: k, layout: "nk" } } : {}),
  }));
}

/**
 * A recurrent cell's entries under `prefix`. GRU and LSTM names end in `_l{index}` (nn.GRU's
 * names for layer `index` of a stack); EGRU names are EvNN's, without an index.
 */
export function cellEntries(prefix: string, cell: SequenceCell, index: number): StateEntry[] {
  const { inputSize: I, hiddenSize: H } = cell;
  const layer = cell.layer;
  if (layer instanceof EGRU) {
    const shapes: Record<string, number[]> = {
      kernel: [I, 3 * H],
      recurrent_kernel: [H, 3 * H],
      bias: [3 * H],
      recurrent_bias: [3 * H],
      thr: [H],
    };
    return ownLayoutEntries(prefix, layer, shapes);
  }
  const G = (layer instanceof GRU ? 3 : 4) * H;
  const shapes: Record<string, number[]> = {
    weight_ih_l0: [G, I],
    weight_hh_l0: [G, H],
    bias_ih_l0: [G],
    bias_hh_l0: [G],
  };
  if (!(layer instanceof GRU)) return ownLayoutEntries(prefix, layer, shapes, String(index));
  const gru = layer;
  const ours: Record<string, string> = { weight_ih_l0: "kernel", weight_hh_l0: "recurrent_kernel" };
  return Object.keys(shapes).map((k) => ({
    name: `${prefix}${k.replace(/_l0$/, `_l${index}`)}`,
    shape: shapes[k],
    get: () => gru.getTorchWeights()[k as keyof ReturnType<GRU["getTorchWeights"]>],
    set: (d) => gru.setTorchWeights({ [k]: d }),
    ...(ours[k] ? { int8: { layer: gru, weight: ours[k], layout: "gru" } } : {}),
  }));
}

/**
 * A stack of cells as one module: GRU/LSTM as one nn.GRU/nn.LSTM with num_layers
 * (`{prefix}weight_ih_l{l}`), EGRU as a list of EvNN layers (`{prefix}layers.{l}.kernel`).
 */
export function stackEntries(prefix: string, cells: SequenceCell[]): StateEntry[] {
  return cells.flatMap((c, l) => cellEntries(c.kind === "egru" ? `${prefix}layers.${l}.` : prefix, c, l));
}

/** Copies of every entry as tensors (PyTorch layout and shape). */
export function stateDictOf(entries: StateEntry[]): StateDict {
  const out: StateDict = {};
  for (const e of entries) out[e.name] = { shape: e.shape.slice(), data: e.get() };
  return out;
}

const showShape = (s: number[]): string => `[${s.join(", ")}]`;

/**
 * Set every entry from `dict`. `optional` names may be present (their shape is checked, their value
 * ignored: e.g. a tied decoder.weight). Throws a ShapeError before changing anything when a name
 * is missing or unexpected (all listed) or a shape differs (the tensor and both shapes named).
 */
export function loadStateDictInto(
  entries: StateEntry[],
  dict: StateDict,
  source = "state dict",
  optional: Record<string, number[]> = {},
): void {
  const names = new Set(entries.map((e) => e.name));
  const missing = entries.filter((e) => !(e.name in dict)).map((e) => e.name);
  const unexpected = Object.keys(dict).filter((k) => !names.has(k) && !(k in optional));
  if (missing.length || unexpected.length) {
    const parts = [
      missing.length ? `missing ${missing.join(", ")}` : "",
      unexpected.length ? `unexpected ${unexpected.join(", ")}` : "",
    ];
    throw new ShapeError(source, "exactly the model's tensors", parts.filter(Boolean).join("; "));
  }
  const want = [
    ...entries.map((e) => [e.name, e.shape] as const),
    ...Object.entries(optional).filter(([k]) => k in dict),
  ];
  for (const [name, shape] of want) {
    const t = dict[name];
    const n = shape.reduce((a, b) => a * b, 1);
    const same = t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]);
    if (!same || t.data.length !== n) {
      throw new ShapeError(
        `${source}: ${name}`,
        `shape ${showShape(shape)}`,
        `shape ${showShape(t.shape)} (${t.data.length} values)`,
      );
    }
  }
  for (const e of entries) e.set(dict[e.name].data);
}
