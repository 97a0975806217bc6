// The relaxed-SIMD build of the WebAssembly kernels (fused multiply-add in the products,
// assembly/common.ts fmadd): feature detection and the choice of build (option, "auto", the
// EGRU_RELAXED_SIMD variable); fmaf, the exact emulation of a fused multiply-add the tests compare
// with; and the build itself, loaded explicitly: every product against a float64 reference at odd
// sizes within (K + 4)·2⁻²³·Σ|terms|, the bits of the fused sums (list order, one rounding per term),
// the event product giving the dense product's bits, and splits over two threads giving the bits
// of one thread (products and a whole EGRU training step). Where the host has no relaxed SIMD (Node
// 20 without --experimental-wasm-relaxed-simd) the build's tests skip saying so; on Node ≥ 22 they
// run, and a missing relaxed SIMD fails.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { StateError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import { quantizeMatrix } from "../../packages/egru/src/kernels/int8.js";
import { createThreadedKernels } from "../../packages/egru/src/node/threaded-kernels.js";
import {
  loadWasmKernels,
  loadWasmKernelsSync,
  RELAXED_SIMD_DEFAULT,
  relaxedSimdSupported,
  type WasmKernels,
} from "../../packages/egru/src/wasm/wasm-kernels.js";
import { egruData, egruForwardBackward } from "../egru-cases.js";
import { fmaf, fusesMultiplyAdd, maddf } from "../fused.js";

const NODE_MAJOR = Number(process.versions.node.split(".")[0]);
/** Whether this host must run relaxed SIMD: Node ≥ 22, or Node 20 with V8's flag. */
const EXPECTED = NODE_MAJOR >= 22 || process.execArgv.includes("--experimental-wasm-relaxed-simd");

const relaxed = EXPECTED ? await loadWasmKernels({ relaxedSimd: true }) : null;
const simd = await loadWasmKernels({ relaxedSimd: false });
assert.ok(simd, "WebAssembly SIMD kernels must load in Node ≥ 20");
const skip = relaxed ? false : `no WebAssembly relaxed SIMD in Node ${process.version} (Node ≥ 22 has it)`;
const threaded = relaxed ? createThreadedKernels(relaxed, 2, { minWork: 0, minColumnWork: 0 }) : null;
after(() => threaded?.close());

/** The relaxed build (only called in tests that skip without it). */
function R(): WasmKernels {
  assert.ok(relaxed, "the relaxed-SIMD build");
  return relaxed;
}

const rand = (n: number, seed: number, density = 1): Float32Array => {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => (rng.uniform() < density ? rng.normal() : 0));
};

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

test("relaxed SIMD is detected exactly where the host runs it (Node ≥ 22)", () => {
  assert.equal(relaxedSimdSupported(), EXPECTED);
  assert.equal(relaxed !== null, EXPECTED);
  if (relaxed) assert.equal(relaxed.wasm.relaxed, true);
  assert.equal(simd.wasm.relaxed, false);
  assert.equal(fusesMultiplyAdd(simd), false, "the SIMD build rounds the multiply and the add");
});

test('the build: "auto" takes the relaxed one where supported, EGRU_RELAXED_SIMD stands in for the option', async () => {
  const auto = await loadWasmKernels({ relaxedSimd: "auto" });
  assert.equal(auto?.wasm.relaxed, RELAXED_SIMD_DEFAULT && EXPECTED);
  const saved = process.env.EGRU_RELAXED_SIMD;
  try {
    process.env.EGRU_RELAXED_SIMD = "0";
    assert.equal(loadWasmKernelsSync()?.wasm.relaxed, false);
    assert.equal(loadWasmKernelsSync({ relaxedSimd: "auto" })?.wasm.relaxed, RELAXED_SIMD_DEFAULT && EXPECTED);
    process.env.EGRU_RELAXED_SIMD = "1";
    if (EXPECTED) assert.equal(loadWasmKernelsSync()?.wasm.relaxed, true);
    else assert.throws(() => loadWasmKernelsSync(), StateError);
    assert.equal(loadWasmKernelsSync({ relaxedSimd: false })?.wasm.relaxed, false, "the option wins");
    process.env.EGRU_RELAXED_SIMD = "yes";
    assert.throws(() => loadWasmKernelsSync(), ValueError);
  } finally {
    if (saved === undefined) delete process.env.EGRU_RELAXED_SIMD;
    else process.env.EGRU_RELAXED_SIMD = saved;
  }
  if (!EXPECTED) await assert.rejects(loadWasmKernels({ relaxedSimd: true }), StateError);
});

