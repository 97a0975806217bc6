// The WebAssembly SIMD kernels (src/wasm/wasm-kernels.ts) against a float64 reference and the
// TypeScript kernels: every kernel at odd sizes (both sides of every block and path boundary),
// accumulate on and off, nonzero offsets, event densities 0, ~10 % and 100 % (with -0), masks
// empty, partial and full; MAC counts, zero-copy views, determinism, float64 delegation, the
// plain-memory build and the allocator. The build must exist (npm ci makes it) and Node 20
// always has WebAssembly SIMD, so a missing build or missing SIMD fails here rather than skips.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ShapeError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import { heavisideEvent } from "../../packages/egru/src/kernels/activations.js";
import { receiveMaskRows } from "../../packages/egru/src/kernels/row-ops.js";
import type { FloatArray } from "../../packages/egru/src/core/buffer.js";
import { loadWasmKernels, simdSupported, type WasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { fmaf, fusesMultiplyAdd, maddf } from "../fused.js";
import { assertClose, randomArray } from "../helpers.js";

async function load(shared?: boolean): Promise<WasmKernels> {
  assert.ok(simdSupported(), "WebAssembly SIMD must be available in Node ≥ 20");
  const k = await loadWasmKernels(shared === undefined ? {} : { shared });
  assert.ok(k, "loadWasmKernels() returned null although SIMD is supported");
  return k;
}

const wasmPromise = load();

// ---------------------------------------------------------------------------------------------
// Problems: the operands of one kernel call, each placed at an offset inside a larger array
// whose other entries are a sentinel, and the float64 result it must give.

type Kind = "gemmNN" | "gemmNT" | "gemmTN" | "eventGemmNN" | "eventGemmTN" | "maskedGemmNT";

interface Spec {
  kind: Kind;
  /** The kernel's three size arguments in its own order. */
  dims: [number, number, number];
  accumulate: boolean;
  /** Fraction of nonzero events (event kernels) or of mask entries set (masked). */
  density: number;
  offset: number;
  seed: number;
}

interface Problem {
  spec: Spec;
  /** Operands in call order; the last is the output. */
  arrays: Float32Array[];
  lengths: number[];
  /** Length of the sums, for the tolerance. */
  reduction: number;
}

const SENTINEL = 12345.5;

/** (rows, cols) of the operands (output last), in call order, for a kind and its dims. */
function shapes(kind: Kind, [d0, d1, d2]: [number, number, number]): { sizes: number[]; reduction: number } {
  switch (kind) {
    case "gemmNN":
      return { sizes: [d0 * d2, d2 * d1, d0 * d1], reduction: d2 }; // M,N,K: A[M,K] B[K,N]
    case "gemmNT":
      return { sizes: [d0 * d2, d1 * d2, d0 * d1], reduction: d2 }; // A[M,K] B[N,K]
    case "gemmTN":
      return { sizes: [d2 * d0, d2 * d1, d0 * d1], reduction: d2 }; // A[K,M] B[K,N]
    case "eventGemmNN":
      return { sizes: [d0 * d2, d2 * d1, d0 * d1], reduction: d2 }; // B,N,H: y R q
    case "eventGemmTN":
      return { sizes: [d2 * d0, d2 * d1, d0 * d1], reduction: d2 }; // H,N,B: y dq dR
    case "maskedGemmNT":
      return { sizes: [d0 * d2, d1 * d2, d0 * d1, d0 * d1], reduction: d2 }; // B,H,N: dq R mask out
  }
}

function makeProblem(spec: Spec): Problem {
  const rng = new Rng(spec.seed);
  const { sizes, reduction } = shapes(spec.kind, spec.dims);
  const arrays = sizes.map((n) => {
    const a = new Float32Array(n + spec.offset + 3).fill(SENTINEL);
    a.set(randomArray(rng, n), spec.offset);
    return a;
  });
  const sparse = spec.kind === "maskedGemmNT" ? 2 : spec.kind.startsWith("event") ? 0 : -1;
  if (sparse >= 0) {
    const a = arrays[sparse];
    for (let i = spec.offset; i < spec.offset + sizes[sparse]; i++) {
      if (rng.uniform() >= spec.density)
        a[i] = i % 2 ? -0 : 0; // exact zeros, some negative
      else if (spec.kind === "maskedGemmNT") a[i] = 1;
    }
  }
  return { spec, arrays, lengths: sizes, reduction };
}

function copyProblem(p: Problem, make: (n: number) => FloatArray): FloatArray[] {
  return p.arrays.map((a) => {
    const c = make(a.length);
    c.set(a);
    return c;
  });
}

/** Call the problem's kernel on `arrays` (same layout as p.arrays); returns its MAC count. */
function call(k: Kernels, p: Problem, arrays: FloatArray[]): number | undefined {
  const [d0, d1, d2] = p.spec.dims;
  const o = p.spec.offset;
  const [a, b, c, d] = arrays;
  const acc = p.spec.accumulate;
  switch (p.spec.kind) {
    case "gemmNN":
    case "gemmNT":
    case "gemmTN":
      k[p.spec.kind](d0, d1, d2, a, o, b, o, c, o, acc);
      return undefined;
    case "eventGemmNN":
      return k.eventGemmNN(d0, d1, d2, a, o, b, o, c, o, acc);
    case "eventGemmTN":
      return k.eventGemmTN(d0, d1, d2, a, o, b, o, c, o);
    case "maskedGemmNT":
      return k.maskedGemmNT(d0, d1, d2, a, o, b, o, c, o, d, o);
  }
}

/** The output region of `arrays` as float64. */
function output(p: Problem, arrays: FloatArray[]): Float64Array {
  const last = arrays.length - 1;
  return Float64Array.from(arrays[last].subarray(p.spec.offset, p.spec.offset + p.lengths[last]));
}

/**
 * The float64 result: every kernel is C (+)= op(A)·op(B) for some transposes, evaluated by a
 * naive triple loop on the (float32-rounded) operands; the masked product then zeroes entries.
 */
function reference(p: Problem): Float64Array {
  const [d0, d1, d2] = p.spec.dims;
  const o = p.spec.offset;
  const get = (i: number) => p.arrays[i].subarray(o, o + p.lengths[i]);
  let M: number, N: number, K: number, tA: boolean, tB: boolean;
  switch (p.spec.kind) {
    case "gemmNN":
    case "eventGemmNN":
      [M, N, K, tA, tB] = [d0, d1, d2, false, false];
      break;
    case "gemmNT":
    case "maskedGemmNT":
      [M, N, K, tA, tB] = [d0, d1, d2, false, true];
      break;
    case "gemmTN":
    case "eventGemmTN":
      [M, N, K, tA, tB] = [d0, d1, d2, true, false];
      break;
  }
  const A = get(0),
    B = get(1);
  const accumulate = p.spec.kind === "eventGemmTN" || (p.spec.kind !== "maskedGemmNT" && p.spec.accumulate);
  const out = accumulate ? Float64Array.from(get(2)) : new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[tA ? k * M + i : i * K + k] * B[tB ? j * K + k : k * N + j];
      out[i * N + j] += s;
    }
  }
  if (p.spec.kind === "maskedGemmNT") {
    const mask = get(2);
    for (let i = 0; i < out.length; i++) if (mask[i] === 0) out[i] = 0;
  }
  return out;
}

