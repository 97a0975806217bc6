// The repository's import rules, run: dependency-cruiser cruises what `npm run depcruise` names, with
// .dependency-cruiser.mjs (the one place the rules are written: no import cycle outside type-only
// imports, the library isomorphic, self-contained and layered one way, the CLI reaching it by name), and
// every violation fails here with its rule, file and import. dependency-cruiser looks for one cycle per
// import and can pass over a cycle whose imports each also close a type-only loop, so the cycles are
// also found independently (strongly connected components of the imports that are not type-only).

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { cruise, type ICruiseOptions, type ICruiseResult, type IViolation } from "dependency-cruiser";
import extractDepcruiseOptions from "dependency-cruiser/config-utl/extract-depcruise-options";
import extractTSConfig from "dependency-cruiser/config-utl/extract-ts-config";
import { ROOT } from "../helpers.js";

/** The folders `npm run depcruise` cruises: the arguments of its script that are not options. */
function sources(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };
  const [command, ...args] = pkg.scripts.depcruise?.split(/\s+/) ?? [];
  assert.equal(command, "depcruise", 'package.json has a "depcruise" script');
  return args.filter((arg) => !arg.startsWith("-"));
}

/** Cruises `paths` under `baseDir` with the repository's configuration. */
async function cruiseWithRules(baseDir: string, paths: string[]): Promise<ICruiseResult> {
  const options: ICruiseOptions = await extractDepcruiseOptions(join(ROOT, ".dependency-cruiser.mjs"));
  const tsConfig = extractTSConfig(join(ROOT, "tsconfig.test.json"));
  const { output } = await cruise(paths, { ...options, baseDir }, undefined, { tsConfig });
  assert.ok(typeof output !== "string", "dependency-cruiser returned its result object");
  return output;
}

/** Every cycle of imports that are not type-only, as "a → b → … → a", one per strongly connected component. */
function runtimeCycles(result: ICruiseResult): string[] {
  const next = new Map<string, string[]>();
  for (const m of result.modules) {
    const runtime = m.dependencies.filter((d) => !d.coreModule && !d.dependencyTypes.includes("type-only"));
    next.set(
      m.source,
      runtime.map((d) => d.resolved),
    );
  }
  // Tarjan's algorithm
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop() as string;
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || next.get(v)?.includes(v)) components.push(component);
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  // a shortest way round each component, from its first module
  return components.map((component) => {
    const inside = new Set(component);
    const start = [...component].sort()[0] as string;
    const cameFrom = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0 && !cameFrom.has(start)) {
      const v = queue.shift() as string;
      for (const w of next.get(v) ?? []) {
        if (inside.has(w) && !cameFrom.has(w)) {
          cameFrom.set(w, v);
          queue.push(w);
        }
      }
    }
    const path = [start];
    for (let v = cameFrom.get(start) as string; v !== start; v = cameFrom.get(v) as string) path.unshift(v);
    return [start, ...path].join(" → ");
  });
}

const describe = (v: IViolation): string =>
  v.cycle
    ? `${v.rule.name}: ${[v.from, ...v.cycle.map((c) => c.name)].join(" → ")}`
    : `${v.rule.name}: ${v.from} → ${v.to}`;

/** What fails: each violation, and each runtime cycle that no cycle violation touches. */
function problems(result: ICruiseResult): string[] {
  const violations = result.summary.violations;
  const found = violations.map(describe);
  const flagged = new Set(violations.filter((v) => v.rule.name === "no-circular").map((v) => v.from));
  for (const cycle of runtimeCycles(result)) {
    if (!cycle.split(" → ").some((m) => flagged.has(m)))
      found.push(`no-circular (not seen by dependency-cruiser): ${cycle}`);
  }
  return found.sort();
}

test("the sources keep the import rules of .dependency-cruiser.mjs: no import cycle outside type-only imports, and the boundaries", async () => {
  const result = await cruiseWithRules(ROOT, sources());
  assert.ok(result.summary.totalCruised > 100, `dependency-cruiser found the sources (${result.summary.totalCruised})`);
  const comments = new Map((result.summary.ruleSetUsed?.forbidden ?? []).map((r) => [r.name, r.comment]));
  const found = problems(result);
  assert.deepEqual(
    found,
    [],
    `${found.length} import(s) break the rules of .dependency-cruiser.mjs:\n${found
      .map((p) => `  ${p}\n    (${comments.get(p.split(/[: ]/)[0] as string)})`)
      .join("\n")}`,
  );
});

