// The memory a Node run plans with (src/train/memory.ts): the WebAssembly kernels' memory may grow
// to the module's maximum, 65536 pages (4 GiB; only address space is reserved until used), and the
// ordinary arrays of a step may use a third of the machine's memory, leaving the rest to the
// system and to other work. Both depend only on the machine, so a resumed run plans the same blocks.

import { totalmem } from "node:os";
import { jsKernels, type Kernels, WASM_MAXIMUM_PAGES } from "egru";
import { WASM_PAGE, type MemoryLimits } from "../train/memory.js";

/** Pages the CLI gives the WebAssembly memory at most: all the module allows. */
export const NODE_WASM_PAGES = WASM_MAXIMUM_PAGES;

/** The limits for runs on `kernels` (the TypeScript kernels have no WebAssembly memory). */
export function nodeMemoryLimits(kernels: Kernels): MemoryLimits {
  return { wasm: kernels === jsKernels ? Infinity : NODE_WASM_PAGES * WASM_PAGE, host: Math.floor(totalmem() / 3) };
}
