// Kernels on several threads: every split call is bit-identical to the one-thread WebAssembly
// kernels, whatever the thread count, for plain arrays and for views into the shared memory (the
// weight gradients split by columns also against a float64 reference, and the row helpers against
// their TypeScript twins); and a whole EGRU layer gives bit-identical results and gradients on 1,
// 2 and 3 threads, its time loop in one call by blocks of rows, or step by step with its cells split too.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { heavisideEvent } from "../../packages/egru/src/kernels/activations.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { addBiasRows, sumRowsInto } from "../../packages/egru/src/kernels/gemm.js";
import { receiveMaskRows } from "../../packages/egru/src/kernels/row-ops.js";
import { columnBlocks, createThreadedKernels, rowBlocks } from "../../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { egruData, egruForwardBackward } from "../egru-cases.js";
import { assertClose, stepLoopKernels } from "../helpers.js";

const base = await loadWasmKernels();
assert.ok(base, "WebAssembly SIMD kernels must load in Node 20");
const threaded = [2, 3].map((t) => createThreadedKernels(base, t, { minWork: 0, minColumnWork: 0, minPointwise: 0 }));
after(() => Promise.all(threaded.map((k) => k.close())));

const rand = (n: number, seed: number, density = 1): Float32Array => {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() < density ? rng.normal() : 0;
  return a;
};

test("row blocks cover the rows once, aligned to 8", () => {
  assert.deepEqual(rowBlocks(100, 3), [
    [0, 40],
    [40, 40],
    [80, 20],
  ]);
  assert.deepEqual(rowBlocks(16, 2), [
    [0, 8],
    [8, 8],
  ]);
  for (const [rows, t] of [
    [17, 2],
    [1000, 3],
    [9, 4],
  ]) {
    const b = rowBlocks(rows, t);
    assert.equal(
      b.reduce((s, [, r]) => s + r, 0),
      rows,
    );
    assert.ok(b.length <= t);
  }
});

test("column blocks cover the columns once, aligned to 4", () => {
  assert.deepEqual(columnBlocks(4050, 2), [
    [0, 2028],
    [2028, 2022],
  ]);
  assert.deepEqual(columnBlocks(10, 3), [
    [0, 4],
    [4, 4],
    [8, 2],
  ]);
  for (const [cols, t] of [
    [9, 2],
    [2250, 3],
    [5, 4],
  ]) {
    const b = columnBlocks(cols, t);
    assert.equal(
      b.reduce((s, [, c]) => s + c, 0),
      cols,
    );
    assert.ok(b.length <= t && b.every(([c0], i) => i === 0 || c0 === b[i - 1][0] + b[i - 1][1]));
  }
});