// Tolerance. The reference sums the same float32-rounded operands exactly (in float64), so the
// only error is float32 rounding inside the kernels' sums of `reduction` products of N(0, 1)
// values: partial sums grow like √k and each add rounds by at most u = 2⁻²⁴ ≈ 6e-8 of them, so
// the error stays around u·K (1.5e-5 at K = 257) and rarely exceeds a few times that. atol
// 1e-5·√K (1.6e-4 at K = 257) leaves that margin, with rtol 1e-4 for large accumulated entries,
// while one wrong or missing product (size ~1) is still caught at every size tested.
function tolerance(p: Problem): { atol: number; rtol: number } {
  return { atol: 1e-5 * Math.sqrt(Math.max(p.reduction, 1)), rtol: 1e-4 };
}

function name(p: Problem): string {
  const s = p.spec;
  return `${s.kind}(${s.dims.join(",")}) acc=${s.accumulate} density=${s.density} off=${s.offset}`;
}

/** Entries outside [offset, offset + length) of every operand still hold the sentinel. */
function assertUntouched(p: Problem, arrays: FloatArray[]): void {
  arrays.forEach((a, i) => {
    for (let j = 0; j < a.length; j++) {
      if (j >= p.spec.offset && j < p.spec.offset + p.lengths[i]) continue;
      if (a[j] !== SENTINEL) assert.fail(`${name(p)}: operand ${i} changed at ${j} outside its region`);
    }
  });
}

