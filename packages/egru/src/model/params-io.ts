// A model's parameters as flat tensors under their optimizer names ("cells.0.kernel", "head.weight",
// each 1-D, in the layers' own layouts): the form of the CLI's checkpoints and best.safetensors.
// (State dicts, with PyTorch's names and layouts, are in state-dict.ts.)

import { ShapeError } from "../core/errors.js";
import type { Tensor } from "../io/safetensors.js";
import type { Param } from "../nn/params.js";

/** A model as its parameter list sees it. */
export interface ParamOwner {
  params(): Param[];
}

/** The parameters as 1-D tensors by name (copies). */
export function paramTensors(model: ParamOwner): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of model.params()) out[p.name] = { shape: [p.value.length], data: p.value.slice() };
  return out;
}

/** Set the parameters from tensors by name; every name and size is checked before anything changes. */
export function loadParamTensors(model: ParamOwner, tensors: Record<string, Tensor>, source: string): void {
  const params = model.params();
  for (const p of params) {
    const t = tensors[p.name];
    if (!t) throw new ShapeError(`${source}: ${p.name}`, "a tensor of the model", "missing");
    if (t.data.length !== p.value.length)
      throw new ShapeError(`${source}: ${p.name}`, `${p.value.length} values`, String(t.data.length));
  }
  const extra = Object.keys(tensors).filter((k) => !params.some((p) => p.name === k));
  if (extra.length)
    throw new ShapeError(`${source}: ${extra[0]}`, "only the model's tensors", "a tensor the model does not have");
  for (const p of params) p.value.set(tensors[p.name].data);
}
