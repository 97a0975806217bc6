// Int8 weights (src/kernels/int8.ts, assembly/int8.ts): quantisation and its error bound on both
// scale axes, and the int8 products of every kernel set (TypeScript, WebAssembly SIMD, two threads)
// against a float64 reference of the dequantised weights at odd sizes — dense and sparse inputs
// (with −0 and tiny values), accumulate on and off, offsets — the same bits across kernel sets and between the
// dense product and the event gather (kernel sets that fuse their multiply-adds, the relaxed-SIMD build, give
// the bits of the same sums with fused multiply-adds), the MAC counts, resident (in-memory) int8 operands, and
// typed errors for mismatched shapes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ShapeError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import {
  checkInt8Matrix,
  dequantizeMatrix,
  INT8_MAX,
  type Int8Matrix,
  quantizeMatrix,
  SCALE_AXES,
  type ScaleAxis,
} from "../../packages/egru/src/kernels/int8.js";
import type { WasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { randomArray } from "../helpers.js";
import { fmaf, maddf } from "../fused.js";
import { fusedProducts, KERNEL_SETS } from "../kernel-sets.js";

const SENTINEL = 12345.5;

/** A [K, N] float matrix with rows of very different magnitudes (so the axes differ), and a zero row. */
function weights(rng: Rng, K: number, N: number): Float64Array {
  const w = randomArray(rng, K * N);
  for (let k = 0; k < K; k++) {
    const gain = k === 1 && K > 2 ? 0 : 2 ** rng.uniformRange(-4, 2);
    for (let n = 0; n < N; n++) w[k * N + n] *= gain;
  }
  return w;
}

test("quantizeMatrix: values in ±127, each unit's largest weight at ±127, |w − dequantised| ≤ scale/2, sign-symmetric", () => {
  const rng = new Rng(1);
  for (const [K, N] of [
    [1, 1],
    [3, 5],
    [17, 33],
    [64, 7],
  ] as const) {
    const w = weights(rng, K, N);
    for (const axis of SCALE_AXES) {
      const m = quantizeMatrix(w, K, N, axis);
      checkInt8Matrix("m", m);
      const d = dequantizeMatrix(m);
      const perInput = axis === "input";
      const peak = new Float64Array(perInput ? K : N);
      for (let k = 0; k < K; k++) {
        for (let n = 0; n < N; n++) {
          const u = perInput ? k : n;
          const s = m.scales[u];
          const q = m.values[k * N + n];
          assert.ok(q >= -INT8_MAX && q <= INT8_MAX, `value ${q} in ±127`);
          peak[u] = Math.max(peak[u], Math.abs(q));
          const err = Math.abs(w[k * N + n] - d[k * N + n]);
          assert.ok(
            err <= s / 2 + 1e-6 * Math.abs(w[k * N + n]) + 1e-30,
            `${axis} [${k},${n}]: error ${err} ≤ ${s / 2}`,
          );
        }
      }
      for (let u = 0; u < peak.length; u++) assert.equal(peak[u], m.scales[u] > 0 ? INT8_MAX : 0, `${axis} unit ${u}`);
      const neg = quantizeMatrix(
        w.map((v) => -v),
        K,
        N,
        axis,
      );
      assert.deepEqual(
        Array.from(neg.values),
        Array.from(m.values, (v) => (v === 0 ? 0 : -v)),
      );
      assert.deepEqual(neg.scales, m.scales);
    }
  }
  // a zero row (per input) has scale 0 and values 0
  const z = quantizeMatrix(new Float32Array([0, 0, 1, -2]), 2, 2, "input");
  assert.deepEqual(Array.from(z.scales), [0, Math.fround(2 / 127)]);
  assert.deepEqual(Array.from(z.values), [0, 0, 64, -127]);
});

test("quantizeMatrix and checkInt8Matrix refuse bad input with typed errors", () => {
  assert.throws(() => quantizeMatrix(new Float32Array(5), 2, 3, "output"), ShapeError);
  assert.throws(() => quantizeMatrix(new Float32Array([1, Number.NaN]), 1, 2, "output"), ValueError);
  assert.throws(() => quantizeMatrix(new Float32Array(2), 1, 2, "rows" as ScaleAxis), /axis/);
  const m = quantizeMatrix(new Float32Array([1, 2, 3, 4]), 2, 2, "output");
  assert.throws(() => checkInt8Matrix("W", { ...m, scales: new Float32Array(3) }), ShapeError);
  assert.throws(() => checkInt8Matrix("W", { ...m, scales: new Float32Array([1, -1]) }), /W: scales/);
  assert.throws(() => checkInt8Matrix("W", { ...m, values: new Int8Array(3) }), ShapeError);
});

interface Case {
  M: number;
  N: number;
  K: number;
  axis: ScaleAxis;
  density: number;
  accumulate: boolean;
  offset: number;
}

/** Every combination at odd sizes (both sides of the 4- and 16-column vector widths and of the 4-entry groups). */
function cases(): Case[] {
  const out: Case[] = [];
  let i = 0;
  for (const M of [1, 2, 5])
    for (const K of [1, 3, 9, 70])
      for (const N of [1, 3, 8, 15, 17, 37])
        for (const axis of SCALE_AXES)
          for (const density of [0, 0.15, 1]) {
            i++;
            out.push({ M, N, K, axis, density, accumulate: i % 2 === 0, offset: i % 3 });
          }
  return out;
}

/** The inputs of a case (A with zeros and −0 at the density's rate) and the float64 reference of A · dequantised W. */
function problem(c: Case, seed: number) {
  const rng = new Rng(seed);
  const { M, N, K } = c;
  const W = quantizeMatrix(weights(rng, K, N), K, N, c.axis);
  const A = new Float32Array(c.offset + M * K + 2).fill(SENTINEL);
  for (let i = 0; i < M * K; i++) {
    const u = rng.uniform();
    // (the second row tiny: coefficients below 2^−102 take another widening in the WebAssembly kernel)
    const tiny = Math.floor(i / K) === 1 ? 1e-33 : 1;
    const v = u < c.density ? rng.normal(0, 1) * tiny : u < (c.density + 1) / 2 ? -0 : 0;
    A[c.offset + i] = v;
  }
  const C0 = new Float32Array(c.offset + M * N + 2).fill(SENTINEL);
  for (let i = 0; i < M * N; i++) C0[c.offset + i] = rng.normal(0, 1);
  const ref = new Float64Array(M * N);
  const bound = new Float64Array(M * N); // Σ|terms|, for the float32 rounding tolerance
  const perInput = c.axis === "input";
  let nonzeros = 0;
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) if (A[c.offset + i * K + k] !== 0) nonzeros++;
    for (let n = 0; n < N; n++) {
      let s = c.accumulate ? C0[c.offset + i * N + n] : 0;
      let b = Math.abs(s);
      for (let k = 0; k < K; k++) {
        const w = W.values[k * N + n] * W.scales[perInput ? k : n];
        s += A[c.offset + i * K + k] * w;
        b += Math.abs(A[c.offset + i * K + k] * w);
      }
      ref[i * N + n] = s;
      bound[i * N + n] = b;
    }
  }
  return { W, A, C0, ref, bound, nonzeros };
}