/** Compare a run of wasm kernels with the reference and with jsKernels (MACs exactly). */
function checkAgainstReference(k: Kernels, p: Problem): void {
  const got = copyProblem(p, (n) => new Float32Array(n));
  const macs = call(k, p, got);
  const js = copyProblem(p, (n) => new Float32Array(n));
  const jsMacs = call(jsKernels, p, js);
  const tol = tolerance(p);
  assertClose(output(p, got), reference(p), { ...tol, name: `${name(p)} vs float64` });
  assertClose(output(p, got), output(p, js), { ...tol, name: `${name(p)} vs jsKernels` });
  assert.equal(macs, jsMacs, `${name(p)}: MAC count`);
  assertUntouched(p, got);
}

// ---------------------------------------------------------------------------------------------
// Sizes: 1–7 rows use the row-list kernels, 8 and more the packed ones; 130 crosses the row
// block (128), 257/300 the k block (256), 520 the column block (512); 3 and 17 are not multiples
// of the vector width (4) or the micro-tile (4×8).

const SIZES = [1, 3, 7, 17, 33, 65, 130];
const LARGE: [number, number, number][] = [
  [257, 129, 191],
  [9, 520, 300],
  [130, 17, 257],
];
const GEMMS = ["gemmNN", "gemmNT", "gemmTN"] as const;
const EVENTS: Kind[] = ["eventGemmNN", "eventGemmTN", "maskedGemmNT"];
const DENSITIES = [0, 0.1, 1];

let seed = 1;
const spec = (kind: Kind, dims: [number, number, number], accumulate: boolean, density = 1, offset = 5): Spec => ({
  kind,
  dims,
  accumulate,
  density,
  offset,
  seed: seed++,
});

test("gemmNN, gemmNT and gemmTN equal the float64 reference at every combination of odd sizes", async () => {
  const k = await wasmPromise;
  for (const kind of GEMMS) {
    for (const M of SIZES)
      for (const N of SIZES)
        for (const K of SIZES) {
          for (const acc of [false, true])
            checkAgainstReference(k, makeProblem(spec(kind, [M, N, K], acc, 1, (M + N) % 3)));
        }
    for (const dims of LARGE)
      for (const acc of [false, true]) checkAgainstReference(k, makeProblem(spec(kind, dims, acc)));
  }
});

test("event and masked products equal the float64 reference at densities 0, 10 % and 100 %", async () => {
  const k = await wasmPromise;
  const dims: [number, number, number][] = [];
  for (const a of [1, 3, 7, 17, 64])
    for (const b of [1, 7, 33, 130]) for (const c of [1, 3, 17, 65]) dims.push([a, b, c]);
  for (const kind of EVENTS) {
    // event kinds order their dims (rows, N, H) / (H, N, rows) / (rows, H, N)
    for (const [x, y, z] of dims) {
      const d: [number, number, number] =
        kind === "eventGemmTN" ? [z, y, x] : kind === "maskedGemmNT" ? [x, z, y] : [x, y, z];
      for (const density of DENSITIES) {
        for (const acc of kind === "eventGemmNN" ? [false, true] : [false])
          checkAgainstReference(k, makeProblem(spec(kind, d, acc, density)));
      }
    }
    const big: [number, number, number] = kind === "eventGemmTN" ? [191, 257, 129] : [129, 257, 191];
    for (const density of [0.1, 0.5]) checkAgainstReference(k, makeProblem(spec(kind, big, true, density)));
  }
});

