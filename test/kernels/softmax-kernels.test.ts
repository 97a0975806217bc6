// Kernels.softmaxRows on every kernel set (TypeScript, WebAssembly SIMD, two threads) against a
// float64 reference: odd row lengths (vector part and scalar tail), offsets, scale, logZ only
// (out = null), rows spanning several of the WebAssembly kernel's chunks, large and very
// negative logits, NaN propagating to its row only; outputs below 2^−100 stored as 0 (never a
// float32 subnormal), the others and logZ as the float64 reference; and the cross-entropy built on it.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { crossEntropySum, softmaxCrossEntropy } from "../../packages/egru/src/nn/loss.js";
import { assertClose } from "../helpers.js";
import { forEachKernelSet } from "../kernel-sets.js";

/** The float64 softmax of each row: [logZ [N], p [N, V]]. */
function reference(x: ArrayLike<number>, xOff: number, N: number, V: number): [Float64Array, Float64Array] {
  const logZ = new Float64Array(N);
  const p = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, x[xOff + n * V + v]);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(x[xOff + n * V + v] - m);
    logZ[n] = m + Math.log(s);
    for (let v = 0; v < V; v++) p[n * V + v] = Math.exp(x[xOff + n * V + v] - logZ[n]);
  }
  return [logZ, p];
}

function logits(n: number, seed: number, std: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal(0, std));
}

