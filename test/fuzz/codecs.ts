// The JSON values inside the fuzzed files, for JSON edits (harness.ts): a whole JSON file, and the
// JSON header of a safetensors file (written back with its new length, the data bytes unchanged);
// and the size fields of a safetensors file (the u64 header length).

import type { Field } from "./damage.js";
import type { JsonCodec } from "./harness.js";
import { type BuiltJson, jsonText } from "./json-damage.js";

/** A JSON file (written with `space` as egru writes it); `reseal` records a digest over the edited value. */
export function jsonFile(space?: number, reseal?: (value: unknown) => void): JsonCodec {
  return {
    decode: (bytes) => JSON.parse(Buffer.from(bytes).toString("utf8")),
    encode: (built: BuiltJson) => Buffer.from(`${jsonText(built, space)}\n`, "utf8"),
    reseal,
  };
}

/** The header length of a safetensors file (0 when it cannot say). */
function headerLength(bytes: Uint8Array): number {
  if (bytes.length < 8) return 0;
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return n <= bytes.length - 8 ? n : 0;
}

/** The JSON header of a safetensors file. */
export const safetensorsHeader: JsonCodec = {
  decode: (bytes) => JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength(bytes))).toString("utf8")),
  encode: (built, original) => {
    const head = Buffer.from(jsonText(built), "utf8");
    const data = original.subarray(8 + headerLength(original));
    const out = new Uint8Array(8 + head.length + data.length);
    new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
    out.set(head, 8);
    out.set(data, 8 + head.length);
    return out;
  },
};

/** The size field of a safetensors file: its header length. */
export const safetensorsFields = (): Field[] => [{ name: "header length", at: 0, bytes: 8, little: true }];
