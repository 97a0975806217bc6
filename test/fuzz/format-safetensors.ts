// Fuzz formats: safetensors files as egru reads them (readFileBytes, decodeSafetensors), one with
// tensors of every dtype egru reads (F32, F16, BF16, F64) and metadata, and one sealed as egru seals
// a model's weights (sealSafetensors; read with checkSealed first, as loadModel and egru eval do).
// Size fields: the u64 header length; JSON edits: the header (shapes, offsets, dtypes, names,
// metadata). A sealed file that still carries the seals it was written with must read back exactly
// as written, or be refused: anything else it loads is garbage accepted.

import { isDeepStrictEqual } from "node:util";
import { decodeSafetensors, type Tensor } from "../../packages/egru/src/io/safetensors.js";
import { readFileBytes } from "../../packages/egru/src/node/read-file.js";
import { checkSealed, sealSafetensors } from "../../packages/egru/src/node/sealed-safetensors.js";
import { safetensorsFields, safetensorsHeader } from "./codecs.js";
import type { FuzzFormat } from "./harness.js";

type Decoded = ReturnType<typeof decodeSafetensors>;

const FILE = "weights.safetensors";

/** A safetensors file of these entries (raw little-endian bytes each), in order, with metadata. */
function safetensorsOf(
  entries: { name: string; dtype: string; shape: number[]; data: Uint8Array }[],
  metadata: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let at = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [at, at + e.data.length] };
    at += e.data.length;
  }
  const head = Buffer.from(JSON.stringify(header), "utf8");
  const out = new Uint8Array(8 + head.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let pos = 8 + head.length;
  for (const e of entries) {
    out.set(e.data, pos);
    pos += e.data.length;
  }
  return out;
}

/** `n` values i/8 − 1 as little-endian bytes of a dtype. */
function values(dtype: "F32" | "F16" | "BF16" | "F64", n: number): Uint8Array {
  const f32 = Float32Array.from({ length: n }, (_, i) => i / 8 - 1);
  if (dtype === "F32") return new Uint8Array(f32.buffer);
  if (dtype === "F64") return new Uint8Array(Float64Array.from(f32).buffer);
  // F16 and BF16: the upper half of each float32 is BF16; F16 of these small multiples of 1/8 by hand
  const halves = new Uint16Array(n);
  const words = new Uint32Array(f32.buffer);
  for (let i = 0; i < n; i++) {
    if (dtype === "BF16") halves[i] = words[i] >>> 16;
    else {
      const v = f32[i];
      const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
      const a = Math.abs(v);
      const e = a === 0 ? 0 : Math.floor(Math.log2(a));
      halves[i] = a === 0 ? sign : sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
    }
  }
  return new Uint8Array(halves.buffer);
}

/** Every tensor's length is its shape's product. */
function decodedWrong(d: Decoded): string | null {
  for (const [name, t] of Object.entries(d.tensors))
    if (t.data.length !== t.shape.reduce((a, b) => a * b, 1))
      return `tensor ${name}: ${t.data.length} values for shape [${t.shape.join(", ")}]`;
  return null;
}

const readDecoded = (dir: string, sealed: boolean): Decoded => {
  const path = `${dir}/${FILE}`;
  const bytes = readFileBytes(path, "a safetensors file");
  if (sealed) checkSealed(bytes, path);
  return decodeSafetensors(bytes, path);
};

export const SAFETENSORS: FuzzFormat<Decoded> = {
  name: "safetensors",
  reads: "decodeSafetensors(readFileBytes(path))",
  instance: () => ({
    [FILE]: safetensorsOf(
      [
        { name: "a.f32", dtype: "F32", shape: [3, 4], data: values("F32", 12) },
        { name: "b.f16", dtype: "F16", shape: [5], data: values("F16", 5) },
        { name: "c.bf16", dtype: "BF16", shape: [2, 1, 3], data: values("BF16", 6) },
        { name: "d.f64", dtype: "F64", shape: [], data: values("F64", 1) },
        { name: "e.empty", dtype: "F32", shape: [0, 7], data: new Uint8Array(0) },
      ],
      { format: "pt", note: "fuzz" },
    ),
  }),
  files: [{ path: FILE, fields: safetensorsFields, json: safetensorsHeader }],
  read: (dir) => readDecoded(dir, false),
  wrong: decodedWrong,
};

/** The digests in a sealed file's metadata (names ending in sha256). */
const seals = (metadata: Record<string, string>): [string, string][] =>
  Object.entries(metadata).filter(([k]) => k.endsWith("sha256"));

/** The tensors as comparable values: shape and bytes. */
const comparable = (tensors: Record<string, Tensor>): Record<string, [number[], Buffer]> =>
  Object.fromEntries(
    Object.entries(tensors).map(([k, t]) => [
      k,
      [t.shape, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)],
    ]),
  );

export const SEALED_SAFETENSORS: FuzzFormat<Decoded> = {
  name: "sealed safetensors",
  reads: "checkSealed, then decodeSafetensors (loadModel, egru eval's best.safetensors)",
  instance: () => ({
    [FILE]: sealSafetensors(
      {
        "layers.0.weight_ih": { shape: [6, 3], data: Float32Array.from({ length: 18 }, (_, i) => i / 7) },
        "layers.0.thr": { shape: [2], data: Float32Array.from([0.25, 0.5]) },
        "readout.bias": { shape: [4], data: Float32Array.from([1, -1, 0, 2]) },
      },
      { format: "egru-model-1", config: JSON.stringify({ cell: "egru", hidden: 2 }) },
    ),
  }),
  files: [{ path: FILE, fields: safetensorsFields, json: safetensorsHeader }],
  read: (dir) => readDecoded(dir, true),
  wrong: (d, valid) => {
    const broken = decodedWrong(d);
    if (broken) return broken;
    // a seal whose own entry was damaged seals nothing; with every seal intact, the file must be as written
    const intact = seals(valid.metadata).every(([k, v]) => d.metadata[k] === v);
    if (!intact) return null;
    if (!isDeepStrictEqual(d.metadata, valid.metadata)) return "the metadata changed under intact seals";
    if (!isDeepStrictEqual(comparable(d.tensors), comparable(valid.tensors)))
      return "the tensors changed under intact seals";
    return null;
  },
};
