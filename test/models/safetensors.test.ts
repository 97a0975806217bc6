// The safetensors reader checks what the format's reference implementation checks, and reads the
// half-precision dtypes PyTorch checkpoints carry, and I8 (int8 weights) where asked to. Every malformed file gives a typed error naming
// the file and the field or tensor; nothing malformed is accepted.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ShapeError, ValueError } from "../../packages/egru/src/core/errors.js";
import {
  decodeSafetensors,
  decodeSafetensorsInt8,
  encodeSafetensors,
  MAX_HEADER_BYTES,
} from "../../packages/egru/src/io/safetensors.js";

/** A file from a header object (serialised as given, or raw text) and data bytes. */
function file(header: unknown, data: number[] | Uint8Array, raw?: string): Uint8Array {
  const json = new TextEncoder().encode(raw ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const f32 = (...v: number[]): number[] => Array.from(new Uint8Array(new Float32Array(v).buffer));
const u16 = (...v: number[]): number[] => Array.from(new Uint8Array(new Uint16Array(v).buffer));

test("overlapping, out-of-order-gapped and misaligned offsets are refused, naming the tensor", () => {
  const data = f32(1, 2, 3, 4);
  const overlap = {
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
  };
  assert.throws(() => decodeSafetensors(file(overlap, data), "o.st"), /o\.st: tensor b: data_offsets.*begin at byte 8/);
  const gap = {
    a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
    b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
  };
  assert.throws(() => decodeSafetensors(file(gap, data), "g.st"), /g\.st: tensor b: data_offsets/);
  const shifted = { a: { dtype: "F32", shape: [3], data_offsets: [2, 14] } };
  assert.throws(() => decodeSafetensors(file(shifted, data), "s.st"), /s\.st: tensor a: data_offsets/);
  const short = { a: { dtype: "F32", shape: [3], data_offsets: [0, 12] } };
  assert.throws(() => decodeSafetensors(file(short, data), "t.st"), /t\.st: data.*12 bytes/, "4 bytes left over");
  const wrongSize = { a: { dtype: "F32", shape: [3], data_offsets: [0, 16] } };
  assert.throws(() => decodeSafetensors(file(wrongSize, data), "w.st"), ShapeError);
  // in order but listed backwards in the header is fine
  const ok = {
    b: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
  };
  const d = decodeSafetensors(file(ok, data), "ok.st").tensors;
  assert.deepEqual(Array.from(d.a.data), [1, 2]);
  assert.deepEqual(Array.from(d.b.data), [3, 4]);
});

test("headers that are not an object of objects, duplicates, bad metadata and huge lengths are refused", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["null header", file(null, [], "null"), /n\.st: header/],
    ["array header", file([], [], "[]"), /n\.st: header/],
    ["null tensor", file({ a: null }, []), /n\.st: tensor a/],
    ["number tensor", file({ a: 3 }, []), /n\.st: tensor a/],
    [
      "duplicate name",
      file(
        null,
        f32(1, 2),
        '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
      ),
      /"a" twice/,
    ],
    ["metadata not strings", file({ __metadata__: { k: 1 } }, []), /__metadata__/],
    ["unknown dtype", file({ a: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, f32(1, 2)), /tensor a: dtype/],
    ["negative shape", file({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, f32(1)), /tensor a: shape/],
    ["invalid UTF-8", file(null, [], '{"\u00ff":1}').map((b, i) => (i === 11 ? 0xff : b)), /UTF-8/],
  ];
  for (const [what, bytes, re] of cases)
    assert.throws(
      () => decodeSafetensors(bytes, "n.st"),
      (e: unknown) => e instanceof ValueError && re.test((e as Error).message),
      what,
    );
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES) + 1n, true);
  assert.throws(() => decodeSafetensors(huge, "h.st"), /h\.st: header length/);
  // a key inside a tensor's object that repeats a tensor name is not a duplicate
  const nested = file(null, f32(5), '{"shape":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
  assert.deepEqual(Array.from(decodeSafetensors(nested, "k.st").tensors.shape.data), [5]);
});

test("F16, BF16 and F64 tensors are read into float32 exactly where float32 holds the value", () => {
  // f16: 1, −2, 65504 (largest), 2^−24 (smallest subnormal), +∞; bf16: 1, 3.140625, −0.5
  const f16 = u16(0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00);
  const bf16 = u16(0x3f80, 0x4049, 0xbf00);
  const f64 = Array.from(new Uint8Array(new Float64Array([0.1, -3]).buffer));
  const header = {
    h: { dtype: "F16", shape: [5], data_offsets: [0, 10] },
    b: { dtype: "BF16", shape: [3], data_offsets: [10, 16] },
    d: { dtype: "F64", shape: [2], data_offsets: [16, 32] },
  };
  const t = decodeSafetensors(file(header, [...f16, ...bf16, ...f64]), "half.st").tensors;
  assert.deepEqual(Array.from(t.h.data), [1, -2, 65504, 2 ** -24, Infinity]);
  assert.deepEqual(Array.from(t.b.data), [1, 3.140625, -0.5]);
  assert.deepEqual(Array.from(t.d.data), [Math.fround(0.1), -3]);
});

test("what egru writes still reads back exactly", () => {
  const w = {
    x: { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-30, -7]) },
    y: { shape: [0], data: new Float32Array(0) },
  };
  const d = decodeSafetensors(encodeSafetensors(w, { format: "egru" }), "rt.st");
  assert.deepEqual(Array.from(d.tensors.x.data), Array.from(w.x.data));
  assert.deepEqual(d.tensors.y.shape, [0]);
  assert.deepEqual(d.metadata, { format: "egru" });
});

