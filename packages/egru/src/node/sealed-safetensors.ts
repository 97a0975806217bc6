// safetensors files sealed with sha256 digests in the header's __metadata__ (Node only: node:crypto),
// so the file stays ordinary safetensors for every other reader while egru's readers verify it: a
// flipped byte in the weights or in the header of a run's best.safetensors or a saved model is an
// error naming the file instead of other outputs. Two digests:
//   data_sha256    of the data bytes (all an earlier egru recorded; still verified on its files)
//   header_sha256  of the header's JSON value without this entry: every tensor's name, dtype, shape
//                  and offsets, and the metadata (data_sha256 among them, so the data too)

import { createHash } from "node:crypto";
import { ValueError } from "../core/errors.js";
import { nestsDeeper } from "../core/validate.js";
import { encodeSafetensors, type Int8Tensor, type Tensor } from "../io/safetensors.js";

/** The metadata key of the data digest. */
export const DATA_DIGEST_KEY = "data_sha256";
/** The metadata key of the header digest. */
export const HEADER_DIGEST_KEY = "header_sha256";

/** Where the data of a safetensors file begins (after its 8-byte length and header), or null if it cannot say. */
function dataStart(bytes: Uint8Array): number | null {
  if (bytes.length < 8) return null;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n <= BigInt(bytes.length - 8) ? 8 + Number(n) : null;
}

const digest = (b: Uint8Array | string): string => createHash("sha256").update(b).digest("hex");

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The header's JSON value, or null when it is not an object (nested as safetensors nests) in UTF-8 JSON. */
function headerValue(bytes: Uint8Array, start: number): Record<string, unknown> | null {
  try {
    const header: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, start)));
    return isObject(header) && !nestsDeeper(header, 3) ? header : null;
  } catch {
    return null;
  }
}

/** The header digest of a header value: of its JSON text without the header digest's own entry. */
function headerDigest(header: Record<string, unknown>): string {
  const { [HEADER_DIGEST_KEY]: _, ...metadata } = (header.__metadata__ ?? {}) as Record<string, unknown>;
  return digest(JSON.stringify({ ...header, __metadata__: metadata }));
}

/** Encode float32 (and int8) tensors with string metadata plus the sha256 of the data bytes and of the header. */
export function sealSafetensors(
  tensors: Record<string, Tensor | Int8Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const { [DATA_DIGEST_KEY]: _, [HEADER_DIGEST_KEY]: __, ...rest } = metadata;
  const plain = encodeSafetensors(tensors, rest);
  const start = dataStart(plain) as number; // (our own encoding)
  const withData = { ...rest, [DATA_DIGEST_KEY]: digest(plain.subarray(start)) };
  const unsealed = encodeSafetensors(tensors, withData);
  const header = headerValue(unsealed, dataStart(unsealed) as number) as Record<string, unknown>;
  return encodeSafetensors(tensors, { ...withData, [HEADER_DIGEST_KEY]: headerDigest(header) });
}

/** The ValueError of a digest that does not match. */
function mismatch(name: string, key: string, want: unknown, have: string, what: string): ValueError {
  return new ValueError(`${name}: ${key}`, `${String(want).slice(0, 64)} (recorded in the header)`, `${have}: ${what}`);
}

/**
 * Verify the digests a safetensors file's header records (a file without them, or with a header
 * that does not parse, is left to the decoder, whose errors name what is wrong).
 */
export function checkSealed(bytes: Uint8Array, name: string): void {
  const start = dataStart(bytes);
  const header = start === null ? null : headerValue(bytes, start);
  if (start === null || header === null || !isObject(header.__metadata__)) return;
  const wantData = header.__metadata__[DATA_DIGEST_KEY];
  if (wantData !== undefined) {
    const have = digest(bytes.subarray(start));
    if (wantData !== have)
      throw mismatch(name, DATA_DIGEST_KEY, wantData, have, "the weights were changed or are damaged");
  }
  const wantHeader = header.__metadata__[HEADER_DIGEST_KEY];
  if (wantHeader !== undefined) {
    const have = headerDigest(header);
    if (wantHeader !== have)
      throw mismatch(
        name,
        HEADER_DIGEST_KEY,
        wantHeader,
        have,
        "the header (names, shapes, offsets or metadata) was changed or is damaged",
      );
  }
}