describe("split calls are bit-identical to one thread", () => {
  for (const k of threaded) {
    test(`${k.name}: one-row products split by columns (dense and by events, blocked reductions, accumulate)`, () => {
      for (const [N, K] of [
        [4050, 750],
        [37, 300],
        [9, 5],
        [130, 1350],
      ]) {
        for (const acc of [false, true]) {
          const x = rand(K + 1, N);
          const W = rand(K * N + 2, K);
          const q0 = rand(N + 3, 1);
          const q1 = q0.slice();
          base.gemmNN(1, N, K, x, 1, W, 2, q0, 3, acc);
          k.gemmNN(1, N, K, x, 1, W, 2, q1, 3, acc);
          assert.deepEqual(q1, q0, `gemmNN 1×${N}×${K} acc=${acc}`);
          for (const density of [0.05, 0.5]) {
            const y = rand(K, N + K, density);
            const Wv = base.alloc(K * N);
            Wv.set(W.subarray(0, K * N));
            const e0 = rand(N, 2);
            const e1 = e0.slice();
            const m0 = base.eventGemmNN(1, N, K, y, 0, Wv, 0, e0, 0, acc);
            const m1 = k.eventGemmNN(1, N, K, y, 0, Wv, 0, e1, 0, acc);
            assert.deepEqual(e1, e0, `eventGemmNN 1×${N}×${K} at ${density}`);
            assert.equal(m1, m0, "MACs");
            base.free(Wv);
          }
        }
      }
    });

    for (const [M, N, K] of [
      [17, 33, 65],
      [130, 7, 33],
      [64, 129, 17],
      [24, 5, 3],
    ]) {
      test(`${k.name}: gemmNN / gemmNT ${M}×${N}×${K}, offsets, accumulate`, () => {
        for (const acc of [false, true]) {
          const A = rand(M * K + 3, M);
          const B = rand(K * N + 5, N);
          const C0 = rand(M * N + 2, K);
          const C1 = C0.slice();
          base.gemmNN(M, N, K, A, 3, B, 5, C0, 2, acc);
          k.gemmNN(M, N, K, A, 3, B, 5, C1, 2, acc);
          assert.deepEqual(C1, C0, "gemmNN");
          const Bt = rand(N * K, N + 1);
          const D0 = rand(M * N, K + 1);
          const D1 = D0.slice();
          base.gemmNT(M, N, K, A, 3, Bt, 0, D0, 0, acc);
          k.gemmNT(M, N, K, A, 3, Bt, 0, D1, 0, acc);
          assert.deepEqual(D1, D0, "gemmNT");
        }
      });
    }
    test(`${k.name}: event and masked products by batch rows, with views into the shared memory`, () => {
      const B = 37,
        H = 50,
        N = 150;
      for (const density of [0, 0.1, 0.6, 1]) {
        const y = rand(B * H, 7, density);
        const R = base.alloc(H * N);
        R.set(rand(H * N, 8));
        const q0 = rand(B * N, 9);
        const q1 = base.alloc(B * N);
        q1.set(q0);
        const m0 = base.eventGemmNN(B, N, H, y, 0, R, 0, q0, 0, true);
        const m1 = k.eventGemmNN(B, N, H, y, 0, R, 0, q1, 0, true);
        assert.deepEqual(q1, q0, `eventGemmNN at ${density}`);
        assert.equal(m1, m0, "MACs");
        const dq = rand(B * N, 10);
        const mask = rand(B * H, 11, density).map((v) => (v !== 0 ? 1 : 0));
        const o0 = new Float32Array(B * H);
        const o1 = new Float32Array(B * H);
        assert.equal(
          k.maskedGemmNT(B, H, N, dq, 0, R, 0, mask, 0, o1, 0),
          base.maskedGemmNT(B, H, N, dq, 0, R, 0, mask, 0, o0, 0),
        );
        assert.deepEqual(o1, o0, `maskedGemmNT at ${density}`);
        base.free(R);
        base.free(q1);
      }
    });
  }
});

