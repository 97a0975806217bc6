// Int8 weights (src/kernels/int8.ts, assembly/int8.ts): quantisation and its error bound on both
// scale axes, and the int8 products of every kernel set (TypeScript, WebAssembly SIMD, two threads)
// against a float64 reference of the dequantised weights at odd sizes — dense and sparse inputs
// (with −0 and tiny values), accumulate on and off, offsets — within the activations' rounding to
// integers and float32 rounding; the same bits across kernel sets (relaxed SIMD or not: the sums are
// integers), between the dense product and the event gather, and as an independent emulation of the
// steps; the int32 bound at its limit, non-finite activations, the MAC counts, resident (in-memory)
// int8 operands, and typed errors for mismatched shapes.

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
import { KERNEL_SETS } from "../kernel-sets.js";

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
    // (the second row tiny: its integers' step is near float32's smallest normal numbers)
    const tiny = Math.floor(i / K) === 1 ? 1e-33 : 1;
    const v = u < c.density ? rng.normal(0, 1) * tiny : u < (c.density + 1) / 2 ? -0 : 0;
    A[c.offset + i] = v;
  }
  const C0 = new Float32Array(c.offset + M * N + 2).fill(SENTINEL);
  for (let i = 0; i < M * N; i++) C0[c.offset + i] = rng.normal(0, 1);
  const ref = new Float64Array(M * N);
  const bound = new Float64Array(M * N); // Σ|terms|, for the float32 rounding tolerance
  const step = new Float64Array(M * N); // Σ_k |values[k, n]| · (scale of n) · the row's integer step
  const perInput = c.axis === "input";
  let nonzeros = 0;
  for (let i = 0; i < M; i++) {
    let count = 0;
    let m = 0;
    for (let k = 0; k < K; k++) {
      const a = A[c.offset + i * K + k];
      if (a === 0) continue;
      count++;
      m = Math.max(m, Math.abs(perInput ? Math.fround(a * W.scales[k]) : a));
    }
    nonzeros += count;
    // an activation's integer stands for a multiple of m / lim: off by at most half a step, plus sx's rounding
    const unit = count ? (m / Math.min(32767, Math.floor(2147483647 / (127 * count)))) * (0.5 + 2 ** -20) : 0;
    for (let n = 0; n < N; n++) {
      let s = c.accumulate ? C0[c.offset + i * N + n] : 0;
      let b = Math.abs(s);
      let st = 0;
      for (let k = 0; k < K; k++) {
        const w = W.values[k * N + n] * W.scales[perInput ? k : n];
        s += A[c.offset + i * K + k] * w;
        b += Math.abs(A[c.offset + i * K + k] * w);
        if (A[c.offset + i * K + k] !== 0) st += Math.abs(W.values[k * N + n]) * (perInput ? 1 : W.scales[n]);
      }
      ref[i * N + n] = s;
      bound[i * N + n] = b;
      step[i * N + n] = st * unit;
    }
  }
  return { W, A, C0, ref, bound, step, nonzeros };
}

/** round-half-even (f64.nearest), written apart from the library's. */
const nearest = (v: number): number => {
  const fl = Math.floor(v);
  const d = v - fl;
  return d < 0.5 ? fl : d > 0.5 ? fl + 1 : fl % 2 === 0 ? fl : fl + 1;
};