test("fmaf rounds a·b + c once, also where the float64 sum lands on a float32 tie", () => {
  // exact: 2^10 + 2^−13 + 2^−14 − 2^−54, just below the midpoint of two float32 → the lower one;
  // the float64 sum rounds onto the midpoint, and a float32 rounding of it to the even upper one
  const a = 2 ** -7 * (1 + 2 ** -20),
    b = 2 ** -7 * (1 - 2 ** -20),
    c = 2 ** 10 + 2 ** -13;
  assert.equal(Math.fround(a * b + c), 2 ** 10 + 2 ** -12, "the double rounding this guards against");
  assert.equal(fmaf(a, b, c), 2 ** 10 + 2 ** -13);
  assert.equal(fmaf(-a, b, -c), -(2 ** 10 + 2 ** -13));
  const x = 1 + 2 ** -12;
  assert.equal(fmaf(x, x, -1), 2 ** -11 + 2 ** -24);
  assert.equal(maddf(x, x, -1), 2 ** -11);
  assert.equal(fmaf(3, 5, 7), 22);
  assert.equal(fmaf(0, -1, 0), 0);
});

test("the relaxed build's lanes and tails give fmaf's bits (maddf's on a host without FMA)", { skip }, () => {
  const k = R();
  const madd = fusesMultiplyAdd(k) ? fmaf : maddf;
  // q[n] (+)= y·R[n] with one event: one multiply-add per element, vectors and a 3-column tail
  const rng = new Rng(3);
  for (const N of [4099, 7]) {
    for (let trial = 0; trial < 20; trial++) {
      const y = Float32Array.of(Math.fround(rng.normal() * 2 ** rng.int(20)));
      const row = Float32Array.from({ length: N }, () => rng.normal() * 2 ** (rng.int(40) - 20));
      const q = Float32Array.from({ length: N }, () => rng.normal() * 2 ** (rng.int(40) - 20));
      const want = q.map((c, n) => madd(y[0], row[n], c));
      k.eventGemmNN(1, N, 1, y, 0, row, 0, q, 0, true);
      assert.deepEqual(bits(q), bits(want), `N = ${N}, trial ${trial}`);
    }
  }
});

/** Float64 reference C = op(A)·op(B) (+ C0) and Σ|terms| per entry, for the tolerance. */
function reference(
  tA: boolean,
  tB: boolean,
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  B: Float32Array,
  C0?: Float32Array,
) {
  const ref = new Float64Array(M * N);
  const bound = new Float64Array(M * N);
  for (let i = 0; i < M; i++)
    for (let j = 0; j < N; j++) {
      let s = C0 ? C0[i * N + j] : 0;
      let b = Math.abs(s);
      for (let k = 0; k < K; k++) {
        const t = A[tA ? k * M + i : i * K + k] * B[tB ? j * K + k : k * N + j];
        s += t;
        b += Math.abs(t);
      }
      ref[i * N + j] = s;
      bound[i * N + j] = b;
    }
  return { ref, bound };
}

function assertWithin(got: Float32Array, r: { ref: Float64Array; bound: Float64Array }, K: number, what: string): void {
  for (let i = 0; i < r.ref.length; i++) {
    const tol = (K + 4) * 2 ** -23 * r.bound[i] + 1e-30;
    if (!(Math.abs(got[i] - r.ref[i]) <= tol)) assert.fail(`${what} [${i}]: ${got[i]} vs ${r.ref[i]} (±${tol})`);
  }
}