describe("weight gradients split by columns and the row helpers are bit-identical to one thread", () => {
  for (const k of threaded) {
    for (const [M, N, K] of [
      [8, 9, 8],
      [13, 131, 37],
      [33, 385, 301],
      [130, 23, 17],
    ]) {
      test(`${k.name}: gemmTN ${M}×${N}×${K} by columns, offsets, accumulate, against float64`, () => {
        for (const acc of [false, true]) {
          const A = rand(K * M + 3, M + K);
          const B = rand(K * N + 5, N * 3);
          const C0 = rand(M * N + 2, K + 7);
          const C1 = C0.slice();
          const want = Float64Array.from(C0.subarray(2));
          if (!acc) want.fill(0);
          for (let kk = 0; kk < K; kk++)
            for (let i = 0; i < M; i++)
              for (let j = 0; j < N; j++) want[i * N + j] += A[3 + kk * M + i] * B[5 + kk * N + j];
          base.gemmTN(M, N, K, A, 3, B, 5, C0, 2, acc);
          k.gemmTN(M, N, K, A, 3, B, 5, C1, 2, acc);
          assert.deepEqual(C1, C0, `gemmTN acc=${acc}`);
          assertClose(C1.subarray(2), want, { atol: 1e-4, rtol: 1e-4, name: "gemmTN against float64" });
        }
      });
    }

    test(`${k.name}: eventGemmTN by units at odd sizes and densities, with views into the shared memory`, () => {
      for (const [H, N, B] of [
        [50, 150, 37],
        [7, 9, 3],
        [33, 1155, 130],
        [601, 13, 1001], // (two chunks of rows: 872 rows of 601 units fill the lists' budget)
      ]) {
        for (const density of [0, 0.1, 0.6, 1]) {
          const y = rand(B * H + 1, H + B, density);
          const dq = base.alloc(B * N);
          dq.set(rand(B * N, N));
          const d0 = rand(H * N + 4, B);
          const d1 = d0.slice();
          const want = Float64Array.from(d0.subarray(4));
          for (let b = 0; b < B; b++)
            for (let j = 0; j < H; j++) for (let n = 0; n < N; n++) want[j * N + n] += y[1 + b * H + j] * dq[b * N + n];
          const m0 = base.eventGemmTN(H, N, B, y, 1, dq, 0, d0, 4);
          const m1 = k.eventGemmTN(H, N, B, y, 1, dq, 0, d1, 4);
          assert.deepEqual(d1, d0, `eventGemmTN ${H}×${N}×${B} at ${density}`);
          assert.equal(m1, m0, "MACs");
          assertClose(d1.subarray(4), want, { atol: 1e-4, rtol: 1e-4, name: "eventGemmTN against float64" });
          base.free(dq);
        }
      }
    });

    test(`${k.name}: bias rows, bias-gradient column sums and the receive mask against their TypeScript twins`, () => {
      for (const [rows, cols] of [
        [37, 13],
        [2, 3],
        [130, 385],
        [9, 1],
      ]) {
        const out = base.alloc(rows * cols + 3);
        out.set(rand(rows * cols + 3, rows));
        const ts = out.slice();
        const bias = rand(cols, cols);
        k.addBiasRows?.(out, 3, rows, cols, bias);
        addBiasRows(ts, 3, rows, cols, bias);
        assert.deepEqual(out, ts, `addBiasRows ${rows}×${cols}`);
        const acc = rand(cols, 5);
        const accTs = acc.slice();
        k.sumRowsInto?.(acc, out, 3, rows, cols);
        sumRowsInto(accTs, out, 3, rows, cols);
        assert.deepEqual(acc, accTs, `sumRowsInto ${rows}×${cols}`);
        const want = Float64Array.from(rand(cols, 5));
        for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) want[j] += out[3 + i * cols + j];
        assertClose(acc, want, { atol: 1e-4, rtol: 1e-5, name: "sumRowsInto against float64" });
        base.free(out);
        // the receive mask: fired units, units inside and outside the window, a zero γ
        const H = cols;
        // (o and c from row 1 on: the masks start at whole rows)
        const o = rand((rows + 1) * H, 3, 0.3).map((v) => (v !== 0 ? 1 : 0));
        const c = rand((rows + 1) * H, 4).map((v) => v * 2);
        const thr = rand(H, 6).map((v) => Math.abs(v) * 0.5);
        for (const event of [heavisideEvent(0.7, 1), heavisideEvent(0.3, 3.6), heavisideEvent(0, 1)]) {
          const m1 = new Float32Array(rows * H + 1);
          const m0 = new Float32Array(rows * H + 1);
          const args = { rows, H, o, c, off: H, thr, event, outOff: 1 };
          const ones = k.egruReceiveMask?.({ ...args, out: m1 });
          receiveMaskRows(o, c, thr, event, H, H, rows * H, m0, 1);
          assert.deepEqual(m1, m0, `receive mask ${rows}×${H}, γ ${event.gamma}`);
          assert.equal(
            ones,
            m0.reduce((s, v) => s + v, 0),
            "ones",
          );
        }
      }
    });
  }
});

for (const dims of [
  { T: 6, B: 24, I: 40, H: 64 },
  { T: 5, B: 37, I: 9, H: 45 },
]) {
  test(`an EGRU layer trains bit-identically on 1, 2 and 3 threads, cells split too ([T, B, I, H] = [${Object.values(dims)}])`, () => {
    const data = egruData(dims, 12);
    const run = (kernels: Kernels) => {
      const { layer, r, d } = egruForwardBackward(kernels, data, 14);
      return [r.y, r.trace, d.dx, d.dy0, ...Object.values(layer.grads)];
    };
    const one = run(base);
    // the time loop in one call by blocks of rows, and (its calls hidden) step by step with every call split
    for (const k of threaded.flatMap((t) => [t, stepLoopKernels(t)])) {
      const many = run(k);
      many.forEach((a, i) => assert.deepEqual(a, one[i], `${k.name}: array ${i}`));
    }
  });
}