test("a weight matrix too large for the cache is visited by column with the same bits", async () => {
  // R of 1100 × 6000 floats (26 MB) exceeds assembly/common.ts UNCACHED_BYTES (24 MiB): with ≥ 8
  // batch rows eventGemmNN and maskedGemmNT then visit R once, row by row; calls of ≤ 7 rows use
  // the per-batch-row order. Both must give the same bits, and the jsKernels result.
  const k = await wasmPromise;
  const B = 9,
    H = 1100,
    N = 6000;
  const rng = new Rng(77);
  const R = k.alloc(H * N);
  R.set(randomArray(rng, H * N));
  const y = Float32Array.from(randomArray(rng, B * H), (v) => (rng.uniform() < 0.1 ? v : 0));
  const dq = Float32Array.from(randomArray(rng, B * N));
  const q0 = Float32Array.from(randomArray(rng, B * N));
  const split = (run: (b0: number, rows: number) => number): number => run(0, 5) + run(5, 4);
  const tol = { atol: 1e-5 * Math.sqrt(N), rtol: 1e-4 };

  const [whole, parts, js] = [q0.slice(), q0.slice(), q0.slice()];
  const macs = k.eventGemmNN(B, N, H, y, 0, R, 0, whole, 0, true);
  assert.equal(
    split((b0, rows) => k.eventGemmNN(rows, N, H, y, b0 * H, R, 0, parts, b0 * N, true)),
    macs,
  );
  assert.deepEqual(whole, parts, "eventGemmNN: by column and by row differ");
  assert.equal(jsKernels.eventGemmNN(B, N, H, y, 0, R, 0, js, 0, true), macs);
  assertClose(whole, js, { ...tol, name: "eventGemmNN by column vs jsKernels" });

  const [mWhole, mParts, mJs] = [new Float32Array(B * H), new Float32Array(B * H), new Float32Array(B * H)];
  const active = k.maskedGemmNT(B, H, N, dq, 0, R, 0, y, 0, mWhole, 0);
  assert.equal(
    split((b0, rows) => k.maskedGemmNT(rows, H, N, dq, b0 * N, R, 0, y, b0 * H, mParts, b0 * H)),
    active,
  );
  assert.deepEqual(mWhole, mParts, "maskedGemmNT: by column and by row differ");
  assert.equal(jsKernels.maskedGemmNT(B, H, N, dq, 0, R, 0, y, 0, mJs, 0), active);
  assertClose(mWhole, mJs, { ...tol, name: "maskedGemmNT by column vs jsKernels" });
  k.free(R);
});

test("eventGemmNN by column tiles gives the bits of the whole-row sums", async () => {
  // assembly/events.ts: a call of 40 rows with 30 % events (≥ 4 per row of R) sums by tiles of 24
  // columns (a packed copy of R's tile, the sums in registers); calls of 4 rows (under 8) sum whole
  // rows. N = 103: four tiles, one vector and three single columns past them.
  const k = await wasmPromise;
  const [B, N, H] = [40, 103, 70];
  const rng = new Rng(78);
  const R = Float32Array.from(randomArray(rng, H * N));
  const y = Float32Array.from(randomArray(rng, B * H), (v, i) => (rng.uniform() < 0.3 ? v : i % 2 ? -0 : 0));
  const q0 = Float32Array.from(randomArray(rng, B * N));
  for (const acc of [false, true]) {
    const [whole, parts] = [q0.slice(), q0.slice()];
    const macs = k.eventGemmNN(B, N, H, y, 0, R, 0, whole, 0, acc);
    let split = 0;
    for (let b0 = 0; b0 < B; b0 += 4) split += k.eventGemmNN(4, N, H, y, b0 * H, R, 0, parts, b0 * N, acc);
    assert.equal(split, macs);
    assert.deepEqual(whole, parts, `acc=${acc}: tiles and whole rows differ`);
    const ref = q0.slice();
    jsKernels.eventGemmNN(B, N, H, y, 0, R, 0, ref, 0, acc);
    assertClose(whole, ref, { atol: 1e-5 * Math.sqrt(H), rtol: 1e-4, name: `tiles vs jsKernels, acc=${acc}` });
  }
});