/**
 * The int8 product in the order of src/kernels/int8.ts with the multiply-add `madd` (maddf: the
 * TypeScript kernels' two roundings; fmaf: one, as a kernel set that fuses them computes it).
 */
function emulate(
  c: Case,
  p: ReturnType<typeof problem>,
  madd: (a: number, b: number, c: number) => number,
): Float32Array {
  const f = Math.fround;
  const C = p.C0.slice();
  const perInput = c.axis === "input";
  for (let i = 0; i < c.M; i++) {
    const sum = new Float64Array(c.N);
    for (let k = 0; k < c.K; k++) {
      const a = p.A[c.offset + i * c.K + k];
      if (a === 0) continue;
      const coef = perInput ? f(a * p.W.scales[k]) : a;
      for (let n = 0; n < c.N; n++) sum[n] = madd(coef, p.W.values[k * c.N + n], sum[n]);
    }
    for (let n = 0; n < c.N; n++) {
      const v = perInput ? sum[n] : f(sum[n] * p.W.scales[n]);
      const o = c.offset + i * c.N + n;
      C[o] = c.accumulate ? f(C[o] + v) : v;
    }
  }
  return C;
}

type Product = "gemmNNi8" | "eventGemmNNi8";

function run(k: Kernels, which: Product, c: Case, p: ReturnType<typeof problem>, W: Int8Matrix = p.W) {
  const C = p.C0.slice();
  const macs = k[which](c.M, c.N, c.K, p.A, c.offset, W, C, c.offset, c.accumulate);
  return { C, macs };
}

