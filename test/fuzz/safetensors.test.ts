// Fuzz: safetensors files, plain (every dtype egru reads) and sealed, damaged at random; and the
// regressions it found: a header value nested 10^5 deep made decodeSafetensors throw a RangeError
// (JSON.stringify in its message), and a sealed file whose header was damaged (a tensor renamed, a
// metadata entry changed) was accepted, the seal covering only the data: header_sha256 covers the rest.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { decodeSafetensors, encodeSafetensors } from "../../packages/egru/src/io/safetensors.js";
import {
  checkSealed,
  DATA_DIGEST_KEY,
  HEADER_DIGEST_KEY,
  sealSafetensors,
} from "../../packages/egru/src/node/sealed-safetensors.js";
import { SAFETENSORS, SEALED_SAFETENSORS } from "./format-safetensors.js";
import { checkFormat } from "./property.js";

test("damaged safetensors files give tensors or typed errors naming the file", () => {
  checkFormat(SAFETENSORS, 100);
});

test("damaged sealed safetensors files read back exactly as sealed, or are refused naming the file", () => {
  checkFormat(SEALED_SAFETENSORS, 100);
});

/** A safetensors file of one 4-value tensor whose header text is `json`. */
function withHeader(json: string): Uint8Array {
  const head = Buffer.from(json, "utf8");
  const out = new Uint8Array(8 + head.length + 16);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  return out;
}

test("a header value nested 10^5 deep is refused by name, before anything quotes it", () => {
  const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
  const bytes = withHeader(`{"w":{"dtype":"F32","shape":${deep},"data_offsets":[0,16]}}`);
  assert.throws(
    () => decodeSafetensors(bytes, "m.st"),
    /^ValueError: m\.st: tensor w: expected at most 2 levels of nesting .*, got deeper nesting$/,
  );
  assert.doesNotThrow(() => checkSealed(bytes, "m.st")); // (left to the decoder)
  const meta = withHeader(`{"__metadata__":{"a":${deep}},"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`);
  assert.throws(() => decodeSafetensors(meta, "m.st"), /^ValueError: m\.st: __metadata__: expected at most 2/);
});

const tensors = { "a.weight": { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) } };

/** `bytes` with the first occurrence of `from` in its header replaced by `to` (same length). */
function edited(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const b = Buffer.from(bytes);
  const at = b.indexOf(from);
  assert.ok(at > 0 && from.length === to.length);
  b.write(to, at);
  return b;
}

test("a sealed file's header is sealed: a renamed tensor or a changed metadata entry is refused", () => {
  const sealed = sealSafetensors(tensors, { format: "egru-model-1" });
  const { metadata } = decodeSafetensors(sealed, "f");
  assert.match(metadata[HEADER_DIGEST_KEY], /^[0-9a-f]{64}$/);
  assert.doesNotThrow(() => checkSealed(sealed, "f"));
  for (const [from, to] of [
    ["a.weight", "b.weight"],
    ["egru-model-1", "egru-model-2"],
    ['"shape":[2,2]', '"shape":[1,4]'],
  ])
    assert.throws(
      () => checkSealed(edited(sealed, from, to), "best.safetensors"),
      /^ValueError: best\.safetensors: header_sha256: expected [0-9a-f]{64} \(recorded in the header\), got [0-9a-f]{64}: the header \(names, shapes, offsets or metadata\) was changed or is damaged$/,
    );
});

test("a file an earlier egru sealed (data_sha256 only) is still verified and read", () => {
  const plain = encodeSafetensors(tensors);
  const data = plain.subarray(plain.length - 16);
  const older = encodeSafetensors(tensors, {
    format: "egru-model-1",
    [DATA_DIGEST_KEY]: createHash("sha256").update(data).digest("hex"),
  });
  assert.doesNotThrow(() => checkSealed(older, "old.safetensors"));
  const flipped = Uint8Array.from(older);
  flipped[flipped.length - 1] ^= 1;
  assert.throws(() => checkSealed(flipped, "old.safetensors"), /old\.safetensors: data_sha256: expected/);
});
