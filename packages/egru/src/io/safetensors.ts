// The safetensors format (bytes in memory, no file access): an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range (plus string metadata), then the
// raw little-endian data. egru writes and reads float32 tensors ("F32"). Every problem in a file
// is reported with the file's name and the field or tensor at fault.

import { ShapeError, ValueError } from "../core/errors.js";

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** Encode float32 tensors (in name order) with string metadata. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const n of names) {
    const t = tensors[n];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new ShapeError(`tensor ${n}`, `${count} values for shape [${t.shape.join(", ")}]`, String(t.data.length));
    header[n] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + 4 * count] };
    offset += 4 * count;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8); // data starts 8-byte aligned
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const n of names) {
    const d = tensors[n].data;
    for (let i = 0; i < d.length; i++) view.setFloat32(at + 4 * i, d[i], true);
    at += 4 * d.length;
  }
  return out;
}

/** Decode a safetensors file of float32 tensors. `name` (the file) appears in every error. */
export function decodeSafetensors(bytes: Uint8Array, name: string): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new ValueError(name, "a safetensors file (8-byte header length first)", `${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > bytes.length - 8) throw new ValueError(`${name}: header length`, `at most ${bytes.length - 8} bytes`, `${n} (the file is truncated or not safetensors)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  } catch (e) {
    throw new ValueError(`${name}: header`, "JSON", `unparsable text (${(e as Error).message})`);
  }
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(header)) {
    if (key === "__metadata__") {
      metadata = v as Record<string, string>;
      continue;
    }
    const info = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const where = `${name}: tensor ${key}`;
    if (info.dtype !== "F32") throw new ValueError(`${where}: dtype`, '"F32"', JSON.stringify(info.dtype));
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new ValueError(`${where}: shape`, "a list of whole numbers", JSON.stringify(shape));
    const off = info.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1] || off[1] > dataLength) {
      throw new ValueError(`${where}: data_offsets`, `[begin, end] within the ${dataLength} data bytes`, JSON.stringify(off));
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (off[1] - off[0] !== 4 * count) throw new ShapeError(where, `${4 * count} bytes for shape [${shape.join(", ")}]`, `${off[1] - off[0]}`);
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = view.getFloat32(dataStart + off[0] + 4 * i, true);
    tensors[key] = { shape: shape as number[], data };
  }
  return { tensors, metadata };
}