test("maskedGemmNT in chunks of rows by column gives the bits of the per-row path", async () => {
  // assembly/events.ts maskedNT: with R over REREAD_BYTES (1 MiB; 37 × 8001 floats) from 8 rows on by
  // column, in chunks of rows of dq of at most that (32 rows at N = 8001: 100 rows make four
  // chunks); calls of 4 rows go by row.
  const k = await wasmPromise;
  const [B, H, N] = [100, 37, 8001];
  const rng = new Rng(79);
  const R = Float32Array.from(randomArray(rng, H * N));
  const dq = Float32Array.from(randomArray(rng, B * N));
  const mask = Float32Array.from({ length: B * H }, () => (rng.uniform() < 0.6 ? 1 : 0));
  const [whole, parts, js] = [new Float32Array(B * H), new Float32Array(B * H), new Float32Array(B * H)];
  const active = k.maskedGemmNT(B, H, N, dq, 0, R, 0, mask, 0, whole, 0);
  let split = 0;
  for (let b0 = 0; b0 < B; b0 += 4) split += k.maskedGemmNT(4, H, N, dq, b0 * N, R, 0, mask, b0 * H, parts, b0 * H);
  assert.equal(split, active);
  assert.deepEqual(whole, parts, "by column in chunks and by row differ");
  assert.equal(jsKernels.maskedGemmNT(B, H, N, dq, 0, R, 0, mask, 0, js, 0), active);
  assertClose(whole, js, { atol: 1e-5 * Math.sqrt(N), rtol: 1e-4, name: "chunks vs jsKernels" });
});

test("event kernels count MACs like jsKernels: -0 is no event, NaN is one", async () => {
  const k = await wasmPromise;
  const B = 3,
    H = 9,
    N = 6;
  const y = new Float32Array(B * H);
  y[1] = -0;
  y[2] = 1.5;
  y[10] = NaN;
  y[26] = -2;
  const R = Float32Array.from(randomArray(new Rng(9), H * N));
  const dq = Float32Array.from(randomArray(new Rng(10), B * N));
  const q = new Float32Array(B * N),
    out = new Float32Array(B * H),
    dR = new Float32Array(H * N);
  assert.equal(k.eventGemmNN(B, N, H, y, 0, R, 0, q, 0, false), 3 * N);
  assert.equal(k.eventGemmTN(H, N, B, y, 0, dq, 0, dR, 0), 3 * N);
  assert.equal(k.maskedGemmNT(B, H, N, dq, 0, R, 0, y, 0, out, 0), 3 * N);
  assert.ok(Number.isNaN(q[N]) && Number.isFinite(q[0]), "a NaN event reaches its own row only");
});

test("views from alloc() are used in place and give the same bits as copied plain arrays", async () => {
  const k = await wasmPromise;
  assert.equal(k.wasm.shared, true, "Node has SharedArrayBuffer, so the memory is shared");
  const specs = [
    ...GEMMS.flatMap((kind) => [
      spec(kind, [257, 129, 191], true),
      spec(kind, [3, 65, 130], false),
      spec(kind, [17, 7, 33], true),
    ]),
    ...EVENTS.flatMap((kind) => [spec(kind, [17, 65, 33], true, 0.1), spec(kind, [1, 130, 65], false, 1)]),
  ];
  for (const s of specs) {
    const p = makeProblem(s);
    const plain = copyProblem(p, (n) => new Float32Array(n));
    const macs = call(k, p, plain);
    const views = copyProblem(p, (n) => k.alloc(n));
    for (const v of views) assert.equal(v.byteOffset % 16, 0, "alloc() is 16-byte aligned");
    assert.equal(call(k, p, views), macs);
    assert.deepEqual(output(p, views), output(p, plain), `${name(p)}: views and plain arrays differ`);
    assertUntouched(p, views);
    for (const v of views) k.free(v as Float32Array);
  }
});

