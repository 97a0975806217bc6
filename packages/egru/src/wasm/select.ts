// Choosing the kernels: the WebAssembly SIMD kernels where the host has WebAssembly SIMD, the
// portable TypeScript kernels elsewhere (or when asked for). Works the same in Node and browsers.

import { jsKernels, setKernels, type Kernels } from "../kernels/backend.js";
import { loadWasmKernels, type WasmKernelOptions } from "./wasm-kernels.js";

export type KernelChoice = "auto" | "wasm" | "js";

/**
 * Load the best available kernels and make them the default for every layer made without
 * explicit kernels. "auto" (default): WebAssembly SIMD if supported, else TypeScript; "wasm":
 * WebAssembly SIMD or an error; "js": the TypeScript kernels.
 */
export async function loadBestKernels(choice: KernelChoice = "auto", opts: WasmKernelOptions = {}): Promise<Kernels> {
  let k: Kernels = jsKernels;
  if (choice !== "js") {
    const wasm = await loadWasmKernels(opts);
    if (wasm) k = wasm;
    else if (choice === "wasm") throw new Error("WebAssembly SIMD is not available on this host: use the TypeScript kernels");
  }
  setKernels(k);
  return k;
}
