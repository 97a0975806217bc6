// The test suites' layout: npm test runs test/*/*.test.ts, so every suite must sit in one floor
// folder of test/ (a suite anywhere else would silently never run), and the shared files stay at
// the top of test/.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { test } from "node:test";
import { ROOT } from "../helpers.js";

const FLOORS = ["kernels", "layers", "models", "training", "data", "cli", "reports", "bridge", "package", "fuzz"];
const TESTS = join(ROOT, "test");

/** Paths under dir (relative to test/) of the files whose names end with `.test.ts`. */
function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? testFiles(join(dir, e.name))
      : e.name.endsWith(".test.ts")
        ? [relative(TESTS, join(dir, e.name))]
        : [],
  );
}

test("every suite is in a floor folder of test/, and every floor has suites", () => {
  const files = testFiles(TESTS);
  const misplaced = files.filter((f) => {
    const parts = f.split(sep);
    return parts.length !== 2 || !FLOORS.includes(parts[0]);
  });
  assert.deepEqual(misplaced, [], `suites outside test/{${FLOORS.join(",")}}/ never run`);
  for (const floor of FLOORS)
    assert.ok(
      files.some((f) => f.startsWith(floor + sep)),
      `test/${floor}/ has no suite`,
    );
});

test("npm test runs test/*/*.test.ts", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.test, /--test test\/\*\/\*\.test\.ts$/);
});
