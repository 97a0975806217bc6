#!/usr/bin/env node
// Compiles the AssemblyScript kernels in assembly/ to WebAssembly (SIMD, -O3, stub runtime, no
// assertions, imported memory) four times — importing a shared memory (threads enabled, so a
// worker pool can share it) or a plain one for hosts without SharedArrayBuffer, each with plain
// SIMD and with relaxed SIMD (fused multiply-add in the products: ASC_FEATURE_RELAXED_SIMD in
// assembly/common.ts) — and writes the two shared-memory binaries as base64 into
// src/wasm/kernels-wasm.generated.ts (git-ignored), which the isomorphic loader
// src/wasm/wasm-kernels.ts imports, with the offset of the one byte in which each plain-memory build
// differs (checked here), so a browser bundle carries two modules, not four. The relaxed-SIMD modules
// are only instantiated here where this Node validates relaxed SIMD (Node 22+). Run by
// `npm run build:wasm`; exits 1 with the compiler's messages when anything fails.

import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const entry = "assembly/index.ts";
const outFile = join(root, "src", "wasm", "kernels-wasm.generated.ts");

/** Memory limits declared by the module, in 64 KiB pages; the loader picks its own within them. */
const INITIAL_PAGES = 1;
const MAXIMUM_PAGES = 65536;

/** The functions the loader calls; the build fails if one is missing. */
const EXPORTS = [
  "heapBase",
  "scratchBytes",
  "gemmNN",
  "gemmNT",
  "gemmTN",
  "eventGemmNN",
  "eventGemmTN",
  "maskedGemmNT",
  "egruCellForward",
  "egruCellBackward",
  "gruCellForward",
  "gruCellBackward",
  "lstmCellForward",
  "lstmCellBackward",
  "vecMatColumns",
  "gemmNNi8",
  "i8VecMatColumns",
  "i8VecMatEvents",
  "i8FinishParts",
  "softmaxRows",
  "gemmTNColumns",
  "eventGemmTNUnits",
  "egruCellBackwardUnits",
  "addBiasRows",
  "sumRowsColumns",
  "egruReceiveMask",
  "countNonzero",
  "firstNonFinite",
  "adamUpdate",
  "sgdUpdate",
  "sumSquaresChunks",
  "countOutside",
  "transposeRows",
  "transposeRowsBlock",
];

function fail(message) {
  process.stderr.write(`build-wasm: ${message}\n`);
  process.exit(1);
}

let asc;
try {
  asc = (await import("assemblyscript/asc")).default;
} catch (e) {
  fail(
    `cannot load the AssemblyScript compiler (is the assemblyscript devDependency installed? run npm ci): ${e.message}`,
  );
}

/** Compile once; returns the .wasm bytes. */
async function compile(shared, relaxed) {
  const args = [
    entry,
    "--outFile",
    "kernels.wasm",
    "-O3",
    "--noAssert",
    "--runtime",
    "stub",
    "--enable",
    "simd",
    "--importMemory",
    "--initialMemory",
    String(INITIAL_PAGES),
    "--maximumMemory",
    String(MAXIMUM_PAGES),
    "--noColors",
  ];
  if (shared) args.push("--enable", "threads", "--sharedMemory");
  if (relaxed) args.push("--enable", "relaxed-simd");
  let wasm = null;
  const stdout = asc.createMemoryStream();
  const stderr = asc.createMemoryStream();
  const result = await asc.main(args, {
    stdout,
    stderr,
    readFile: async (name, baseDir) => {
      try {
        return await readFile(join(root, baseDir, name), "utf8");
      } catch {
        return null;
      }
    },
    writeFile: (name, contents) => {
      if (name.endsWith(".wasm")) wasm = contents;
    },
  });
  const log = `${stdout.toString()}${stderr.toString()}`.trim();
  const variant = `${shared ? "shared-memory" : "plain-memory"}${relaxed ? " relaxed-SIMD" : ""}`;
  if (result.error) fail(`compiling ${entry} (${variant}) failed: ${result.error.message}\n${log}`);
  if (!(wasm instanceof Uint8Array) || wasm.length === 0) fail(`the compiler produced no ${variant} .wasm\n${log}`);
  if (!relaxed || WebAssembly.validate(wasm)) check(wasm, variant);
  return wasm;
}