const ODD = [1, 3, 7, 8, 17, 65, 130];

test("relaxed build: gemmNN, gemmNT and gemmTN within (K + 4)·2⁻²³·Σ|terms| of float64 at odd sizes", { skip }, () => {
  const k = R();
  const dims: [number, number, number][] = [];
  for (const M of ODD) for (const N of ODD) for (const K of [1, 3, 9, 33, 130]) dims.push([M, N, K]);
  dims.push([9, 520, 300], [130, 17, 257], [257, 129, 191]);
  let seed = 1;
  for (const [M, N, K] of dims) {
    for (const [kind, tA, tB] of [
      ["gemmNN", false, false],
      ["gemmNT", false, true],
      ["gemmTN", true, false],
    ] as const) {
      for (const acc of [false, true]) {
        const A = rand(M * K, seed++),
          B = rand(K * N, seed++),
          C = rand(M * N, seed++);
        const r = reference(tA, tB, M, N, K, A, B, acc ? C : undefined);
        k[kind](M, N, K, A, 0, B, 0, C, 0, acc);
        assertWithin(C, r, K, `${kind} ${M}×${N}×${K} acc=${acc}`);
      }
    }
  }
});

test("relaxed build: event and masked products within the same bound, densities 0, 10 % and 100 %", { skip }, () => {
  const k = R();
  let seed = 100;
  for (const [B, N, H] of [
    [1, 7, 33],
    [3, 130, 17],
    [9, 33, 65],
    [64, 17, 130],
    [1, 4099, 300],
  ])
    for (const density of [0, 0.1, 1]) {
      const y = rand(B * H, seed++, density);
      const Rm = rand(H * N, seed++);
      const q = rand(B * N, seed++);
      const rq = reference(false, false, B, N, H, y, Rm, q);
      k.eventGemmNN(B, N, H, y, 0, Rm, 0, q, 0, true);
      assertWithin(q, rq, H, `eventGemmNN ${B}×${N}×${H} at ${density}`);
      // dR[H, N] += yᵀ·dq
      const dq = rand(B * N, seed++);
      const dR = rand(H * N, seed++);
      const rdr = reference(true, false, H, N, B, y, dq, dR);
      k.eventGemmTN(H, N, B, y, 0, dq, 0, dR, 0);
      assertWithin(dR, rdr, B, `eventGemmTN ${H}×${N}×${B} at ${density}`);
      // out[B, H] = mask ⊙ dq·Rᵀ (R stored [H, N])
      const mask = y.map((v) => (v === 0 ? 0 : 1));
      const out = new Float32Array(B * H);
      const rm = reference(false, true, B, H, N, dq, Rm);
      for (let i = 0; i < mask.length; i++) if (mask[i] === 0) rm.ref[i] = rm.bound[i] = 0;
      k.maskedGemmNT(B, H, N, dq, 0, Rm, 0, mask, 0, out, 0);
      assertWithin(out, rm, N, `maskedGemmNT ${B}×${H}×${N} at ${density}`);
    }
});

test("relaxed build: int8 products give the TypeScript kernels' bits (integer sums, nothing to fuse)", { skip }, () => {
  const k = R();
  let seed = 200;
  for (const [M, N, K] of [
    [1, 37, 70],
    [5, 17, 9],
    [2, 4099, 33],
  ])
    for (const axis of ["input", "output"] as const)
      for (const density of [0.15, 1]) {
        const W = quantizeMatrix(rand(K * N, seed++), K, N, axis);
        const x = rand(M * K, seed++, density);
        const C = rand(M * N, seed++);
        const want = C.slice();
        jsKernels.gemmNNi8(M, N, K, x, 0, W, want, 0, true);
        k.gemmNNi8(M, N, K, x, 0, W, C, 0, true);
        assert.deepEqual(bits(C), bits(want), `gemmNNi8 ${M}×${N}×${K} ${axis} at ${density}`);
      }
});

