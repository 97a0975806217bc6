// safetensors files sealed with the sha256 of their data bytes (Node only: node:crypto). The digest
// goes into the header's __metadata__ as "data_sha256", so the file stays ordinary safetensors for
// every other reader; egru's readers verify it when present, so a flipped byte in the weights of a
// run's best.safetensors or a saved model is an error naming the file instead of other outputs.

import { createHash } from "node:crypto";
import { ValueError } from "../core/errors.js";
import { encodeSafetensors, type Int8Tensor, type Tensor } from "../io/safetensors.js";

/** The metadata key of the data digest. */
export const DATA_DIGEST_KEY = "data_sha256";

/** Where the data of a safetensors file begins (after its 8-byte length and header), or null if it cannot say. */
function dataStart(bytes: Uint8Array): number | null {
  if (bytes.length < 8) return null;
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  return n <= BigInt(bytes.length - 8) ? 8 + Number(n) : null;
}

const digest = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Encode float32 (and int8) tensors with string metadata plus the sha256 of the data bytes. */
export function sealSafetensors(
  tensors: Record<string, Tensor | Int8Tensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const plain = encodeSafetensors(tensors, metadata);
  const start = dataStart(plain) as number; // (our own encoding)
  return encodeSafetensors(tensors, { ...metadata, [DATA_DIGEST_KEY]: digest(plain.subarray(start)) });
}

/**
 * Verify the data digest of a safetensors file when its header records one (a file without one, or
 * with a header that does not parse, is left to the decoder, whose errors name what is wrong).
 */
export function checkSealed(bytes: Uint8Array, name: string): void {
  const start = dataStart(bytes);
  if (start === null) return;
  let want: unknown;
  try {
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, start))) as Record<string, unknown>;
    want = (header?.__metadata__ as Record<string, unknown> | undefined)?.[DATA_DIGEST_KEY];
  } catch {
    return;
  }
  if (want === undefined) return;
  const have = digest(bytes.subarray(start));
  if (want !== have)
    throw new ValueError(
      `${name}: ${DATA_DIGEST_KEY}`,
      `${String(want).slice(0, 64)} (recorded in the header)`,
      `${have}: the weights were changed or are damaged`,
    );
}