test("every call is deterministic: the same inputs give bit-identical outputs", async () => {
  const k = await wasmPromise;
  for (const kind of [...GEMMS, ...EVENTS]) {
    for (const dims of [
      [65, 130, 257],
      [5, 33, 130],
    ] as [number, number, number][]) {
      const p = makeProblem(spec(kind, dims, true, 0.3));
      const first = copyProblem(p, (n) => new Float32Array(n));
      const second = copyProblem(p, (n) => new Float32Array(n));
      call(k, p, first);
      call(k, p, second);
      assert.deepEqual(output(p, first), output(p, second), `${name(p)} is not deterministic`);
    }
  }
});

test("splitting a product into blocks of rows or columns does not change a bit", async () => {
  // What a worker pool relies on. Columns: every path sums each element in an order that does
  // not depend on N. Rows: gemmNN/gemmTN sum as the packed path does on every path (so even
  // blocks of 1–7 rows agree), the event kernels treat batch rows independently, and gemmNT
  // agrees as long as every block is on the packed path (≥ 8 rows).
  const k = await wasmPromise;
  const M = 21,
    N = 37,
    K = 300; // K spans two k blocks
  for (const kind of GEMMS) {
    for (const acc of [false, true]) {
      const p = makeProblem(spec(kind, [M, N, K], acc, 1, 0));
      const [A, B, C] = p.arrays;
      const whole = C.slice();
      k[kind](M, N, K, A, 0, B, 0, whole, 0, acc);
      // columns 0–12 and 13–36, through transposed/contiguous views of B as the kind stores it
      const byCols = C.slice();
      for (const [j0, n] of [
        [0, 13],
        [13, 24],
      ]) {
        const Bc =
          kind === "gemmNT"
            ? B.slice(j0 * K, (j0 + n) * K)
            : Float32Array.from({ length: K * n }, (_, t) => B[Math.floor(t / n) * N + j0 + (t % n)]);
        const Cc = Float32Array.from({ length: M * n }, (_, t) => byCols[Math.floor(t / n) * N + j0 + (t % n)]);
        k[kind](M, n, K, A, 0, Bc, 0, Cc, 0, acc);
        Cc.forEach((v, t) => (byCols[Math.floor(t / n) * N + j0 + (t % n)] = v));
      }
      assert.deepEqual(byCols, whole, `${kind} acc=${acc}: column blocks differ`);
      // rows: 3 + 8 + 10 (NN, TN: any split; NT: blocks of ≥ 8 rows)
      const blocks =
        kind === "gemmNT"
          ? [
              [0, 8],
              [8, 13],
            ]
          : [
              [0, 3],
              [3, 8],
              [11, 10],
            ];
      const byRows = C.slice();
      for (const [i0, m] of blocks) {
        const Ar =
          kind === "gemmTN"
            ? Float32Array.from({ length: K * m }, (_, t) => A[Math.floor(t / m) * M + i0 + (t % m)])
            : A.slice(i0 * K, (i0 + m) * K);
        k[kind](m, N, K, Ar, 0, B, 0, byRows, i0 * N, acc);
      }
      assert.deepEqual(byRows, whole, `${kind} acc=${acc}: row blocks differ`);
    }
  }
});