test("relaxed build: sums in list order with one rounding per term (fmaf), past the kernels' chunking", {
  skip,
}, () => {
  const k = R();
  const madd = fusesMultiplyAdd(k) ? fmaf : maddf;
  const B = 9,
    H = 2000,
    N = 150;
  const y = rand(B * H, 5, 0.1);
  const Rm = rand(H * N, 6);
  const q = new Float32Array(B * N);
  const want = new Float32Array(B * N);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++) {
      let d = 0;
      for (let j = 0; j < H; j++) if (y[b * H + j] !== 0) d = madd(y[b * H + j], Rm[j * N + n], d);
      want[b * N + n] = d;
    }
  k.eventGemmNN(B, N, H, y, 0, Rm, 0, q, 0, false);
  assert.deepEqual(bits(q), bits(want));
});

test("relaxed build: the event product gives the dense product's bits (both fused alike)", { skip }, () => {
  const k = R();
  for (const [B, N, H] of [
    [1, 37, 200],
    [9, 67, 200],
    [24, 130, 65],
  ]) {
    const y = rand(B * H, B + N, 0.3);
    const Rm = rand(H * N, H);
    const dense = new Float32Array(B * N);
    const events = new Float32Array(B * N);
    k.gemmNN(B, N, H, y, 0, Rm, 0, dense, 0, false);
    k.eventGemmNN(B, N, H, y, 0, Rm, 0, events, 0, false);
    assert.deepEqual(bits(events), bits(dense), `${B}×${N}×${H}`);
  }
});

test("relaxed build on two threads: every split product gives the bits of one thread", { skip }, () => {
  const k = R();
  assert.ok(threaded && threaded.threads === 2, "two threads on the shared memory");
  const same = (what: string, run: (kk: Kernels, out: Float32Array) => void, n: number): void => {
    const a = rand(n, 9),
      b = a.slice();
    run(k, a);
    run(threaded, b);
    assert.deepEqual(bits(b), bits(a), what);
  };
  for (const [M, N, K] of [
    [17, 33, 65], // row blocks 16 + 1: the last on the row-list path
    [1, 4099, 300], // one row: by columns
    [24, 5, 3],
    [64, 129, 17],
  ]) {
    const A = rand(M * K, 1),
      B = rand(K * N, 2),
      Bt = rand(N * K, 3);
    for (const acc of [false, true]) {
      same(`gemmNN ${M}×${N}×${K}`, (kk, c) => kk.gemmNN(M, N, K, A, 0, B, 0, c, 0, acc), M * N);
      same(`gemmNT ${M}×${N}×${K}`, (kk, c) => kk.gemmNT(M, N, K, A, 0, Bt, 0, c, 0, acc), M * N);
    }
    const y = rand(M * K, 4, 0.2);
    same(`eventGemmNN ${M}×${N}×${K}`, (kk, q) => kk.eventGemmNN(M, N, K, y, 0, B, 0, q, 0, true), M * N);
    const mask = y.map((v) => (v === 0 ? 0 : 1));
    const dq = rand(M * N, 5);
    same(`maskedGemmNT ${M}×${K}×${N}`, (kk, o) => kk.maskedGemmNT(M, K, N, dq, 0, Bt, 0, mask, 0, o, 0), M * K);
    const W = quantizeMatrix(rand(K * N, 6), K, N, "output");
    same(`gemmNNi8 ${M}×${N}×${K}`, (kk, c) => kk.gemmNNi8(M, N, K, y, 0, W, c, 0, true), M * N);
  }
});

test("relaxed build: an EGRU layer trains bit-identically on one and two threads", { skip }, () => {
  const k = R();
  assert.ok(threaded);
  const data = egruData({ T: 6, B: 24, I: 40, H: 64 }, 12);
  const run = (kernels: Kernels) => {
    const { layer, r, d } = egruForwardBackward(kernels, data, 14);
    return [r.y, r.trace, d.dx, d.dy0, ...Object.values(layer.grads)];
  };
  const one = run(k);
  const two = run(threaded);
  two.forEach((a, i) => assert.deepEqual(a, one[i], `array ${i}`));
});