test("every rule can fail: a made-up repository that breaks each one is caught, import by import", async () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-boundaries-"));
  const files: Record<string, string> = {
    "packages/egru/package.json": JSON.stringify({
      name: "egru",
      type: "module",
      exports: { ".": { "egru-source": "./src/index.ts" }, "./node": { "egru-source": "./src/node.ts" } },
    }),
    "node_modules/some-package/package.json": JSON.stringify({ name: "some-package", main: "index.js" }),
    "node_modules/some-package/index.js": "export default 1;\n",
    "tools/s.ts": "export const s = 1;\n",
    "packages/egru/src/index.ts": 'export { a } from "./core/a.js";\n',
    "packages/egru/src/node.ts": 'export { n } from "./node/n.js";\n',
    "packages/egru/src/node/n.ts": 'import { cpus } from "node:os";\nexport const n = cpus().length;\n',
    "packages/egru/src/core/a.ts":
      'import { readFileSync } from "node:fs";\nimport { b } from "../layers/b.js";\nimport x from "some-package";\n' +
      'export { s } from "../../../../tools/s.js";\nexport const a = (): unknown => [readFileSync, b, x];\n',
    "packages/egru/src/layers/b.ts":
      'import { a } from "../core/a.js";\nimport { n } from "../node/n.js";\nexport const b = [a, n];\nexport type B = number;\n',
    // type-only imports count for the boundaries
    "packages/egru/src/io/i.ts": 'import type { B } from "../layers/b.js";\nexport type I = B;\n',
    "packages/egru/src/extra/e.ts": 'import { a } from "../core/a.js";\nexport const e = a;\n',
    "packages/cli/src/data/d.ts":
      'import { n } from "egru/node";\nimport { a } from "../../../egru/src/core/a.js";\nexport const d = [n, a];\n',
    "packages/cli/src/train/t.ts":
      'import { c } from "../cli/c.js";\nimport x from "some-package";\nexport const t = [c, x];\n',
    "packages/cli/src/viz/v.ts": 'import { d } from "../data/d.js";\nexport const v = d;\n',
    "packages/cli/src/node/m.ts":
      'import { c } from "../cli/c.js";\nimport { r } from "../run/r.js";\nimport { a } from "egru";\nexport const m = [c, r, a];\n',
    "packages/cli/src/run/r.ts": 'import { c } from "../cli/c.js";\nexport const r = c;\n',
    "packages/cli/src/cli/c.ts": 'import { gone } from "./missing.js";\nexport const c = gone;\n',
    // a cycle through a type-only import is no cycle
    "packages/cli/src/cli/p.ts": 'import type { Q } from "./q.js";\nexport type P = Q;\nexport const p = 1;\n',
    "packages/cli/src/cli/q.ts": 'import { p } from "./p.js";\nexport type Q = number;\nexport const q = p;\n',
    // a runtime cycle x → y → z → x whose every import also closes a type-only loop: dependency-cruiser's
    // search finds only those loops, the components find the cycle
    "packages/cli/src/cli/x.ts":
      'import { y } from "./y.js";\nimport type { Z } from "./z.js";\nexport const x = (): number => y();\nexport type X = Z;\n',
    "packages/cli/src/cli/y.ts":
      'import { z } from "./z.js";\nimport type { X } from "./x.js";\nexport const y = (): number => z();\nexport type Y = X;\n',
    "packages/cli/src/cli/z.ts":
      'import { x } from "./x.js";\nimport type { Y } from "./y.js";\nexport const z = (): number => x();\nexport type Z = Y;\n',
  };
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    symlinkSync(join(dir, "packages", "egru"), join(dir, "node_modules", "egru"), "dir");
    const lib = "packages/egru/src";
    const cli = "packages/cli/src";
    assert.deepEqual(problems(await cruiseWithRules(dir, ["packages"])), [
      `cli-isomorphic-packages: ${cli}/train/t.ts → node_modules/some-package/index.js`,
      `cli-layers-node: ${cli}/node/m.ts → ${cli}/cli/c.ts`,
      `cli-layers-node: ${cli}/node/m.ts → ${cli}/run/r.ts`,
      `cli-layers-run: ${cli}/run/r.ts → ${cli}/cli/c.ts`,
      `cli-layers-viz: ${cli}/viz/v.ts → ${cli}/data/d.ts`,
      `cli-library-by-name: ${cli}/data/d.ts → ${lib}/core/a.ts`,
      `egru-folder-has-no-rule: ${lib}/extra/e.ts → ${lib}/core/a.ts`,
      `egru-layers-core: ${lib}/core/a.ts → ${lib}/layers/b.ts`,
      `egru-layers-io: ${lib}/io/i.ts → ${lib}/layers/b.ts`,
      `egru-self-contained: ${lib}/core/a.ts → node_modules/some-package/index.js`,
      `egru-self-contained: ${lib}/core/a.ts → tools/s.ts`,
      `isomorphic-no-node-builtin: ${lib}/core/a.ts → fs`,
      `isomorphic-no-node-only-module: ${cli}/data/d.ts → ${lib}/node.ts`,
      `isomorphic-no-node-only-module: ${cli}/train/t.ts → ${cli}/cli/c.ts`,
      `isomorphic-no-node-only-module: ${lib}/layers/b.ts → ${lib}/node/n.ts`,
      `no-circular (not seen by dependency-cruiser): ${cli}/cli/x.ts → ${cli}/cli/y.ts → ${cli}/cli/z.ts → ${cli}/cli/x.ts`,
      `no-circular: ${lib}/core/a.ts → ${lib}/layers/b.ts → ${lib}/core/a.ts`,
      `not-to-unresolvable: ${cli}/cli/c.ts → ./missing.js`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
