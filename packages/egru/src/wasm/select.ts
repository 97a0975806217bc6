// The library's default kernels, and choosing them. Every layer computes with the kernels given in
// its `kernels` option, or else with the default from this file: on first use, the WebAssembly SIMD
// kernels where the host has WebAssembly SIMD and compiles the module synchronously (Node, Web
// Workers), the portable TypeScript kernels otherwise. Where only asynchronous compilation is
// allowed (a browser's main thread), the TypeScript kernels serve until the WebAssembly ones have
// loaded in the background; `await ready()` waits for them. setKernels() / loadBestKernels()
// replace the default explicitly; chooseKernels() loads kernels to pass without touching it.

import { StateError } from "../core/errors.js";
import { jsKernels, type Kernels } from "../kernels/backend.js";
import { loadWasmKernels, loadWasmKernelsSync, simdSupported, type WasmKernelOptions } from "./wasm-kernels.js";

export type KernelChoice = "auto" | "wasm" | "js";

let current: Kernels | null = null;
let loading: Promise<Kernels> | null = null;

/**
 * The kernels a layer made without a `kernels` option computes with: the ones installed by
 * setKernels() or loadBestKernels(), else the best available (decided on the first call).
 */
export function defaultKernels(): Kernels {
  if (current) return current;
  const wasm = loadWasmKernelsSync();
  if (wasm) return (current = wasm);
  if (simdSupported() && !loading) {
    // SIMD is there but synchronous compilation was refused: load in the background
    loading = loadWasmKernels().then((k) =>
      current === null || current === jsKernels ? (current = k ?? jsKernels) : current,
    );
    loading.catch(() => undefined);
  }
  return jsKernels;
}

/** The same as defaultKernels() (the name the library has always had). */
export function getKernels(): Kernels {
  return defaultKernels();
}

/** Make `k` the default kernels of every layer made without a `kernels` option. */
export function setKernels(k: Kernels): void {
  current = k;
}

/**
 * Resolves with the default kernels once the best available have loaded: immediately in Node and
 * Web Workers; after the background compilation on a browser's main thread.
 */
export async function ready(): Promise<Kernels> {
  const k = defaultKernels();
  return loading ? await loading : k;
}

/**
 * Load the best available kernels, without making them the default (pass them to the layers or
 * models that should use them). "auto" (default): WebAssembly SIMD if supported, else TypeScript;
 * "wasm": WebAssembly SIMD or an error; "js": the TypeScript kernels.
 */
export async function chooseKernels(choice: KernelChoice = "auto", opts: WasmKernelOptions = {}): Promise<Kernels> {
  if (choice === "js") return jsKernels;
  const wasm = await loadWasmKernels(opts);
  if (wasm) return wasm;
  if (choice === "wasm")
    throw new StateError("kernels", 'a host with WebAssembly SIMD for "wasm"', 'none (use "auto" or "js")');
  return jsKernels;
}

/** chooseKernels(), and make the kernels it returns the default of every layer made without a `kernels` option. */
export async function loadBestKernels(choice: KernelChoice = "auto", opts: WasmKernelOptions = {}): Promise<Kernels> {
  const k = await chooseKernels(choice, opts);
  setKernels(k);
  return k;
}
