// Architecture rules, checked by reading the import lines of every source file of both packages:
//  - the library (packages/egru) is isomorphic except its node/ folder and the "egru/node" entry
//    (node.ts): no Node built-in, no runtime dependency, nothing outside the package;
//  - inside the library dependencies point one way: core ← kernels ← wasm ← reference/layers ← nn ← optim,
//    (wasm: the WebAssembly kernels and the default choice), io (safetensors) on core only;
//  - the command-line package (packages/cli) reaches the library only as "egru" / "egru/node"
//    (never by a relative path), and its data, train and viz folders stay isomorphic; only its
//    cli/, run/ and node/ folders touch Node.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { test } from "node:test";
import { builtinModules } from "node:module";
import { ROOT } from "../helpers.js";

const packages = join(ROOT, "packages");

interface PackageRules {
  src: string;
  /** Which top-level folders of src each folder may import from ("." is files directly in src). */
  allowed: Record<string, string[]>;
  /** Folders (or top-level files) that may use Node built-ins and "egru/node". */
  nodeOnly: Set<string>;
  /** Bare specifiers (packages) the isomorphic folders may import. */
  packages: string[];
}

const LIBRARY: PackageRules = {
  src: join(packages, "egru", "src"),
  allowed: {
    core: ["core"],
    kernels: ["core", "kernels"],
    reference: ["core", "kernels", "reference"],
    layers: ["core", "kernels", "wasm", "layers"],
    nn: ["core", "kernels", "wasm", "layers", "nn"],
    optim: ["core", "nn", "optim"],
    io: ["core", "io"],
    wasm: ["core", "kernels", "wasm"],
    model: ["core", "kernels", "wasm", "layers", "nn", "optim", "io", "model"],
    ".": ["core", "kernels", "reference", "layers", "nn", "optim", "io", "wasm", "model"],
  },
  nodeOnly: new Set(["node", "node.ts"]),
  packages: [],
};

const CLI: PackageRules = {
  src: join(packages, "cli", "src"),
  allowed: {
    data: ["data"],
    train: ["data", "train"],
    viz: ["viz"],
    ".": ["data", "train"],
  },
  nodeOnly: new Set(["cli", "node", "run"]),
  packages: ["egru", "zod", "d3-scale", "d3-scale-chromatic"],
};

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

/** Every broken rule of one package, as "file: problem". */
function problems(rules: PackageRules, atLeast = 6): string[] {
  const all = files(rules.src);
  assert.ok(all.length >= atLeast, `${rules.src} has source files`);
  const found: string[] = [];
  const topOf = (rel: string): string => (rel.includes("/") ? rel.split("/")[0] : ".");
  for (const file of all) {
    const rel = relative(rules.src, file);
    const top = topOf(rel);
    const nodeOnly = rules.nodeOnly.has(top) || rules.nodeOnly.has(rel);
    for (const spec of imports(file)) {
      if (spec.startsWith(".")) {
        const target = relative(rules.src, join(dirname(file), spec));
        if (target.startsWith("..")) {
          found.push(`${rel}: imports ${spec}, outside its package (use the package name)`);
          continue;
        }
        if (nodeOnly) continue;
        const tTop = topOf(target);
        if (rules.nodeOnly.has(tTop) || rules.nodeOnly.has(target.replace(/\.js$/, ".ts"))) {
          found.push(`${rel}: imports Node-only module ${target}`);
        } else if (!(rules.allowed[top] ?? []).includes(tTop)) {
          found.push(`${rel}: ${top} may not import from ${tTop} (${target})`);
        }
      } else if (!nodeOnly) {
        if (isBuiltin(spec)) found.push(`${rel}: imports Node built-in "${spec}"`);
        else if (!rules.packages.includes(spec))
          found.push(`${rel}: imports package "${spec}" (allowed: ${rules.packages.join(", ") || "none"})`);
      }
    }
    if (!nodeOnly && !rules.allowed[top])
      found.push(`${rel}: folder "${top}" has no rule in test/package/boundaries.test.ts`);
  }
  return found;
}

test("the library is isomorphic, self-contained and layered one way", () => {
  assert.deepEqual(problems(LIBRARY), []);
});

test("the command-line package reaches the library by name and keeps data, train and viz isomorphic", () => {
  assert.deepEqual(problems(CLI), []);
});

test("the rules can fail: Node built-ins, packages, escapes and upward imports are caught", () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-boundaries-"));
  try {
    mkdirSync(join(dir, "low"));
    mkdirSync(join(dir, "high"));
    writeFileSync(
      join(dir, "low", "a.ts"),
      'import { x } from "../high/b.js";\nimport { readFileSync } from "node:fs";\n',
    );
    writeFileSync(join(dir, "low", "c.ts"), 'import z from "zod";\nexport { y } from "../../elsewhere/d.js";\n');
    writeFileSync(join(dir, "high", "b.ts"), 'import { a } from "../low/a.js";\n');
    const rules: PackageRules = {
      src: dir,
      allowed: { low: ["low"], high: ["low", "high"] },
      nodeOnly: new Set(),
      packages: [],
    };
    const found = problems(rules, 2);
    assert.deepEqual(found.sort(), [
      'low/a.ts: imports Node built-in "node:fs"',
      "low/a.ts: low may not import from high (high/b.js)",
      "low/c.ts: imports ../../elsewhere/d.js, outside its package (use the package name)",
      'low/c.ts: imports package "zod" (allowed: none)',
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
