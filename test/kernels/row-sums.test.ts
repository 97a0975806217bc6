// sumRowsInto (column sums into an accumulator, four rows at a time) and addBiasRows against a
// float64 reference at odd sizes: row counts below, at and past every multiple of four, offsets,
// float32 and float64 arrays.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { addBiasRows, sumRowsInto } from "../../packages/egru/src/kernels/gemm.js";
import { assertClose } from "../helpers.js";

for (const Arr of [Float32Array, Float64Array]) {
  for (const rows of [0, 1, 3, 4, 5, 8, 11]) {
    for (const cols of [1, 7]) {
      test(`sumRowsInto ${Arr.name} ${rows}×${cols} at offset 3, into an accumulator`, () => {
        const rng = new Rng(rows * 10 + cols);
        const random = (n: number) => new Arr(Array.from({ length: n }, () => rng.normal()));
        const m = random(3 + rows * cols + 2);
        const acc = random(cols);
        const want = Float64Array.from(acc);
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) want[j] += m[3 + i * cols + j];
        sumRowsInto(acc, m, 3, rows, cols);
        assertClose(acc, want, { atol: 1e-6, rtol: Arr === Float32Array ? 1e-6 : 1e-14, name: "acc" });
      });
    }
  }
}

test("addBiasRows adds the bias to each row from the offset on, nothing else", () => {
  const out = new Float32Array(2 + 3 * 5).fill(1);
  const bias = Float32Array.from([1, 2, 3, 4, 5]);
  addBiasRows(out, 2, 3, 5, bias);
  assert.deepEqual([...out.subarray(0, 2)], [1, 1]);
  for (let i = 0; i < 3; i++) assert.deepEqual([...out.subarray(2 + i * 5, 7 + i * 5)], [2, 3, 4, 5, 6]);
});