test("event products over many rows and tall matrices sum exactly in list order", async () => {
  // Each element must receive its terms one float32 multiply and one float32 add at a time (one
  // fused multiply-add in the relaxed-SIMD build on a host with FMA), in increasing order of the
  // summed index (what makes every split over threads bit-identical): checked against that sum
  // emulated in float64 (test/fused.ts), at sizes past the kernels' chunking.
  const k = await wasmPromise;
  const f = Math.fround;
  const madd = fusesMultiplyAdd(k) ? fmaf : maddf;
  const rng = new Rng(31);
  const sparse = (n: number, d: number) =>
    Float32Array.from({ length: n }, () => (rng.uniform() < d ? f(rng.normal()) : 0));
  // dR [H, N] += yᵀ·dq over 600 rows: a chunk of dq over 1 MiB, summed by blocks of columns, the last
  // block with a scalar tail
  {
    const B = 600,
      H = 20,
      N = 503;
    const y = sparse(B * H, 0.2);
    const dq = sparse(B * N, 1);
    const dR = sparse(H * N, 1);
    const want = dR.slice();
    for (let j = 0; j < H; j++) {
      for (let n = 0; n < N; n++) {
        let d = want[j * N + n];
        for (let b = 0; b < B; b++) if (y[b * H + j] !== 0) d = madd(y[b * H + j], dq[b * N + n], d);
        want[j * N + n] = d;
      }
    }
    k.eventGemmTN(H, N, B, y, 0, dq, 0, dR, 0);
    assert.deepEqual(dR, want, "eventGemmTN");
  }
  // q [B, N] = y·R with a tall R
  {
    const B = 9,
      H = 2000,
      N = 150;
    const y = sparse(B * H, 0.1);
    const R = sparse(H * N, 1);
    const q = new Float32Array(B * N);
    const want = new Float32Array(B * N);
    for (let b = 0; b < B; b++) {
      for (let n = 0; n < N; n++) {
        let d = 0;
        for (let j = 0; j < H; j++) if (y[b * H + j] !== 0) d = madd(y[b * H + j], R[j * N + n], d);
        want[b * N + n] = d;
      }
    }
    k.eventGemmNN(B, N, H, y, 0, R, 0, q, 0, false);
    assert.deepEqual(q, want, "eventGemmNN");
  }
});

test("Float64Array operands are computed by jsKernels exactly", async () => {
  const k = await wasmPromise;
  for (const kind of [...GEMMS, ...EVENTS]) {
    const p = makeProblem(spec(kind, [7, 17, 33], true, 0.3));
    const mine = copyProblem(p, (n) => new Float64Array(n));
    const theirs = copyProblem(p, (n) => new Float64Array(n));
    assert.equal(call(k, p, mine), call(jsKernels, p, theirs));
    assert.deepEqual(output(p, mine), output(p, theirs), `${name(p)} with Float64Array`);
  }
});

test("the plain-memory build gives the same bits, copying every operand", async () => {
  const shared = await wasmPromise;
  const plain = await load(false);
  assert.equal(plain.wasm.shared, false);
  const a = plain.alloc(10);
  assert.ok(!(a.buffer instanceof SharedArrayBuffer) && a.length === 10, "plain mode hands out ordinary arrays");
  plain.free(a);
  for (const kind of [...GEMMS, ...EVENTS]) {
    const p = makeProblem(spec(kind, [33, 17, 65], true, 0.5));
    const x = copyProblem(p, (n) => new Float32Array(n));
    const y = copyProblem(p, (n) => new Float32Array(n));
    assert.equal(call(plain, p, x), call(shared, p, y));
    assert.deepEqual(output(p, x), output(p, y), `${name(p)}: plain and shared memory differ`);
  }
});

test("the allocator reuses freed blocks, grows the memory and keeps old views valid", async () => {
  const k = await load();
  const a = k.alloc(1000);
  a.fill(3);
  k.free(a);
  const b = k.alloc(1000);
  assert.equal(b.byteOffset, a.byteOffset, "a freed block is reused");
  assert.ok(
    b.every((v) => v === 0),
    "alloc() returns zeros",
  );
  b.fill(7);
  const before = k.memoryBytes();
  const big = k.alloc(before / 4); // more than the whole memory: it must grow
  assert.ok(k.memoryBytes() > before);
  assert.ok(
    b.every((v) => v === 7),
    "views made before growth keep their contents",
  );
  // an old view (on the pre-growth buffer object) is still recognized and used in place
  const R = k.alloc(6);
  R.set([1, 2, 3, 4, 5, 6]);
  k.gemmNN(1, 3, 2, b, 0, R, 0, big, 0, false);
  assert.deepEqual(Array.from(big.subarray(0, 3)), [35, 49, 63]);
  assert.throws(() => k.free(new Float32Array(4)), ValueError);
  k.free(big);
  k.free(R);
  k.free(b);
  assert.throws(() => k.free(b), ValueError, "double free");
});