/** The module must import exactly env.memory and export every kernel. */
function check(bytes, variant) {
  let mod;
  try {
    mod = new WebAssembly.Module(bytes);
  } catch (e) {
    fail(`the ${variant} module does not compile in this Node: ${e.message}`);
  }
  const imports = WebAssembly.Module.imports(mod).map((i) => `${i.module}.${i.name}:${i.kind}`);
  if (imports.length !== 1 || imports[0] !== "env.memory:memory") {
    fail(`the ${variant} module must import only env.memory, but imports ${imports.join(", ")}`);
  }
  const exported = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
  const missing = EXPORTS.filter((n) => !exported.has(n));
  if (missing.length) fail(`the ${variant} module does not export ${missing.join(", ")}`);
}

/**
 * The byte offset of the memory import's limits flag in a shared-memory module (0x03: shared, with
 * a maximum) whose plain-memory build differs from it in that byte alone (0x01: with a maximum).
 * Only the shared build is shipped; the loader makes the plain one by writing 0x01 there.
 */
function sharedFlagOffset(shared, plain, variant) {
  const diff = [];
  if (shared.length === plain.length) for (let i = 0; i < shared.length; i++) if (shared[i] !== plain[i]) diff.push(i);
  if (diff.length !== 1 || shared[diff[0]] !== 0x03 || plain[diff[0]] !== 0x01) {
    fail(`the ${variant} shared- and plain-memory builds differ in more than the memory import's flag`);
  }
  return diff[0];
}

const shared = await compile(true, false);
const plain = await compile(false, false);
const sharedRelaxed = await compile(true, true);
const plainRelaxed = await compile(false, true);
const flag = sharedFlagOffset(shared, plain, "SIMD");
const flagRelaxed = sharedFlagOffset(sharedRelaxed, plainRelaxed, "relaxed-SIMD");
const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const text = `// generated by scripts/build-wasm.mjs, do not edit (from ${entry} with AssemblyScript ${asc.version}).
// The kernels of src/wasm/wasm-kernels.ts as base64 WebAssembly, with SIMD and with relaxed SIMD,
// each importing a shared memory; the build importing a plain memory (for hosts without
// SharedArrayBuffer) differs only in the memory import's limits flag, at the offset given.

/** Declared memory limits, in 64 KiB pages. */
export const WASM_INITIAL_PAGES = ${INITIAL_PAGES};
export const WASM_MAXIMUM_PAGES = ${MAXIMUM_PAGES};

/** The kernels importing a shared memory (${shared.length} bytes). */
export const WASM_BASE64 =
  "${b64(shared)}";

/** The byte of WASM_BASE64's memory import flag: 0x03 (shared), 0x01 for a plain memory. */
export const WASM_SHARED_FLAG_AT = ${flag};

/** The relaxed-SIMD kernels importing a shared memory (${sharedRelaxed.length} bytes). */
export const WASM_RELAXED_BASE64 =
  "${b64(sharedRelaxed)}";

/** The byte of WASM_RELAXED_BASE64's memory import flag. */
export const WASM_RELAXED_SHARED_FLAG_AT = ${flagRelaxed};
`;
await mkdir(dirname(outFile), { recursive: true });
let old = null;
try {
  old = await readFile(outFile, "utf8");
} catch {
  // first build
}
if (old !== text) await writeFile(outFile, text);
process.stdout.write(
  `build-wasm: ${relative(root, outFile)} (${shared.length} + ${sharedRelaxed.length} bytes of WebAssembly)\n`,
);
