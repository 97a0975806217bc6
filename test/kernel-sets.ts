// The kernel sets a suite runs on, each once per test file: the library's TypeScript kernels
// ("js"), the WebAssembly SIMD kernels ("wasm-simd", built by npm ci) and those on two worker
// threads ("wasm-simd×2", every product and every pointwise call split however small, so that the
// split paths are the ones checked). The WebAssembly kernels are the build loadWasmKernels() picks:
// the relaxed-SIMD one where the host has relaxed SIMD (Node ≥ 22, unless EGRU_RELAXED_SIMD=0),
// whose products fuse their multiply-adds (fusedProducts). The threads are stopped when the file's
// tests have run.

import assert from "node:assert/strict";
import { after, describe } from "node:test";
import { jsKernels, type Kernels } from "../packages/egru/src/kernels/backend.js";
import { createThreadedKernels } from "../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../packages/egru/src/wasm/wasm-kernels.js";
import { fusesMultiplyAdd } from "./fused.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20 (built by npm ci)");
const threaded = createThreadedKernels(wasm, 2, { minWork: 0, minColumnWork: 0, minPointwise: 0, minStepEnd: 0 });
assert.equal(threaded.threads, 2, "Node has SharedArrayBuffer: the kernels must run on two threads");
after(() => threaded.close());

const wasmFused = fusesMultiplyAdd(wasm);

/**
 * Whether kernel set k (one of KERNEL_SETS) fuses the multiply-adds of its products: the
 * WebAssembly sets of the relaxed-SIMD build on a host with FMA. Their products then give the bits
 * of the same sums with one rounding per multiply-add (test/fused.ts fmaf) instead of two.
 */
export function fusedProducts(k: Kernels): boolean {
  return k !== jsKernels && wasmFused;
}

/** Every kernel set, the TypeScript kernels first; each is named by its `name` ("js", "wasm-simd", "wasm-simd×2"). */
export const KERNEL_SETS: readonly Kernels[] = [jsKernels, wasm, threaded];

/** Call fn with every kernel set in turn (to register tests per set, or to check each inside one test). */
export function forEachKernelSet(fn: (kernels: Kernels) => void): void {
  for (const kernels of KERNEL_SETS) fn(kernels);
}

/** One describe block per kernel set, named `${name} [${kernels.name}]`, whose tests fn registers. */
export function describeOnKernelSets(name: string, fn: (kernels: Kernels) => void): void {
  forEachKernelSet((kernels) => describe(`${name} [${kernels.name}]`, () => fn(kernels)));
}