test("kernels derived from these (another crossover) share their work region: growing it on either side is safe", async () => {
  const k = await load();
  const derived = Object.assign(Object.create(k) as Kernels, { eventCrossover: 0 });
  // operands outside the memory are staged in the work region; each call below needs a larger one
  const product = (kernels: Kernels, n: number): Float32Array => {
    const a = Float32Array.from(randomArray(new Rng(n), n * 8)); // plain float32 arrays: staged
    const w = Float32Array.from(randomArray(new Rng(n + 1), 8 * 5));
    const c = new Float32Array(n * 5);
    kernels.gemmNN(n, 5, 8, a, 0, w, 0, c, 0, false);
    const want = new Float64Array(n * 5); // float64 operands: the float64 path
    jsKernels.gemmNN(n, 5, 8, Float64Array.from(a), 0, Float64Array.from(w), 0, want, 0, false);
    assertClose(c, want, { atol: 1e-5, rtol: 1e-5, name: `${n} rows` });
    return c;
  };
  product(k, 1000);
  const pin = k.alloc(16); // right after the region, so that a freed region stays a hole of its own
  product(derived, 4000); // grows the region: the base must not go on staging in the block this frees
  const kept = k.alloc(1000); // fits in that hole
  kept.fill(5);
  product(k, 500); // small enough for the region the base believes it has
  assert.ok(
    kept.every((v) => v === 5),
    "an array allocated meanwhile is not overwritten by staged operands",
  );
  product(k, 16_000); // grows it through the base
  product(derived, 64_000);
  k.free(pin);
  k.free(kept);
});

test("the receive mask equals its TypeScript twin at the window's edges, with NaN, -0 and a tail of units", async () => {
  // four units a vector in WebAssembly, the surrogate in float64 two lanes at a time; H = 11 leaves a tail
  const k = await wasmPromise;
  const [rows, H] = [3, 11];
  const thr = Float32Array.from({ length: H }, (_, j) => 0.25 + j / 16);
  const s = 3.6;
  const c = new Float32Array(rows * H);
  const o = new Float32Array(rows * H);
  for (let i = 0; i < c.length; i++) {
    const j = i % H;
    const edge = [0, 1 / s, -1 / s, Math.fround(1 / s) * (1 + 2 ** -23), Number.NaN, 5, -0][i % 7];
    c[i] = thr[j] + edge; // on either side of |c − ϑ| = 1/s, outside, NaN
    o[i] = [0, -0, 1, Number.NaN, 0][i % 5]; // -0 is no event, NaN is one
  }
  for (const event of [heavisideEvent(0.3, s), heavisideEvent(0, s), heavisideEvent(1e-300, s)]) {
    const got = new Float32Array(rows * H);
    const want = new Float32Array(rows * H);
    const ones = k.egruReceiveMask?.({ rows, H, o, c, off: 0, thr, event, out: got, outOff: 0 });
    receiveMaskRows(o, c, thr, event, H, 0, rows * H, want, 0);
    assert.deepEqual(got, want, `γ ${event.gamma}`);
    assert.equal(
      ones,
      want.reduce((a, v) => a + v, 0),
      "ones",
    );
  }
});

test("operands too short for their sizes and offsets raise ShapeError", async () => {
  const k = await wasmPromise;
  const A = new Float32Array(6),
    B = new Float32Array(6),
    C = new Float32Array(4);
  assert.throws(() => k.gemmNN(2, 2, 3, A, 1, B, 0, C, 0, false), ShapeError);
  assert.throws(() => k.gemmNT(2, 2, 3, A, 0, B, 0, new Float32Array(3), 0, false), ShapeError);
  assert.throws(() => k.eventGemmNN(2, 3, 3, A, 0, B, 1, C, 0, false), ShapeError);
  assert.throws(() => k.maskedGemmNT(2, 2, 3, A, 0, B, 0, C, 1, C, 0), ShapeError);
  k.gemmNN(2, 2, 3, A, 0, B, 0, C, 0, false); // exactly long enough
});
