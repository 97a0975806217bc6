// Edits of a JSON value for the fuzz suites (damage.ts): a node of the value (drawn by its index in
// pre-order, modulo the node count) is replaced, deleted, or given a new key, with a hostile value:
// a wrong type, an edge number, a number JSON writes but a double cannot hold (1e400), a string where
// a number belongs, a long string, a reserved name (__proto__ as an own key, as JSON.parse makes it),
// or nesting far deeper than any format has. Values too big to print (deep nesting, long strings) are
// described in the edit and built only when it is applied, so a failing case prints short.

import fc from "fast-check";

/** A hostile value: plain JSON, text written as is (numbers beyond a double), deep nesting, or a long string. */
export type HostileValue =
  | { plain: unknown }
  | { raw: string }
  | { deep: number; array: boolean }
  | { long: number; char: string };

export interface JsonEdit {
  node: number;
  op: "replace" | "delete" | "add";
  key: string;
  value: HostileValue;
}

const PLAIN: unknown[] = [
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  0.5,
  1e-320,
  1e308,
  -1e308,
  2 ** 31,
  2 ** 32,
  2 ** 53 + 2,
  "",
  "1",
  "12",
  "1e3",
  "NaN",
  "Infinity",
  "true",
  "null",
  "\u0000",
  "\ud800",
  "../../x",
  "ckpt-00000001",
  "egru-checkpoint-1",
  "F16",
  "F64",
  "I64",
  [],
  [1],
  [0, 0],
  [-1, 2],
  [1e308, 1e308],
  {},
  { a: 1 },
];

const RAW = ["1e400", "-1e400", "1e-400", "123456789012345678901234567890", "-0.0", "0.1e1", "4294967296"];

/** Names a new key may have: reserved ones, empty, and names the formats use. */
const KEYS = ["__proto__", "constructor", "prototype", "", "x", "format", "sha256", "state", "shape", "__metadata__"];

export const hostileValue: fc.Arbitrary<HostileValue> = fc.oneof(
  { arbitrary: fc.constantFrom(...PLAIN).map((plain) => ({ plain })), weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }).map((plain) => ({ plain })), weight: 2 },
  fc.constantFrom(...RAW).map((raw) => ({ raw })),
  fc.record({ deep: fc.constantFrom(9, 20, 1000, 100_000), array: fc.boolean() }),
  fc.record({ long: fc.constantFrom(1000, 1_000_000), char: fc.constantFrom("a", "9", "é", "\u001b") }),
);

export const jsonEdit: fc.Arbitrary<JsonEdit> = fc.record({
  node: fc.nat({ max: 10_000 }),
  op: fc.constantFrom("replace" as const, "delete" as const, "add" as const),
  key: fc.constantFrom(...KEYS),
  value: hostileValue,
});

/** Marks a value whose JSON text is written as is (raws[i]); JSON.stringify escapes the NUL. */
const SENTINEL = "\u0000raw:";

/** An edited value, with the texts its sentinels stand for. */
export interface BuiltJson {
  value: unknown;
  raws: string[];
}

/** The value an edit puts in, with text that JSON.stringify cannot make left as a sentinel in `raws`. */
function build(v: HostileValue, raws: string[]): unknown {
  const rawText = (text: string): string => `${SENTINEL}${raws.push(text) - 1}`;
  if ("plain" in v) return structuredClone(v.plain);
  if ("raw" in v) return rawText(v.raw);
  if ("long" in v) return v.char.repeat(v.long);
  const [open, close] = v.array ? ["[", "]"] : ['{"a":', "}"];
  return rawText(`${open.repeat(v.deep)}${v.array ? "" : "0"}${close.repeat(v.deep)}`);
}

/** Set an own property (also "__proto__", which a plain assignment would turn into a prototype). */
function setOwn(o: object, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Every node of a value in pre-order, with its parent and key (the root has none). */
function nodes(root: unknown): { parent: object | null; key: string; value: unknown }[] {
  const out: { parent: object | null; key: string; value: unknown }[] = [];
  const walk = (parent: object | null, key: string, value: unknown): void => {
    out.push({ parent, key, value });
    if (value !== null && typeof value === "object") for (const [k, v] of Object.entries(value)) walk(value, k, v);
  };
  walk(null, "", root);
  return out;
}

/** Apply an edit to a parsed value (changed in place where it can be); returns the new root and the raw texts. */
export function applyJsonEdit(root: unknown, edit: JsonEdit): BuiltJson {
  const raws: string[] = [];
  const value = build(edit.value, raws);
  const all = nodes(root);
  const { parent, key, value: node } = all[edit.node % all.length];
  const replace = (v: unknown): BuiltJson => {
    if (parent === null) return { value: v, raws };
    setOwn(parent, key, v);
    return { value: root, raws };
  };
  if (edit.op === "replace") return replace(value);
  if (edit.op === "delete") {
    if (parent === null) return { value: undefined, raws };
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete (parent as Record<string, unknown>)[key];
    return { value: root, raws };
  }
  if (Array.isArray(node)) {
    node.push(value);
    return { value: root, raws };
  }
  if (node !== null && typeof node === "object") {
    setOwn(node, edit.key, value);
    return { value: root, raws };
  }
  const wrapped = {};
  setOwn(wrapped, edit.key, value);
  return replace(wrapped);
}

/** The JSON text of a built value (no text at all for a deleted root). */
export function jsonText(b: BuiltJson, space?: number): string {
  if (b.value === undefined) return "";
  return JSON.stringify(b.value, null, space).replace(/"\\u0000raw:(\d+)"/g, (_, i: string) => b.raws[Number(i)]);
}
