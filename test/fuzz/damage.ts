// Damage done to one file of a valid instance of a format, for the fuzz suites (test/fuzz/*.test.ts)
// and npm run fuzz (bench/fuzz.ts): byte edits (truncation, bit flips, bytes set, inserted, deleted),
// a hostile value written into one of the format's size fields (u16/u32/u64), an edit of the JSON
// value inside the file (json-damage.ts), or the file replaced by a directory or a symbolic link.
// Positions are drawn as whole numbers and taken modulo the file's length, so one damage value
// applies to any file and reads back the same whatever the file's size.

import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import fc from "fast-check";
import { type JsonEdit, jsonEdit } from "./json-damage.js";

export type ByteEdit =
  | { op: "truncate"; at: number }
  | { op: "flip"; at: number; bit: number }
  | { op: "set"; at: number; byte: number }
  | { op: "insert"; at: number; bytes: number[] }
  | { op: "delete"; at: number; count: number };

/** What a file is replaced by: a directory, or a link to a copy of itself, to nothing, to itself, to a directory. */
export type Replacement = "directory" | "symlink" | "dangling-symlink" | "symlink-loop" | "symlink-to-directory";

/** A size field of a format: where it is in the file, its width and byte order. */
export interface Field {
  name: string;
  at: number;
  bytes: 2 | 4 | 8;
  little: boolean;
}

/** One case's damage; `target` indexes the format's files that take this kind of damage. */
export type Damage =
  | { kind: "bytes"; target: number; edits: ByteEdit[] }
  | { kind: "field"; target: number; field: number; value: string }
  | { kind: "json"; target: number; edit: JsonEdit; reseal: boolean }
  | { kind: "replace"; target: number; by: Replacement };

/** Values a size or count field may be given: edges of the integer types, and ordinary sizes off by one. */
const HOSTILE_SIZES = [
  0n,
  1n,
  2n,
  7n,
  8n,
  27n,
  29n,
  127n,
  128n,
  255n,
  784n,
  4095n,
  0x7fffn,
  0x8000n,
  0xffffn,
  0x10000n,
  0x7fffffffn,
  0x80000000n,
  0xfffffffen,
  0xffffffffn,
  2n ** 53n + 1n,
  2n ** 63n,
  2n ** 64n - 1n,
];

const position = fc.nat({ max: 2 ** 30 });

/** Byte edits; `tokens` are strings a text format may choke on, inserted as they are. */
export function byteEdits(tokens: readonly string[] = []): fc.Arbitrary<ByteEdit[]> {
  const inserted = fc.oneof(
    fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 16 }),
    ...(tokens.length ? [fc.constantFrom(...tokens).map((t) => [...Buffer.from(t, "utf8")])] : []),
  );
  const edit: fc.Arbitrary<ByteEdit> = fc.oneof(
    fc.record({ op: fc.constant("truncate" as const), at: position }),
    fc.record({ op: fc.constant("flip" as const), at: position, bit: fc.nat({ max: 7 }) }),
    fc.record({ op: fc.constant("set" as const), at: position, byte: fc.nat({ max: 255 }) }),
    fc.record({ op: fc.constant("insert" as const), at: position, bytes: inserted }),
    fc.record({ op: fc.constant("delete" as const), at: position, count: fc.integer({ min: 1, max: 64 }) }),
  );
  return fc.array(edit, { minLength: 1, maxLength: 3 });
}

/** A value for a size field, as decimal text (it may not fit a double). */
export const fieldValue: fc.Arbitrary<string> = fc
  .oneof(fc.constantFrom(...HOSTILE_SIZES), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }))
  .map(String);

export const replacement: fc.Arbitrary<Replacement> = fc.constantFrom(
  "directory",
  "symlink",
  "dangling-symlink",
  "symlink-loop",
  "symlink-to-directory",
);

/** Which kinds of damage a format takes, and how many of its files take each. */
export interface DamageKinds {
  files: number;
  fieldFiles: number;
  jsonFiles: number;
  tokens?: readonly string[];
}

/** The damage of one case for a format with these kinds (byte edits and replacements always; fields and JSON where it has them). */
export function damage(k: DamageKinds): fc.Arbitrary<Damage> {
  const target = (n: number) => fc.nat({ max: n - 1 });
  const kinds: fc.Arbitrary<Damage>[] = [
    fc.record({ kind: fc.constant("bytes" as const), target: target(k.files), edits: byteEdits(k.tokens) }),
    fc.record({ kind: fc.constant("replace" as const), target: target(k.files), by: replacement }),
  ];
  if (k.fieldFiles > 0)
    kinds.push(
      fc.record({
        kind: fc.constant("field" as const),
        target: target(k.fieldFiles),
        field: fc.nat({ max: 1000 }),
        value: fieldValue,
      }),
    );
  if (k.jsonFiles > 0)
    kinds.push(
      fc.record({
        kind: fc.constant("json" as const),
        target: target(k.jsonFiles),
        edit: jsonEdit,
        reseal: fc.boolean(),
      }),
    );
  // byte edits are the most common damage: weigh them up
  return fc.oneof({ arbitrary: kinds[0], weight: 3 }, ...kinds.slice(1));
}

/** `bytes` with the edits applied in order (positions modulo the current length). */
export function applyByteEdits(bytes: Uint8Array, edits: ByteEdit[]): Uint8Array {
  let b = Uint8Array.from(bytes);
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % (e.op === "insert" || e.op === "truncate" ? b.length + 1 : b.length);
    if (e.op === "truncate") b = b.slice(0, at);
    else if (e.op === "insert") b = Uint8Array.from([...b.subarray(0, at), ...e.bytes, ...b.subarray(at)]);
    else if (b.length === 0) continue;
    else if (e.op === "flip") b[at] ^= 1 << e.bit;
    else if (e.op === "set") b[at] = e.byte;
    else b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + e.count)]);
  }
  return b;
}

/** `bytes` with `value` written into the field (cut to its width). */
export function applyField(bytes: Uint8Array, f: Field, value: string): Uint8Array {
  const b = Uint8Array.from(bytes);
  if (f.at + f.bytes > b.length) return b;
  const v = BigInt(value) & ((1n << BigInt(8 * f.bytes)) - 1n);
  const view = new DataView(b.buffer);
  if (f.bytes === 8) view.setBigUint64(f.at, v, f.little);
  else if (f.bytes === 4) view.setUint32(f.at, Number(v), f.little);
  else view.setUint16(f.at, Number(v), f.little);
  return b;
}

/**
 * Replace the file at `path` (whose valid bytes are `valid`) as `by` says; `scratch` is a directory
 * outside the instance for the link targets.
 */
export function replaceFile(path: string, by: Replacement, valid: Uint8Array, scratch: string): void {
  rmSync(path, { recursive: true, force: true });
  if (by === "directory") mkdirSync(path);
  else if (by === "symlink-loop") symlinkSync(path, path);
  else if (by === "dangling-symlink") symlinkSync(`${scratch}/missing`, path);
  else if (by === "symlink-to-directory") {
    mkdirSync(`${scratch}/dir`, { recursive: true });
    symlinkSync(`${scratch}/dir`, path);
  } else {
    writeFileSync(`${scratch}/copy`, valid);
    symlinkSync(`${scratch}/copy`, path);
  }
}
