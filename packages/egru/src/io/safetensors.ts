// The safetensors format (bytes in memory, no file access): an 8-byte little-endian header length,
// a JSON header naming each tensor's dtype, shape and byte range (plus string metadata), then the
// raw little-endian data. egru writes float32 tensors ("F32") and int8 ones ("I8": int8 weights,
// model/int8-state.ts) and reads F32, F16, BF16 and F64 into float32 (PyTorch checkpoints often carry
// half precision); I8 only where asked for (decodeSafetensorsInt8: the model loader), elsewhere an
// I8 tensor is an error naming it. Every problem in a file is reported with the file's name and the
// field or tensor at fault.

import { ShapeError, ValueError } from "../core/errors.js";
import { nestsDeeper } from "../core/validate.js";

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** An int8 tensor (the values of int8 weights). */
export interface Int8Tensor {
  shape: number[];
  data: Int8Array;
}

/**
 * Encode float32 and int8 tensors with string metadata: the float32 ones first, then the int8 ones,
 * each in name order (so every float32 tensor starts 4-byte aligned).
 */
export function encodeSafetensors(
  tensors: Record<string, Tensor | Int8Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const isInt8 = (n: string): boolean => tensors[n].data instanceof Int8Array;
  const all = Object.keys(tensors).sort();
  const names = [...all.filter((n) => !isInt8(n)), ...all.filter(isInt8)];
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const n of names) {
    const t = tensors[n];
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length)
      throw new ShapeError(`tensor ${n}`, `${count} values for shape [${t.shape.join(", ")}]`, String(t.data.length));
    const size = t.data.BYTES_PER_ELEMENT;
    header[n] = { dtype: size === 1 ? "I8" : "F32", shape: t.shape, data_offsets: [offset, offset + size * count] };
    offset += size * count;
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
    if (d instanceof Int8Array) out.set(new Uint8Array(d.buffer, d.byteOffset, d.length), at);
    else for (let i = 0; i < d.length; i++) view.setFloat32(at + 4 * i, d[i], true);
    at += d.byteLength;
  }
  return out;
}

/** Bytes per element of the float dtypes egru reads (all converted to float32; F64 is rounded). */
const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** The same with I8, for the readers of int8 weights. */
const DTYPE_BYTES_INT8: Record<string, number> = { ...DTYPE_BYTES, I8: 1 };

/** The largest header egru reads (the format's reference implementation allows 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** A float16 (IEEE binary16) bit pattern as a number. */
function half(bits: number): number {
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * The names of the top-level object's keys in order, duplicates kept (JSON.parse keeps only the last
 * of a duplicated key, which would hide a tensor). `text` is known to parse as JSON.
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") depth--;
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (/\s/.test(text[k])) k++;
        if (text[k] === ":") keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      }
      i = j;
    }
  }
  return keys;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Decode a safetensors file into float32 tensors (F32 as is; F16, BF16 and F64 converted). `name`
 * (the file) appears in every error. Checked as the format's reference implementation checks: a
 * bounded header that is a JSON object of objects (and an optional string-to-string
 * __metadata__) nested no deeper than that, no duplicate names, shapes of whole numbers, and data
 * offsets that are in order, contiguous, start at 0, end exactly at the end of the file and match
 * dtype × shape. An I8 tensor is a ValueError naming it (decodeSafetensorsInt8 reads them).
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  name: string,
): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const { tensors, metadata } = decode(bytes, name, false);
  return { tensors, metadata };
}

/** decodeSafetensors, with I8 tensors allowed: they come back as int8 (every other check the same). */
export function decodeSafetensorsInt8(
  bytes: Uint8Array,
  name: string,
): { tensors: Record<string, Tensor>; int8: Record<string, Int8Tensor>; metadata: Record<string, string> } {
  return decode(bytes, name, true);
}

