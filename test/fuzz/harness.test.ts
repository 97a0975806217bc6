// The fuzz harness can fail: a reader that crashes, hangs, allocates without bound, throws an error
// that does not name the file, or accepts garbage is judged so; a typed error naming the file and a
// good result pass. And the damage does what it says (deep nesting, __proto__ as an own key).

import assert from "node:assert/strict";
import { test } from "node:test";
import { ValueError } from "../../packages/egru/src/core/errors.js";
import type { Damage } from "./damage.js";
import { type FuzzFormat, FuzzRun, MEMORY_BOUND, type Outcome } from "./harness.js";
import { applyJsonEdit, jsonText } from "./json-damage.js";

/** A format of one 3-byte file whose reader behaves as `bad` on a damaged copy (and reads the intact one). */
function fake(bad: (dir: string) => unknown, wrong: () => string | null = () => null): FuzzFormat {
  return {
    name: "fake",
    reads: "",
    instance: () => ({ "f.bin": Uint8Array.from([1, 2, 3]) }),
    files: [{ path: "f.bin" }],
    read: (dir) => (dir.endsWith("valid") ? "ok" : bad(dir)),
    wrong,
  };
}

const flip: Damage = { kind: "bytes", target: 0, edits: [{ op: "flip", at: 1, bit: 0 }] };

/** The outcome of one damaged read; a case may take `hangMs`. */
function outcome(format: FuzzFormat, hangMs = 5000): Outcome {
  const run = new FuzzRun(format, hangMs);
  try {
    return run.run({ damage: flip, seed: 0 }).outcome;
  } finally {
    run.dispose();
  }
}

test("the harness judges each way a reader can fail, and passes what is right", () => {
  let kept: unknown;
  assert.equal(
    outcome(
      fake((dir) => {
        throw new ValueError(`${dir}/f.bin: byte 1`, "a good byte", "a flipped one");
      }),
    ),
    "typed",
  );
  assert.equal(outcome(fake(() => "a result")), "valid");
  assert.equal(
    outcome(
      fake(() => {
        throw new TypeError("Cannot read properties of undefined");
      }),
    ),
    "crash",
  );
  assert.equal(
    outcome(
      fake(() => {
        throw new ValueError("some file", "a good byte", "a flipped one");
      }),
    ),
    "unnamed",
  );
  assert.equal(
    outcome(
      fake(() => {
        const t = performance.now();
        while (performance.now() - t < 120);
        return 1;
      }),
      50,
    ),
    "hang",
  );
  assert.equal(outcome(fake(() => (kept = Buffer.alloc(MEMORY_BOUND + 2 ** 20, 1)))), "memory");
  assert.ok(kept);
  assert.equal(
    outcome(
      fake(
        () => "a result",
        () => "not what was written",
      ),
    ),
    "garbage",
  );
});

test("JSON edits: deep nesting as text, __proto__ as an own key, numbers beyond a double", () => {
  const deep = applyJsonEdit({ a: 1 }, { node: 1, op: "replace", key: "", value: { deep: 100_000, array: true } });
  const text = jsonText(deep);
  assert.equal(text.length, 2 * 100_000 + 6);
  assert.ok(text.startsWith('{"a":[[[['));
  const proto = applyJsonEdit({ a: 1 }, { node: 0, op: "add", key: "__proto__", value: { plain: { x: 1 } } });
  assert.equal(jsonText(proto), '{"a":1,"__proto__":{"x":1}}');
  const raw = applyJsonEdit([1], { node: 1, op: "replace", key: "", value: { raw: "1e400" } });
  assert.equal(jsonText(raw), "[1e400]");
});
