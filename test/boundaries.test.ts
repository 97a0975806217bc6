// Architecture rules, checked by reading the import lines of every source file:
//  - the isomorphic core (everything but src/cli and src/node) imports no Node built-in, so it
//    can run in a browser;
//  - dependencies point one way: core ← kernels ← reference/layers ← nn ← optim ← train ← cli
//    (data: core only).

import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { builtinModules } from "node:module";

const src = join(dirname(fileURLToPath(import.meta.url)), "..", "src");

/** Which top-level folders of src each folder may import from. */
const ALLOWED: Record<string, string[]> = {
  core: ["core"],
  kernels: ["core", "kernels"],
  reference: ["core", "kernels", "reference"],
  layers: ["core", "kernels", "layers"],
  nn: ["core", "kernels", "layers", "nn"],
  optim: ["core", "nn", "optim"],
  train: ["core", "kernels", "layers", "nn", "optim", "data", "train"],
  data: ["core", "data"],
  viz: ["core", "viz"],
  wasm: ["core", "kernels", "wasm"],
  ".": ["core", "kernels", "reference", "layers", "nn", "optim", "train", "data", "viz", "wasm"],
};
const NODE_ONLY = new Set(["cli", "node"]);

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^"'`;]*?from\s*["']([^"']+)["']/g)) found.push(m[1]);
  for (const m of text.matchAll(/import\(\s*["']([^"']+)["']\s*\)/g)) found.push(m[1]);
  return found;
}

const isBuiltin = (spec: string): boolean =>
  spec.startsWith("node:") || builtinModules.includes(spec) || builtinModules.includes(spec.split("/")[0]);

test("the isomorphic core imports no Node built-in and respects the dependency direction", () => {
  const all = files(src);
  assert.ok(all.length > 5);
  const problems: string[] = [];
  for (const file of all) {
    const rel = relative(src, file);
    const top = rel.includes("/") ? rel.split("/")[0] : ".";
    if (NODE_ONLY.has(top)) continue;
    const allowed = ALLOWED[top];
    if (!allowed) {
      problems.push(`${rel}: folder "${top}" has no rule in test/boundaries.test.ts`);
      continue;
    }
    for (const spec of imports(file)) {
      if (isBuiltin(spec)) problems.push(`${rel}: imports Node built-in "${spec}"`);
      else if (spec.startsWith(".")) {
        const target = relative(src, join(dirname(file), spec));
        const tTop = target.includes("/") ? target.split("/")[0] : ".";
        if (NODE_ONLY.has(tTop)) problems.push(`${rel}: imports Node-only module ${target}`);
        else if (!allowed.includes(tTop)) problems.push(`${rel}: ${top} may not import from ${tTop} (${target})`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
