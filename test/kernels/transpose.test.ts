// The transpose kernel (dst[cols, rows] (+)= src[rows, cols]ᵀ: the tied decoder's Embᵀ and its weight
// gradient) on every kernel set against a float64 reference at odd sizes (below, at and past the
// 16 × 16 tiles), overwriting and accumulating, in and out of the kernels' memory; every set gives
// the bits of the TypeScript twin.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { transposeMatrix, transposeRowsTs } from "../../packages/egru/src/kernels/row-ops.js";
import { KERNEL_SETS } from "../kernel-sets.js";

const SIZES = [
  [1, 1],
  [3, 17],
  [16, 16],
  [33, 7],
  [29, 45],
  [70, 19], // two row blocks of 48 and 22 on two threads
] as const;

for (const kernels of KERNEL_SETS) {
  for (const [rows, cols] of SIZES) {
    for (const resident of [false, true]) {
      test(`transpose [${kernels.name}] ${rows}×${cols}, ${resident ? "in the kernels' memory" : "ordinary arrays"}`, () => {
        const rng = new Rng(rows * 100 + cols);
        const n = rows * cols;
        const array = (): Float32Array => {
          const a = resident && kernels.alloc ? kernels.alloc(n) : new Float32Array(n);
          for (let i = 0; i < n; i++) a[i] = rng.normal();
          return a;
        };
        const src = array();
        const dst = array();
        const before = Float64Array.from(dst);
        transposeMatrix(kernels, rows, cols, src, dst, true);
        for (let r = 0; r < rows; r++)
          for (let c = 0; c < cols; c++) {
            const want = Math.fround(before[c * rows + r] + src[r * cols + c]);
            assert.equal(dst[c * rows + r], want, `accumulated [${c}, ${r}]`);
          }
        const twin = Float32Array.from(before);
        transposeRowsTs(rows, cols, src, twin, true);
        assert.deepEqual(Array.from(dst), Array.from(twin), "the twin's bits");
        transposeMatrix(kernels, rows, cols, src, dst, false);
        for (let r = 0; r < rows; r++)
          for (let c = 0; c < cols; c++) assert.equal(dst[c * rows + r], src[r * cols + c], `overwritten [${c}, ${r}]`);
        if (kernels.free && resident) for (const a of [src, dst]) kernels.free(a);
      });
    }
  }
}
