// The training step's elementwise kernels (kernels/train-ops.ts, assembly/train-ops.ts): counting
// nonzeros and entries outside the surrogate window (the layer statistics), the first non-finite
// index, the chunked sum of squares (the gradient norm), the Adam / AdamW / SGD updates and the
// gradient accumulation (addScaled, whose twin is core/buffer.ts addInto). The
// TypeScript twins, the one-thread WebAssembly kernels (plain arrays and views into their memory)
// and the threaded ones (2 threads) give the same bits at odd sizes; the updates also equal a
// float64 copy of the optimizer's formulas written out here, over several steps.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { addInto } from "../../packages/egru/src/core/buffer.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import * as ops from "../../packages/egru/src/kernels/train-ops.js";
import { createThreadedKernels } from "../../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20");
const two = createThreadedKernels(wasm, 2, { minPointwise: 0 });
after(() => two.close());

const SIZES = [1, 7, 4099, 100003];

/** The kernel sets compared: the twins, one-thread WebAssembly, two threads. */
const twins: Required<Pick<Kernels, "countNonzero" | "firstNonFinite" | "adamUpdate" | "sgdUpdate" | "addScaled">> = {
  ...ops,
  addScaled: addInto,
};
const SETS = [
  ["wasm", wasm],
  ["wasm×2", two],
] as const;

/** The update runs: the twins, then each kernel set on plain arrays and on views into its memory. */
const RUNS = [
  ["ts", twins as Kernels, false] as const,
  ...SETS.flatMap(([name, k]) => [[name, k, false] as const, [`${name} resident`, k, true] as const]),
];

const rand = (n: number, seed: number, density = 1, scale = 1): Float32Array => {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.uniform() < density ? scale * rng.normal() : 0;
  return a;
};

/** The same values in the kernels' memory (a view), or a plain copy. */
const place = (a: Float32Array, resident: boolean): Float32Array => {
  if (!resident) return a.slice();
  const v = wasm.alloc(a.length);
  v.set(a);
  return v;
};

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.slice().buffer);

test("countNonzero: every kernel set counts as the twin (NaN counts, -0 does not), at odd sizes and offsets", () => {
  for (const n of SIZES) {
    const a = rand(n + 5, n, 0.3);
    a[Math.floor(n / 2)] = Number.NaN;
    a[n - 1] = -0;
    for (const resident of [false, true]) {
      const x = place(a, resident);
      for (const off of [0, 3]) {
        const len = Math.min(n, x.length - off);
        const want = twins.countNonzero(x, off, len);
        let slow = 0;
        for (let i = off; i < off + len; i++) if (x[i] !== 0) slow++;
        assert.equal(want, slow);
        for (const [name, k] of SETS) assert.equal(k.countNonzero?.(x, off, len), want, `${name} n=${n} off=${off}`);
      }
    }
  }
});

