// The library's default kernels, each case in a fresh process (the default is module state): Node
// gets the WebAssembly SIMD kernels on first use with no call; a host that refuses synchronous
// compilation (as a browser's main thread does for modules over 4 KB) gets the TypeScript kernels
// at once and the WebAssembly ones after `await ready()`; setKernels / loadBestKernels("js") win.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT, SOURCE_FLAGS } from "../helpers.js";

const LIB = join(ROOT, "packages/egru/src/index.ts");

/** Run an ES module body in a fresh Node process; returns its last stdout line parsed. */
function run(body: string): unknown {
  const r = spawnSync(process.execPath, [...SOURCE_FLAGS, "--input-type=module", "-e", body], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

test("first use in Node: the WebAssembly kernels, with no call", () => {
  const got = run(`
    const { EGRU, GRU, LSTM, Linear, Conv2d, defaultKernels } = await import(${JSON.stringify(LIB)});
    const layers = [new EGRU({ inputSize: 3, hiddenSize: 4 }), new GRU({ inputSize: 3, hiddenSize: 4 }),
      new LSTM({ inputSize: 3, hiddenSize: 4 }), new Linear({ inputSize: 3, outputSize: 4 }),
      new Conv2d({ inChannels: 1, outChannels: 2, kernel: 3, height: 5, width: 5 })];
    console.log(JSON.stringify([...layers.map((l) => l.kernels.name), defaultKernels().name]));`);
  assert.deepEqual(got, ["wasm-simd", "wasm-simd", "wasm-simd", "wasm-simd", "wasm-simd", "wasm-simd"]);
});

test("synchronous compilation refused: TypeScript kernels at once, WebAssembly after ready(); results agree", () => {
  const got = run(`
    const Real = WebAssembly.Module;
    WebAssembly.Module = function () { throw new RangeError("WebAssembly.Compile is disallowed on the main thread"); };
    const { EGRU, ready, jsKernels } = await import(${JSON.stringify(LIB)});
    const layer = new EGRU({ inputSize: 3, hiddenSize: 5, seed: 2 });
    const x = new Float32Array(4 * 2 * 3).map((_, i) => Math.cos(i));
    const before = layer.kernels.name;
    const y1 = layer.forward({ x, T: 4, B: 2 }).y;
    const k = await ready();
    const y2 = layer.forward({ x, T: 4, B: 2 }).y;
    let diff = 0;
    for (let i = 0; i < y1.length; i++) diff = Math.max(diff, Math.abs(y1[i] - y2[i]));
    const explicit = new EGRU({ inputSize: 3, hiddenSize: 5, kernels: jsKernels }).kernels.name;
    WebAssembly.Module = Real;
    console.log(JSON.stringify({ before, after: layer.kernels.name, ready: k.name, diff, explicit }));`) as Record<
    string,
    unknown
  >;
  assert.equal(got.before, "js");
  assert.equal(got.after, "wasm-simd");
  assert.equal(got.ready, "wasm-simd");
  assert.equal(got.explicit, "js", "an explicit kernels option wins over the default");
  assert.ok((got.diff as number) < 1e-5, `the two kernel sets agree (max diff ${got.diff})`);
});

test("an explicit choice replaces the default: loadBestKernels(js) and setKernels", () => {
  const got = run(`
    const { EGRU, loadBestKernels, setKernels, loadWasmKernelsSync } = await import(${JSON.stringify(LIB)});
    await loadBestKernels("js");
    const a = new EGRU({ inputSize: 3, hiddenSize: 4 }).kernels.name;
    setKernels(loadWasmKernelsSync());
    const b = new EGRU({ inputSize: 3, hiddenSize: 4 }).kernels.name;
    console.log(JSON.stringify([a, b]));`);
  assert.deepEqual(got, ["js", "wasm-simd"]);
});
