// The worker pool: exports of the kernel module run on worker threads against the shared memory,
// and a product split into row blocks across threads is bit-identical to the one-thread call.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { WasmPool } from "../../packages/egru/src/node/wasm-pool.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";

const kernels = await loadWasmKernels();
assert.ok(kernels, "WebAssembly SIMD kernels must load in Node 20");
assert.ok(kernels.wasm.shared, "Node has SharedArrayBuffer: the memory must be shared");
const pool = WasmPool.create(
  { threads: 3, module: kernels.wasm.module, memory: kernels.wasm.memory, exports: ["gemmNN", "gemmNT"] },
  kernels.wasm.exports as unknown as Record<string, (...a: number[]) => unknown>,
);
after(() => pool.close());

test("a gemm split into row blocks over three threads equals the one-thread call bit for bit", () => {
  const M = 144;
  const N = 77;
  const K = 131;
  const rng = new Rng(1);
  const A = kernels.alloc(M * K);
  const B = kernels.alloc(K * N);
  const C1 = kernels.alloc(M * N);
  const C3 = kernels.alloc(M * N);
  for (let i = 0; i < A.length; i++) A[i] = rng.normal();
  for (let i = 0; i < B.length; i++) B[i] = rng.normal();
  const ex = kernels.wasm.exports;
  const scratchFloats = Math.ceil(ex.scratchBytes(0, M, N, K) / 4) + 16;
  const scratch = [0, 1, 2].map(() => kernels.alloc(scratchFloats));
  ex.gemmNN(M, N, K, A.byteOffset, B.byteOffset, C1.byteOffset, 0, scratch[0].byteOffset);
  const rows = M / 3;
  pool.run(
    [0, 1, 2].map((i) => ({
      fn: "gemmNN",
      args: [
        rows,
        N,
        K,
        A.byteOffset + i * rows * K * 4,
        B.byteOffset,
        C3.byteOffset + i * rows * N * 4,
        0,
        scratch[i].byteOffset,
      ],
    })),
  );
  assert.deepEqual(C3, C1);
  let nonzero = 0;
  for (const v of C1) if (v !== 0) nonzero++;
  assert.ok(nonzero > M * N * 0.99, "the product was computed");
});