test("firstNonFinite: the first NaN or ±Infinity at any position, or -1, the same in every kernel set", () => {
  for (const n of SIZES) {
    const positions = [...new Set([0, Math.floor(n / 2), n - 1, Math.max(0, n - 3)])];
    for (const resident of [false, true]) {
      const clean = place(rand(n, 7 + n, 1, 1e30), resident);
      assert.equal(twins.firstNonFinite(clean, 0, n), -1);
      for (const [name, k] of SETS) assert.equal(k.firstNonFinite?.(clean, 0, n), -1, `${name} n=${n} clean`);
      for (const p of positions) {
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          const a = place(rand(n, p + n, 1), resident);
          a[p] = bad;
          if (p + 1 < n) a[n - 1] = Number.NaN; // a later one does not matter
          assert.equal(twins.firstNonFinite(a, 0, n), p);
          for (const [name, k] of SETS) assert.equal(k.firstNonFinite?.(a, 0, n), p, `${name} n=${n} at ${p} ${bad}`);
          if (p > 0) {
            // from an offset past the bad entry: the next one (the trailing NaN), or none
            const rest = twins.firstNonFinite(a, p + 1, n - p - 1);
            for (const [, k] of SETS) assert.equal(k.firstNonFinite?.(a, p + 1, n - p - 1), rest);
          }
        }
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The optimizer updates against a float64 copy of the optimizer's formulas (as optim/optimizer.ts
// wrote them before the kernels): float64 numbers, float32 storage via Math.fround.

interface AdamConfig {
  b1: number;
  b2: number;
  eps: number;
  lr: number;
  wd: number;
  decoupled: boolean;
}

function adamReference(w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, t: number, c: AdamConfig) {
  const bc1 = 1 - c.b1 ** t;
  const bc2 = Math.sqrt(1 - c.b2 ** t);
  const stepSize = c.lr / bc1;
  const shrink = c.decoupled ? 1 - c.lr * c.wd : 1;
  const f = Math.fround;
  for (let i = 0; i < w.length; i++) {
    const gi = c.decoupled ? g[i] : g[i] + c.wd * w[i];
    const mi = f(c.b1 * m[i] + (1 - c.b1) * gi);
    const vi = f(c.b2 * v[i] + (1 - c.b2) * gi * gi);
    m[i] = mi;
    v[i] = vi;
    w[i] = f(w[i] * shrink - (stepSize * mi) / (Math.sqrt(vi) / bc2 + c.eps));
  }
}

function sgdReference(
  w: Float32Array,
  g: Float32Array,
  buf: Float32Array | null,
  first: boolean,
  lr: number,
  wd: number,
  mu: number,
) {
  for (let i = 0; i < w.length; i++) {
    let d = g[i] + wd * w[i];
    if (buf) {
      if (!first) d = mu * buf[i] + d;
      buf[i] = Math.fround(d);
    }
    w[i] = Math.fround(w[i] - lr * d);
  }
}

const ADAM_CONFIGS: AdamConfig[] = [
  { b1: 0.9, b2: 0.999, eps: 1e-8, lr: 3e-3, wd: 0, decoupled: false },
  { b1: 0.9, b2: 0.999, eps: 1e-8, lr: 3e-3, wd: 1e-2, decoupled: false },
  { b1: 0, b2: 0.999, eps: 1e-6, lr: 1e-2, wd: 1.2e-6, decoupled: true },
  { b1: 0.8, b2: 0.99, eps: 1e-8, lr: 0.5, wd: 0.1, decoupled: true },
];

test("adamUpdate: Adam and AdamW, three steps, bit for bit the float64 reference in every kernel set", () => {
  for (const n of SIZES) {
    for (const [ci, c] of ADAM_CONFIGS.entries()) {
      const w0 = rand(n, 100 + ci, 1, 0.5);
      const ref = { w: w0.slice(), m: new Float32Array(n), v: new Float32Array(n) };
      const runs = RUNS.map(([name, k, resident]) => ({
        name,
        k,
        w: place(w0, resident),
        m: place(new Float32Array(n), resident),
        v: place(new Float32Array(n), resident),
      }));
      for (let t = 1; t <= 3; t++) {
        const g = rand(n, 1000 * t + ci, 0.9, t === 2 ? 1e3 : 1e-2);
        adamReference(ref.w, g, ref.m, ref.v, t, c);
        const bc1 = 1 - c.b1 ** t;
        for (const r of runs) {
          const u: ops.AdamUpdate = {
            w: r.w,
            g,
            m: r.m,
            v: r.v,
            b1: c.b1,
            b2: c.b2,
            eps: c.eps,
            stepSize: c.lr / bc1,
            bc2: Math.sqrt(1 - c.b2 ** t),
            shrink: c.decoupled ? 1 - c.lr * c.wd : 1,
            wd: c.wd,
            decoupled: c.decoupled,
          };
          r.k.adamUpdate?.(u);
          const at = `${r.name} n=${n} config ${ci} step ${t}`;
          assert.deepEqual(bits(r.w), bits(ref.w), `w ${at}`);
          assert.deepEqual(bits(r.m), bits(ref.m), `m ${at}`);
          assert.deepEqual(bits(r.v), bits(ref.v), `v ${at}`);
        }
      }
      assert.notDeepEqual(bits(ref.w), bits(w0), "the updates moved the weights");
    }
  }
});

test("sgdUpdate: with and without momentum and decay, three steps, bit for bit the float64 reference in every kernel set", () => {
  for (const n of SIZES) {
    for (const [ci, [lr, wd, mu]] of [
      [0.1, 0, 0],
      [0.05, 1e-3, 0.9],
      [1.5, 0.2, 0.5],
    ].entries()) {
      const w0 = rand(n, 200 + ci, 1, 0.5);
      const ref = { w: w0.slice(), buf: mu > 0 ? new Float32Array(n) : null };
      const runs = RUNS.map(([name, k, resident]) => ({
        name,
        k,
        w: place(w0, resident),
        buf: mu > 0 ? place(new Float32Array(n), resident) : null,
      }));
      for (let t = 1; t <= 3; t++) {
        const g = rand(n, 2000 * t + ci, 0.8, 1);
        sgdReference(ref.w, g, ref.buf, t === 1, lr, wd, mu);
        for (const r of runs) {
          const u: ops.SgdUpdate = { w: r.w, g, buf: r.buf, first: t === 1, lr, wd, mu };
          r.k.sgdUpdate?.(u);
          const at = `${r.name} n=${n} config ${ci} step ${t}`;
          assert.deepEqual(bits(r.w), bits(ref.w), `w ${at}`);
          if (r.buf && ref.buf) assert.deepEqual(bits(r.buf), bits(ref.buf), `buf ${at}`);
        }
      }
    }
  }
});

test("addScaled: a gradient added into an accumulated one, bit for bit a float64 reference in every kernel set", () => {
  for (const n of SIZES) {
    for (const scale of [1, 0.3, -2.5]) {
      const a0 = rand(n, 300 + n, 0.9, 3);
      const b = rand(n, 400 + n, 0.8, 1e-3);
      // special values: ±Infinity, NaN, −0, a subnormal, and a sum that rounds to float32 differently
      // from float32 arithmetic (a + scale·b, one rounding, in float64)
      const specials = [Number.POSITIVE_INFINITY, Number.NaN, -0, 1e-40, 16777216];
      specials.forEach((v, i) => i < n && (a0[(i * 977) % n] = v));
      if (n > 5) b[5] = 1;
      const want = Float32Array.from(a0, (v, i) => v + scale * b[i]);
      for (const [name, k, resident] of RUNS) {
        const a = place(a0, resident);
        const bb = place(b, resident);
        k.addScaled?.(a, bb, scale);
        assert.deepEqual(bits(a), bits(want), `${name} n=${n} scale ${scale}`);
        assert.deepEqual(bits(bb), bits(b), `${name}: b unchanged`);
      }
    }
  }
});

test("the update kernels leave the gradient as it was", () => {
  const n = 4099;
  const g = rand(n, 5);
  const g0 = g.slice();
  for (const [, k] of SETS) {
    k.adamUpdate?.({
      w: rand(n, 6),
      g,
      m: new Float32Array(n),
      v: new Float32Array(n),
      b1: 0.9,
      b2: 0.999,
      eps: 1e-8,
      stepSize: 1e-3,
      bc2: 1,
      shrink: 1,
      wd: 0.1,
      decoupled: false,
    });
    k.sgdUpdate?.({ w: rand(n, 7), g, buf: new Float32Array(n), first: true, lr: 0.1, wd: 0.1, mu: 0.9 });
  }
  assert.deepEqual(bits(g), bits(g0));
});

test("sumSquares: fixed chunks, the same bits on the twin, one thread and two, near a float64 reference", () => {
  const twin = ops.sumSquares;
  for (const n of [...SIZES, 2 * ops.SQUARES_CHUNK, 3 * ops.SQUARES_CHUNK + 5]) {
    const a = rand(n + 3, 50 + n, 0.9, 3);
    for (const resident of [false, true]) {
      const x = place(a, resident);
      for (const off of [0, 3]) {
        const len = Math.min(n, x.length - off);
        const want = twin(x, off, len);
        let ref = 0;
        for (let i = off; i < off + len; i++) ref += x[i] * x[i];
        assert.ok(Math.abs(want - ref) <= 1e-12 * ref, `twin n=${n}: ${want} vs ${ref}`);
        for (const [name, k] of SETS) assert.equal(k.sumSquares?.(x, off, len), want, `${name} n=${n} off=${off}`);
      }
    }
  }
  // the order is the documented one: four running sums per chunk, then the tail, then the chunks
  const a = Float32Array.from([1e8, 1, -1e8, 1, 3]);
  const s = (v: number) => v * v;
  assert.equal(twin(a, 0, 5), s(1e8) + s(1) + (s(-1e8) + s(1)) + s(3));
  for (const [, k] of SETS) assert.equal(k.sumSquares?.(a, 0, 5), twin(a, 0, 5));
});

test("countOutside: entries outside their unit's window, the same in every kernel set, at odd shapes", () => {
  for (const [rows, H] of [
    [1, 1],
    [1, 7],
    [3, 4099],
    [37, 2703],
  ]) {
    const n = rows * H;
    const x = rand(n + 2, rows + H, 0.8, 0.6);
    x[1] = Number.NaN; // never outside (|NaN − ϑ| > s is false)
    const thr = rand(H, H, 1, 0.3);
    for (const resident of [false, true]) {
      const xs = place(x, resident);
      for (const [off, support] of [
        [0, 0.5],
        [2, 1 / 3],
      ]) {
        const want = ops.countOutside(rows, H, xs, off, thr, support);
        let ref = 0;
        for (let r = 0; r < rows; r++)
          for (let j = 0; j < H; j++) if (Math.abs(xs[off + r * H + j] - thr[j]) > support) ref++;
        assert.equal(want, ref);
        if (n > 100) assert.ok(want > 0 && want < n, "both sides of the window occur");
        for (const [name, k] of SETS)
          assert.equal(k.countOutside?.(rows, H, xs, off, thr, support), want, `${name} ${rows}×${H} off=${off}`);
      }
    }
  }
});
