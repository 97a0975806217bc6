// Int8 weights in state dicts and files: a matrix whose layer holds it as int8 is stored under its
// state-dict name as an I8 tensor in the PyTorch layout (the shape of its float32 tensor), with its
// scales beside it as an F32 tensor `{name}.scale` whose shape broadcasts against the matrix:
//   [rows, 1]  one scale per row (of the PyTorch layout)     [1, cols]  one per column
// so the tensor says itself which units the scales belong to, and weight ≈ values · scale. Every
// other parameter stays float32. Loading checks every int8 tensor and its scales (a ShapeError or
// ValueError naming the tensor) before anything changes, then sets the float32 tensors, then the
// int8 ones.

import { ShapeError, ValueError } from "../core/errors.js";
import type { Int8Tensor, Tensor } from "../io/safetensors.js";
import type { Int8Matrix, ScaleAxis } from "../kernels/int8.js";
import { transpose } from "../core/buffer.js";
import { gruBiasSwap, gruMatrixFromTorch, gruMatrixToTorch } from "../layers/gru-layout.js";
import {
  loadStateDictInto,
  type Int8Place,
  type StateDict,
  type StateEntry,
  type TorchInt8Layout,
} from "./state-dict.js";

/** The name of the scales of the int8 tensor `name`. */
export const scaleName = (name: string): string => `${name}.scale`;

/** An int8 matrix [K, N] as its PyTorch-layout tensor and its scales (see the header). */
function toTorch(m: Int8Matrix, layout: TorchInt8Layout): { values: Int8Tensor; scales: Tensor } {
  const { K, N } = m;
  const f = Float32Array.from(m.values);
  const out = m.axis === "output";
  if (layout === "kn")
    return {
      values: { shape: [K, N], data: m.values.slice() },
      scales: { shape: out ? [1, N] : [K, 1], data: m.scales.slice() },
    };
  const values = Int8Array.from(layout === "gru" ? gruMatrixToTorch(f, K, N / 3) : transpose(f, K, N));
  const scales = out && layout === "gru" ? gruBiasSwap(m.scales, N / 3) : m.scales.slice();
  return { values: { shape: [N, K], data: values }, scales: { shape: out ? [N, 1] : [1, K], data: scales } };
}

/** The inverse of toTorch: the int8 matrix [K, N] of a checked tensor and scales. */
function fromTorch(values: Int8Tensor, scales: Tensor, layout: TorchInt8Layout, K: number, N: number): Int8Matrix {
  const f = Float32Array.from(values.data);
  const [rows] = values.shape;
  // which units the scales are per: the rows of the tensor ([rows, 1]) or its columns ([1, cols])
  const perRow = scales.shape[0] === rows && scales.shape[1] === 1;
  const axis: ScaleAxis = layout === "kn" ? (perRow ? "input" : "output") : perRow ? "output" : "input";
  if (layout === "kn") return { K, N, values: values.data.slice(), scales: scales.data.slice(), axis };
  const v = Int8Array.from(layout === "gru" ? gruMatrixFromTorch(f, K, N / 3) : transpose(f, N, K));
  const s = axis === "output" && layout === "gru" ? gruBiasSwap(scales.data, N / 3) : scales.data.slice();
  return { K, N, values: v, scales: s, axis };
}

/** The int8 matrix of an entry whose layer holds it as int8, else null. */
function int8Of(e: StateEntry): Int8Matrix | null {
  return e.int8 ? e.int8.layer.int8Weight(e.int8.weight) : null;
}

/** Whether any of the entries is held as int8. */
export function hasInt8(entries: StateEntry[]): boolean {
  return entries.some((e) => int8Of(e) !== null);
}

/** The tensors of a model with int8 weights: I8 tensors and their scales where a layer holds int8, else float32. */
export function int8StateTensors(entries: StateEntry[]): Record<string, Tensor | Int8Tensor> {
  const out: Record<string, Tensor | Int8Tensor> = {};
  for (const e of entries) {
    const m = int8Of(e);
    if (!m || !e.int8) {
      out[e.name] = { shape: e.shape.slice(), data: e.get() };
      continue;
    }
    const t = toTorch(m, e.int8.layout);
    out[e.name] = t.values;
    out[scaleName(e.name)] = t.scales;
  }
  return out;
}

const showShape = (s: number[]): string => `[${s.join(", ")}]`;

/** Check an int8 tensor of entry `e` and its scales in `floats` (errors name the tensor); returns its matrix. */
function checkedInt8(e: StateEntry, place: Int8Place, t: Int8Tensor, floats: StateDict, source: string): Int8Matrix {
  const where = `${source}: ${e.name}`;
  const same = t.shape.length === e.shape.length && t.shape.every((d, i) => d === e.shape[i]);
  if (!same) throw new ShapeError(where, `shape ${showShape(e.shape)}`, `shape ${showShape(t.shape)}`);
  const sName = scaleName(e.name);
  const s = floats[sName];
  if (!s) throw new ShapeError(`${source}: ${sName}`, `the scales of the I8 tensor ${e.name} (F32)`, "missing");
  const [rows, cols] = e.shape;
  const perRow = s.shape.length === 2 && s.shape[0] === rows && s.shape[1] === 1;
  const perCol = s.shape.length === 2 && s.shape[0] === 1 && s.shape[1] === cols;
  if (!perRow && !perCol)
    throw new ShapeError(
      `${source}: ${sName}`,
      `shape [${rows}, 1] (one scale per row) or [1, ${cols}] (one per column)`,
      `shape ${showShape(s.shape)}`,
    );
  for (let i = 0; i < s.data.length; i++) {
    const v = s.data[i];
    if (!(Number.isFinite(v) && v >= 0))
      throw new ValueError(`${source}: ${sName}`, "finite scales ≥ 0", `${v} at ${i}`);
  }
  const slot = place.layer.int8Slots()[place.weight];
  return fromTorch(t, s, place.layout, slot.K, slot.N);
}

/**
 * Set `entries` from float32 tensors and int8 ones (with their `.scale` tensors among the float32
 * ones): everything is checked before anything changes (the int8 tensors and their scales here,
 * names and shapes as loadStateDictInto checks them), then the float32 tensors are set, then the
 * int8 ones (which makes their layers int8).
 */
export function loadInt8StateDict(
  entries: StateEntry[],
  floats: StateDict,
  int8: Record<string, Int8Tensor>,
  source: string,
  optional: Record<string, number[]> = {},
): void {
  const byName = new Map(entries.map((e) => [e.name, e]));
  const matrices: [StateEntry, Int8Matrix][] = [];
  for (const [name, t] of Object.entries(int8)) {
    const e = byName.get(name);
    if (!e) throw new ShapeError(source, "exactly the model's tensors", `unexpected ${name} (I8)`);
    if (!e.int8) throw new ValueError(`${source}: ${name}: dtype`, "F32 (this parameter cannot be int8)", "I8");
    matrices.push([e, checkedInt8(e, e.int8, t, floats, source)]);
  }
  const rest: StateDict = {};
  for (const [name, t] of Object.entries(floats)) {
    const base = name.endsWith(".scale") ? name.slice(0, -".scale".length) : null;
    if (base === null || !(base in int8)) rest[name] = t;
  }
  loadStateDictInto(
    entries.filter((e) => !(e.name in int8)),
    rest,
    source,
    optional,
  );
  for (const [e, m] of matrices) e.int8?.layer.setInt8Weight(e.int8.weight, m);
}