test("I8 tensors: written after the float32 ones (which stay 4-byte aligned), read back exactly where asked for, an error elsewhere", () => {
  const q = Int8Array.from([-128, -127, -1, 0, 1, 127, 5]);
  const bytes = encodeSafetensors(
    { "a.q": { shape: [7], data: q }, b: { shape: [1, 3], data: Float32Array.from([1, -2, 0.5]) } },
    { format: "egru" },
  );
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; data_offsets: number[] }
  >;
  assert.deepEqual(header.b.data_offsets, [0, 12], "float32 first");
  assert.deepEqual(header["a.q"], { dtype: "I8", shape: [7], data_offsets: [12, 19] });
  assert.equal((8 + n) % 8, 0, "data starts 8-byte aligned");
  const d = decodeSafetensorsInt8(bytes, "i8.st");
  assert.deepEqual(Array.from(d.int8["a.q"].data), Array.from(q));
  assert.deepEqual(Array.from(d.tensors.b.data), [1, -2, 0.5]);
  assert.deepEqual(Object.keys(d.tensors), ["b"]);
  assert.throws(
    () => decodeSafetensors(bytes, "i8.st"),
    (e: unknown) =>
      e instanceof ValueError &&
      /^i8\.st: tensor a\.q: dtype: expected one of F32, F16, BF16, F64 \(I8/.test(String((e as Error).message)),
  );
  // an I8 tensor is validated as any other: its byte count, its offsets
  const short = { w: { dtype: "I8", shape: [2, 3], data_offsets: [0, 5] } };
  assert.throws(
    () => decodeSafetensorsInt8(file(short, [1, 2, 3, 4, 5]), "s.st"),
    (e: unknown) =>
      e instanceof ShapeError && /s\.st: tensor w: expected 6 bytes for I8 of shape \[2, 3\]/.test(String(e)),
  );
  const gap = { w: { dtype: "I8", shape: [2], data_offsets: [1, 3] } };
  assert.throws(() => decodeSafetensorsInt8(file(gap, [0, 1, 2]), "g.st"), /g\.st: tensor w: data_offsets/);
});