/** The int8 product by the steps of src/kernels/int8.ts's header, in float64 and BigInt where exact. */
function emulate(c: Case, p: ReturnType<typeof problem>): Float32Array {
  const f = Math.fround;
  const C = p.C0.slice();
  const perInput = c.axis === "input";
  for (let i = 0; i < c.M; i++) {
    const list: [number, number][] = [];
    for (let k = 0; k < c.K; k++) {
      const a = p.A[c.offset + i * c.K + k];
      if (a !== 0) list.push([k, perInput ? f(a * p.W.scales[k]) : a]);
    }
    const m = Math.max(0, ...list.map(([, v]) => Math.abs(v)));
    const lim = list.length ? Math.min(32767, Math.floor((2 ** 31 - 1) / (127 * list.length))) : 1;
    const sx = m === 0 ? 0 : f(m / lim);
    for (let n = 0; n < c.N; n++) {
      let sum = 0n;
      for (const [k, v] of list) if (m !== 0) sum += BigInt(nearest(v * (lim / m))) * BigInt(p.W.values[k * c.N + n]);
      assert.ok(sum < 2n ** 31n && sum > -(2n ** 31n), "the sum fits in int32");
      let v = f(f(Number(sum)) * sx);
      if (!perInput) v = f(v * p.W.scales[n]);
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

test("int8 products of every kernel set: within the activations' steps of the float64 reference, the same bits everywhere", () => {
  let n = 0;
  for (const c of cases()) {
    const p = problem(c, 100 + n++);
    const expected = run(jsKernels, "gemmNNi8", c, p).C;
    const label = JSON.stringify(c);
    assert.deepEqual(new Uint32Array(emulate(c, p).buffer), new Uint32Array(expected.buffer), `${label}: emulated`);
    for (let i = 0; i < c.M * c.N; i++) {
      const tol = p.step[i] + 8 * 2 ** -24 * p.bound[i] + 1e-30;
      const got = expected[c.offset + i];
      assert.ok(Math.abs(got - p.ref[i]) <= tol, `${label} [${i}]: ${got} vs ${p.ref[i]} (±${tol})`);
    }
    // the entries around the output are untouched
    for (let i = 0; i < c.offset; i++) assert.equal(expected[i], SENTINEL);
    assert.equal(expected[c.offset + c.M * c.N], SENTINEL);
    for (const k of KERNEL_SETS) {
      for (const which of ["gemmNNi8", "eventGemmNNi8"] as const) {
        const r = run(k, which, c, p);
        assert.deepEqual(
          new Uint32Array(r.C.buffer),
          new Uint32Array(expected.buffer),
          `${k.name} ${which} ${label}: the TypeScript kernels' bits`,
        );
        if (which === "eventGemmNNi8") assert.equal(r.macs, p.nonzeros * c.N, `${k.name} ${label}: MACs`);
      }
    }
  }
});

test("int8 products at the int32 bound: every activation and weight at its largest, many inputs, exact", () => {
  // 5000 equal activations: lim = ⌊(2^31 − 1) / (127 · 5000)⌋ = 3381, every sum 5000 · 127 · 3381 (< 2^31)
  for (const K of [516, 517, 5000]) {
    const N = 21;
    const W = quantizeMatrix(
      Float32Array.from({ length: K * N }, (_, i) => (i % N === 3 ? -1 : 1)),
      K,
      N,
      "output",
    );
    const x = new Float32Array(K).fill(0.75);
    const want = new Float32Array(N);
    jsKernels.gemmNNi8(1, N, K, x, 0, W, want, 0, false);
    for (let n = 0; n < N; n++) {
      const exact = (n === 3 ? -1 : 1) * 0.75 * K; // an int32 overflow would be off by far more (or change sign)
      assert.ok(Math.abs(want[n] - exact) <= 2 ** -20 * Math.abs(exact), `K ${K} [${n}]: ${want[n]} vs ${exact}`);
    }
    for (const k of KERNEL_SETS) {
      const C = new Float32Array(N);
      k.gemmNNi8(1, N, K, x, 0, W, C, 0, false);
      assert.deepEqual(C, want, `${k.name} K ${K}`);
    }
  }
});

test("int8 products: a row with a non-finite activation gives NaN in all its outputs, other rows are unaffected", () => {
  const K = 19;
  const N = 35;
  const W = quantizeMatrix(randomArray(new Rng(3), K * N), K, N, "output");
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    const x = Float32Array.from(randomArray(new Rng(4), 2 * K));
    x[K + 5] = bad;
    for (const k of KERNEL_SETS) {
      const C = new Float32Array(2 * N);
      k.gemmNNi8(2, N, K, x, 0, W, C, 0, false);
      const fine = new Float32Array(N);
      jsKernels.gemmNNi8(1, N, K, x, 0, W, fine, 0, false);
      assert.deepEqual(C.subarray(0, N), fine, `${k.name} ${bad}: first row`);
      for (let n = 0; n < N; n++) assert.ok(Number.isNaN(C[N + n]), `${k.name} ${bad}: [1, ${n}] NaN`);
      // one row alone (two threads split its entries: the part without the bad one still gives NaN)
      const one = new Float32Array(N).fill(1);
      k.eventGemmNNi8(1, N, K, x, K, W, one, 0, true);
      for (let n = 0; n < N; n++) assert.ok(Number.isNaN(one[n]), `${k.name} ${bad}: one row, [${n}] NaN`);
    }
  }
});

test("int8 operands resident in the kernels' memory give the same bits as plain arrays", () => {
  const c: Case = { M: 1, N: 45, K: 33, axis: "output", density: 0.3, accumulate: true, offset: 1 };
  for (const axis of SCALE_AXES) {
    const p = problem({ ...c, axis }, 7);
    const plain = run(jsKernels, "eventGemmNNi8", { ...c, axis }, p).C;
    for (const k of KERNEL_SETS) {
      const expected = plain;
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