forEachKernelSet((k) => {
  for (const [N, V] of [
    [1, 1],
    [3, 2],
    [5, 7],
    [9, 13],
    [4, 1003],
    [17, 10007], // 17 rows of 10,007: two chunks of the WebAssembly kernel (1,048,576 floats each)
    [130, 8191],
  ]) {
    test(`${k.name}: softmaxRows ${N}×${V} with offsets and scale, against float64`, () => {
      const xOff = 3;
      const outOff = 5;
      const x = logits(xOff + N * V, N * 31 + V, 4);
      const out = new Float32Array(outOff + N * V + 2).fill(7);
      const logZ = new Float32Array(2 + N).fill(7);
      const scale = 1 / 3;
      k.softmaxRows(N, V, x, xOff, out, outOff, scale, logZ, 2);
      const [wantZ, wantP] = reference(x, xOff, N, V);
      assertClose(logZ.subarray(2), wantZ, { atol: 2e-6, rtol: 1e-6, name: "logZ" });
      assertClose(
        out.subarray(outOff, outOff + N * V),
        wantP.map((p) => p * scale),
        { atol: 1e-9, rtol: 2e-6, name: "out" },
      );
      assert.deepEqual([...out.subarray(0, outOff), ...out.subarray(outOff + N * V)], [7, 7, 7, 7, 7, 7, 7]);
      assert.deepEqual([...logZ.subarray(0, 2)], [7, 7]);
      // logZ alone: the same numbers
      const only = new Float32Array(N);
      k.softmaxRows(N, V, x, xOff, null, 0, 1, only, 0);
      assert.deepEqual(only, logZ.subarray(2));
    });
  }

  test(`${k.name}: softmaxRows of large, very negative and NaN logits`, () => {
    const V = 11;
    const x = new Float32Array(3 * V);
    x.fill(-1e30, 0, V); // row 0: one large logit among very negative ones
    x[4] = 80;
    for (let v = 0; v < V; v++) x[V + v] = 1e4 + v; // row 1: large values, softmax of 0…10
    x.fill(0, 2 * V);
    x[2 * V + 6] = Number.NaN; // row 2: a NaN
    const out = new Float32Array(3 * V);
    const logZ = new Float32Array(3);
    k.softmaxRows(3, V, x, 0, out, 0, 1, logZ, 0);
    assert.ok(Math.abs(logZ[0] - 80) < 1e-5, `logZ[0] ${logZ[0]}`);
    assert.ok(Math.abs(out[4] - 1) < 1e-6);
    for (let v = 0; v < V; v++) if (v !== 4) assert.ok(out[v] >= 0 && out[v] < 1e-30, `out[${v}] ${out[v]}`);
    const [z1, p1] = reference(
      Array.from({ length: V }, (_, v) => v),
      0,
      1,
      V,
    );
    assert.ok(Math.abs(logZ[1] - (1e4 + z1[0])) < 2e-3, `logZ[1] ${logZ[1]}`);
    assertClose(out.subarray(V, 2 * V), p1, { atol: 1e-7, rtol: 1e-5, name: "row 1" });
    assert.ok(Number.isNaN(logZ[2]), "a NaN logit makes its row's logZ NaN");
  });

  test(`${k.name}: softmaxRows stores outputs below 2^−100 as 0 and keeps the rest (no subnormals)`, () => {
    // rows of 1,001 logits spread over 0 … −200 (e^−69.3 = 2^−100), scaled as a batch of 1,000 rows
    // would scale dlogits: many exact outputs fall below 2^−100, and a few into the float32 subnormals
    const [N, V] = [3, 1001];
    const x = Float32Array.from({ length: N * V }, (_, i) => -((i * 7919) % V) * (0.2 - 0.01 * Math.floor(i / V)));
    const out = new Float32Array(N * V);
    const logZ = new Float32Array(N);
    const scale = 1e-3;
    k.softmaxRows(N, V, x, 0, out, 0, scale, logZ, 0);
    const [wantZ, wantP] = reference(x, 0, N, V);
    assertClose(logZ, wantZ, { atol: 2e-6, rtol: 1e-6, name: "logZ" });
    let zeroed = 0;
    let kept = 0;
    for (let i = 0; i < N * V; i++) {
      const want = wantP[i] * scale;
      assert.ok(out[i] === 0 || Math.abs(out[i]) >= 2 ** -126, `out[${i}] = ${out[i]} is subnormal`);
      if (want < 2 ** -100 * 0.999) {
        assert.equal(out[i], 0, `out[${i}]: ${want} is below 2^−100`);
        zeroed++;
      } else if (want > 2 ** -100 * 1.001) {
        assert.ok(Math.abs(out[i] - want) <= 2e-6 * want, `out[${i}] ${out[i]} against ${want}`);
        kept++;
      }
    }
    assert.ok(zeroed > 500 && kept > 500, `${zeroed} zeroed, ${kept} kept`);
  });

  test(`${k.name}: cross-entropy over a 10,000-word vocabulary against float64`, () => {
    const N = 37;
    const V = 10000;
    const x = logits(N * V, 5, 3);
    const rng = new Rng(9);
    const labels = Int32Array.from({ length: N }, () => rng.int(V));
    labels[0] = x.subarray(0, V).indexOf(Math.max(...x.subarray(0, V))); // one row predicted right
    const r = softmaxCrossEntropy(x, labels, V, k);
    const [wantZ, wantP] = reference(x, 0, N, V);
    let want = 0;
    for (let n = 0; n < N; n++) want += wantZ[n] - x[n * V + labels[n]];
    assert.ok(Math.abs(r.loss - want / N) < 1e-6 * (want / N), `loss ${r.loss} vs ${want / N}`);
    assert.ok(Math.abs(crossEntropySum(x, labels, V, k) - want) < 1e-6 * want);
    for (let n = 0; n < N; n++) wantP[n * V + labels[n]] -= 1;
    assertClose(
      r.dlogits,
      wantP.map((g) => g / N),
      { atol: 1e-10, rtol: 2e-6, name: "dlogits" },
    );
    assert.equal(r.correct, 1);
    // not counting the rows predicted right (the language models) changes nothing else
    const uncounted = softmaxCrossEntropy(x, labels, V, k, null, false);
    assert.ok(Number.isNaN(uncounted.correct));
    assert.equal(uncounted.loss, r.loss);
    assert.deepEqual(uncounted.dlogits, r.dlogits);
  });
});