function decode(
  bytes: Uint8Array,
  name: string,
  allowInt8: boolean,
): { tensors: Record<string, Tensor>; int8: Record<string, Int8Tensor>; metadata: Record<string, string> } {
  const dtypeBytes = allowInt8 ? DTYPE_BYTES_INT8 : DTYPE_BYTES;
  if (bytes.length < 8)
    throw new ValueError(name, "a safetensors file (8-byte header length first)", `${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw new ValueError(
      `${name}: header length`,
      `at most ${Math.min(MAX_HEADER_BYTES, bytes.length - 8)} bytes`,
      `${n64} (the file is truncated or not safetensors)`,
    );
  }
  const n = Number(n64);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new ValueError(`${name}: header`, "UTF-8 text", "invalid UTF-8");
  }
  if (!text.startsWith("{"))
    throw new ValueError(`${name}: header`, "a JSON object", JSON.stringify(text.slice(0, 20)));
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new ValueError(`${name}: header`, "JSON", `unparsable text (${(e as Error).message})`);
  }
  if (!isObject(header)) throw new ValueError(`${name}: header`, "a JSON object", JSON.stringify(header));
  // a tensor's entry nests two levels (its object, then shape and offsets), the metadata one: deeper values
  // are refused before a check walks or quotes them (JSON.stringify overflows the stack on 10^5 levels)
  for (const [key, v] of Object.entries(header))
    if (nestsDeeper(v, 2))
      throw new ValueError(
        `${name}: ${key === "__metadata__" ? key : `tensor ${key}`}`,
        "at most 2 levels of nesting (dtype, shape and data_offsets; metadata strings)",
        "deeper nesting",
      );
  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw new ValueError(`${name}: header`, "each tensor named once", `"${k}" twice`);
    seen.add(k);
  }
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: { key: string; dtype: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [key, v] of Object.entries(header)) {
    if (key === "__metadata__") {
      if (!isObject(v) || !Object.values(v).every((s) => typeof s === "string")) {
        throw new ValueError(`${name}: __metadata__`, "an object of strings", JSON.stringify(v).slice(0, 80));
      }
      metadata = v as Record<string, string>;
      continue;
    }
    const where = `${name}: tensor ${key}`;
    if (!isObject(v)) throw new ValueError(where, "an object with dtype, shape and data_offsets", JSON.stringify(v));
    const { dtype, shape, data_offsets: off } = v;
    if (typeof dtype !== "string" || !Object.hasOwn(dtypeBytes, dtype)) {
      const int8 = dtype === "I8" ? " (I8: int8 weights, which loadModel reads)" : "";
      throw new ValueError(
        `${where}: dtype`,
        `one of ${Object.keys(dtypeBytes).join(", ")}${int8}`,
        JSON.stringify(dtype),
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ValueError(`${where}: shape`, "a list of whole numbers", JSON.stringify(shape));
    }
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      off[0] > off[1] ||
      off[1] > dataLength
    ) {
      throw new ValueError(
        `${where}: data_offsets`,
        `[begin, end] within the ${dataLength} data bytes`,
        JSON.stringify(off),
      );
    }
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    const size = dtypeBytes[dtype];
    if (!Number.isSafeInteger(count * size) || off[1] - off[0] !== count * size) {
      throw new ShapeError(
        where,
        `${count * size} bytes for ${dtype} of shape [${shape.join(", ")}]`,
        `${off[1] - off[0]} bytes`,
      );
    }
    entries.push({ key, dtype, shape: shape as number[], begin: off[0], end: off[1] });
  }
  // the byte ranges, in order, must tile the data exactly
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of entries) {
    if (e.begin !== at) {
      throw new ValueError(
        `${name}: tensor ${e.key}: data_offsets`,
        `to begin at byte ${at}, where the previous tensor ends (ranges in order, neither overlapping nor leaving gaps)`,
        String(e.begin),
      );
    }
    at = e.end;
  }
  if (at !== dataLength)
    throw new ValueError(`${name}: data`, `${at} bytes after the header, as the offsets say`, `${dataLength} bytes`);
  const tensors: Record<string, Tensor> = {};
  const int8: Record<string, Int8Tensor> = {};
  for (const { key, dtype, shape, begin } of entries) {
    const count = shape.reduce((a, b) => a * b, 1);
    const base = dataStart + begin;
    if (dtype === "I8") {
      int8[key] = {
        shape,
        data: new Int8Array(bytes.buffer.slice(bytes.byteOffset + base, bytes.byteOffset + base + count)),
      };
      continue;
    }
    const data = new Float32Array(count);
    if (dtype === "F32") for (let i = 0; i < count; i++) data[i] = view.getFloat32(base + 4 * i, true);
    else if (dtype === "F64") for (let i = 0; i < count; i++) data[i] = view.getFloat64(base + 8 * i, true);
    else if (dtype === "F16") for (let i = 0; i < count; i++) data[i] = half(view.getUint16(base + 2 * i, true));
    else {
      // bfloat16: the upper half of a float32
      const word = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        word.setUint32(0, view.getUint16(base + 2 * i, true) << 16);
        data[i] = word.getFloat32(0);
      }
    }
    tensors[key] = { shape, data };
  }
  return { tensors, int8, metadata };
}