test("int8 products of every kernel set: within float32 rounding of the float64 reference, the same bits everywhere", () => {
  let n = 0;
  for (const c of cases()) {
    const p = problem(c, 100 + n++);
    const expected = run(jsKernels, "gemmNNi8", c, p).C;
    const label = JSON.stringify(c);
    assert.deepEqual(
      new Uint32Array(emulate(c, p, maddf).buffer),
      new Uint32Array(expected.buffer),
      `${label}: emulated`,
    );
    const fused = emulate(c, p, fmaf);
    for (let i = 0; i < c.M * c.N; i++) {
      const tol = (c.K + 4) * 2 ** -23 * p.bound[i] + 1e-30;
      for (const got of [expected[c.offset + i], fused[c.offset + i]])
        assert.ok(Math.abs(got - p.ref[i]) <= tol, `${label} [${i}]: ${got} vs ${p.ref[i]} (±${tol})`);
    }
    // the entries around the output are untouched
    for (let i = 0; i < c.offset; i++) assert.equal(expected[i], SENTINEL);
    assert.equal(expected[c.offset + c.M * c.N], SENTINEL);
    for (const k of KERNEL_SETS) {
      for (const which of ["gemmNNi8", "eventGemmNNi8"] as const) {
        const r = run(k, which, c, p);
        const fuses = fusedProducts(k);
        assert.deepEqual(
          new Uint32Array(r.C.buffer),
          new Uint32Array((fuses ? fused : expected).buffer),
          `${k.name} ${which} ${label}: ${fuses ? "the fused multiply-adds'" : "the TypeScript kernels'"} bits`,
        );
        if (which === "eventGemmNNi8") assert.equal(r.macs, p.nonzeros * c.N, `${k.name} ${label}: MACs`);
      }
    }
  }
});

test("int8 operands resident in the kernels' memory give the same bits as plain arrays", () => {
  const c: Case = { M: 1, N: 45, K: 33, axis: "output", density: 0.3, accumulate: true, offset: 1 };
  for (const axis of SCALE_AXES) {
    const p = problem({ ...c, axis }, 7);
    const plain = run(jsKernels, "eventGemmNNi8", { ...c, axis }, p).C;
    for (const k of KERNEL_SETS) {
      const expected = fusedProducts(k) ? emulate({ ...c, axis }, p, fmaf) : plain;
      if (!k.allocInt8 || !k.alloc || !k.free) continue;
      const values = k.allocInt8(p.W.values.length);
      values.set(p.W.values);
      const scales = k.alloc(p.W.scales.length);
      scales.set(p.W.scales);
      const A = k.alloc(p.A.length);
      A.set(p.A);
      try {
        const C = p.C0.slice();
        k.eventGemmNNi8(c.M, c.N, c.K, A, c.offset, { ...p.W, values, scales }, C, c.offset, true);
        assert.deepEqual(new Uint32Array(C.buffer), new Uint32Array(expected.buffer), `${k.name} ${axis}`);
        assert.ok((k as Partial<WasmKernels>).inMemory?.(values) ?? true, `${k.name}: the int8 array is in its memory`);
      } finally {
        k.free(values);
        k.free(scales);
        k.free(A);
      }
    }
  }
});

test("int8 products refuse a matrix of another shape (ShapeError naming W)", () => {
  const W = quantizeMatrix(new Float32Array(6).fill(1), 2, 3, "output");
  for (const k of KERNEL_SETS) {
    assert.throws(
      () => k.gemmNNi8(1, 3, 3, new Float32Array(3), 0, W, new Float32Array(3), 0, false),
      /^ShapeError: W/,
    );
    assert.throws(
      () => k.eventGemmNNi8(1, 2, 2, new Float32Array(2), 0, W, new Float32Array(2), 0, false),
      (e: unknown) => e instanceof ShapeError && e.argument === "W",
    );
  }
});
