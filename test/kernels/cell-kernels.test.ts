// The EGRU cell's pointwise kernels: the float32 exp, sigmoid and tanh against Math's float64
// functions; the WebAssembly and TypeScript cell kernels bit for bit at odd widths (the last
// vector of a row partly filled), with and without previous state, zoneout masks, constants and
// upstream gradients; and the float32 forward against the float64 one it replaced.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { heavisideEvent } from "../../packages/egru/src/kernels/activations.js";
import { jsKernels } from "../../packages/egru/src/kernels/backend.js";
import type { CellBackwardArgs, CellForwardArgs, EgruTape } from "../../packages/egru/src/kernels/cell-pointwise.js";
import { exp32, flushTiny, sigmoid32, tanh32 } from "../../packages/egru/src/kernels/f32-math.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20");

const ulp32 = (v: number): number => {
  const a = Math.abs(Math.fround(v));
  if (a < 1.1754943508222875e-38) return 1.401298464324817e-45;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
};

test("exp32 and tanh32 are within 2 ulp (float32) of the exact functions, sigmoid32 within 3", () => {
  let worst = { exp: 0, sigmoid: 0, tanh: 0 };
  for (let i = 0; i <= 40000; i++) {
    const x = Math.fround(-20 + (40 * i) / 40000);
    const e = Math.abs(exp32(x) - Math.exp(x)) / ulp32(Math.exp(x));
    const s = Math.abs(sigmoid32(x) - 1 / (1 + Math.exp(-x))) / ulp32(1 / (1 + Math.exp(-x)));
    const t = Math.abs(tanh32(x) - Math.tanh(x)) / Math.max(ulp32(Math.tanh(x)), ulp32(2 ** -24));
    worst = { exp: Math.max(worst.exp, e), sigmoid: Math.max(worst.sigmoid, s), tanh: Math.max(worst.tanh, t) };
  }
  // tanh near 0 is measured against the absolute float32 resolution of values near 1 (2⁻²⁴)
  assert.ok(worst.exp <= 2 && worst.sigmoid <= 3 && worst.tanh <= 2, JSON.stringify(worst));
  for (const x of [1e-6, -1e-6, 0.1, -0.24]) {
    assert.ok(Math.abs(tanh32(x) - Math.tanh(x)) <= 2 * ulp32(Math.tanh(x)), `tanh32(${x}) relative accuracy`);
  }
});

test("the float32 functions saturate cleanly at the ends and keep signs", () => {
  assert.equal(sigmoid32(200), 1);
  assert.ok(sigmoid32(-200) >= 0 && sigmoid32(-200) < 1e-37);
  assert.equal(tanh32(50), 1);
  assert.equal(tanh32(-50), -1);
  assert.ok(Object.is(tanh32(0), 0) && tanh32(-0) === 0);
  assert.ok(Number.isFinite(exp32(1000)) && exp32(-1000) >= 0);
  assert.ok(Number.isNaN(sigmoid32(Number.NaN)) && Number.isNaN(tanh32(Number.NaN)));
});

const rand = (rng: Rng, n: number, scale = 1): Float32Array =>
  Float32Array.from({ length: n }, () => rng.normal(0, scale));
const tape = (n: number): EgruTape<Float32Array> => ({
  c: new Float32Array(n),
  z: new Float32Array(n),
  r: new Float32Array(n),
  g: new Float32Array(n),
  hr: new Float32Array(n),
});

test("cell forward: a trace below 2^−100 is stored as 0 (not a subnormal), in WebAssembly and TypeScript alike", () => {
  // thresholds no state reaches: every unit silent, so tr = α·trPrev, around the flush boundary
  const B = 2;
  const H = 13;
  const n = B * H;
  const rng = new Rng(77);
  const trPrev = Float32Array.from(
    { length: n },
    () => (rng.uniform() < 0.5 ? -1 : 1) * 2 ** -100 * (0.5 + 2 * rng.uniform()),
  );
  trPrev[0] = 2 ** -126 * 0.75; // a subnormal already
  const run = <A extends Float32Array | Float64Array>(k: typeof jsKernels, make: (a: ArrayLike<number>) => A) => {
    const out = {
      y: make(new Float32Array(n)),
      h: make(new Float32Array(n)),
      o: make(new Float32Array(n)),
      tr: make(new Float32Array(n)),
    };
    const t = {
      c: make(new Float32Array(n)),
      z: make(new Float32Array(n)),
      r: make(new Float32Array(n)),
      g: make(new Float32Array(n)),
      hr: make(new Float32Array(n)),
    };
    const r2 = new Rng(5);
    k.egruCellForward({
      B,
      H,
      a: make(rand(r2, 3 * n)),
      aOff: 0,
      q: make(rand(r2, 3 * n)),
      qOff: 0,
      hPrev: make(rand(r2, n)),
      hPrevOff: 0,
      trPrev: make(trPrev),
      trPrevOff: 0,
      thr: make(new Float32Array(H).fill(10)),
      keep: null,
      keepOff: 0,
      keepConst: 1,
      alpha: 0.9,
      event: heavisideEvent(),
      out: { ...out, tape: t },
      outOff: 0,
    });
    assert.ok(
      out.o.every((v) => v === 0),
      "every unit silent",
    );
    return Array.from(out.tr);
  };
  const want = Array.from(trPrev, (v) => flushTiny(Math.fround(Math.fround(0.9) * v)));
  const w = run(wasm, (a) => Float32Array.from(a));
  assert.deepEqual(w, want);
  assert.deepEqual(
    run(jsKernels, (a) => Float32Array.from(a)),
    want,
  );
  // the float64 path flushes by the same rule (its products differ in the last bits)
  assert.ok(run(jsKernels, (a) => Float64Array.from(a)).every((v, i) => (v === 0) === (want[i] === 0)));
  const kept = want.filter((v) => v !== 0);
  assert.ok(kept.length > 3 && kept.length < n - 3, `${kept.length} of ${n} kept`);
  assert.ok(
    kept.every((v) => Math.abs(v) >= 2 ** -100),
    "nothing below 2^−100 but 0",
  );
});

for (const [B, H] of [
  [1, 1],
  [3, 5],
  [2, 13],
  [4, 64],
  [1, 1351],
]) {
  test(`cell forward: WebAssembly and TypeScript give the same bits, B=${B} H=${H}`, () => {
    const rng = new Rng(B * 1000 + H);
    const n = B * H;
    for (const variant of ["state", "no-state", "mask", "eval"] as const) {
      const off = 7; // outputs at an offset, as at step t of a sequence
      const outs = [0, 1].map(() => ({
        y: new Float32Array(n + off),
        h: new Float32Array(n + off),
        o: new Float32Array(n + off),
        tr: new Float32Array(n + off),
        tape: tape(n + off),
      }));
      const keep = Float32Array.from({ length: n + 3 }, () => (rng.uniform() < 0.3 ? 0 : 1));
      const args = (out: (typeof outs)[number]): CellForwardArgs<Float32Array> => ({
        B,
        H,
        a: rand(rng, 3 * n + 2, 3),
        aOff: 2,
        q: rand(rng, 3 * n, 3),
        qOff: 0,
        hPrev: variant === "no-state" ? null : rand(rng, n),
        hPrevOff: 0,
        trPrev: variant === "no-state" ? null : rand(rng, n),
        trPrevOff: 0,
        thr: Float32Array.from({ length: H }, () => rng.uniform() * 0.6),
        keep: variant === "mask" ? keep : null,
        keepOff: 3,
        keepConst: variant === "eval" ? 1 - 0.23 : 1,
        alpha: 0.9,
        event: heavisideEvent(),
        out,
        outOff: off,
      });
      const rngState = rng.getState();
      const aw = args(outs[0]);
      rng.setState(rngState);
      const aj = args(outs[1]);
      wasm.egruCellForward(aw);
      jsKernels.egruCellForward(aj);
      for (const k of ["y", "h", "o", "tr"] as const) assert.deepEqual(outs[0][k], outs[1][k], `${variant}: ${k}`);
      for (const k of ["c", "z", "r", "g", "hr"] as const)
        assert.deepEqual(outs[0].tape[k], outs[1].tape[k], `${variant}: tape ${k}`);
      assert.ok(outs[0].o.some((v) => v === 1) || n < 4, "some units fire");
    }
  });

  test(`cell backward: WebAssembly and TypeScript give the same bits, B=${B} H=${H}`, () => {
    const rng = new Rng(B * 7 + H);
    const n = B * H;
    const off = 5;
    for (const variant of ["all", "none-upstream", "mask"] as const) {
      const fresh = () => ({
        dyRec: rand(rng, n),
        dhRec: rand(rng, n),
        dtrCarry: rand(rng, n),
        dhNext: new Float32Array(n),
        dp: new Float32Array(3 * n + 4),
        dq: new Float32Array(3 * n + 4),
        dthrRows: rand(rng, n),
      });
      const t = tape(n + off);
      for (const k of ["c", "z", "r", "g", "hr"] as const) t[k].set(rand(rng, n + off));
      for (const k of ["z", "r"] as const) t[k].set(t[k].map((v) => 1 / (1 + Math.exp(-v))));
      t.g.set(t.g.map(Math.tanh));
      const o = Float32Array.from({ length: n + off }, () => (rng.uniform() < 0.2 ? 1 : 0));
      const up =
        variant === "none-upstream"
          ? { dy: null, dh: null, do: null, dtr: null }
          : { dy: rand(rng, n + off), dh: rand(rng, n + off), do: rand(rng, n + off), dtr: rand(rng, n + off) };
      const shared = {
        B,
        H,
        up,
        o,
        tape: t,
        off,
        hPrev: rand(rng, n),
        hPrevOff: 0,
        thr: Float32Array.from({ length: H }, () => rng.uniform()),
        keep: variant === "mask" ? Float32Array.from({ length: n }, () => (rng.uniform() < 0.5 ? 0 : 1)) : null,
        keepOff: 0,
        keepConst: 1,
        alpha: 0.8,
        event: heavisideEvent(3.6, 3.6),
        dOff: 4,
      };
      const s = rng.getState();
      const w = fresh();
      rng.setState(s);
      const j = fresh();
      wasm.egruCellBackward({ ...shared, ...w } as CellBackwardArgs<Float32Array>);
      jsKernels.egruCellBackward({ ...shared, ...j } as CellBackwardArgs<Float32Array>);
      for (const k of Object.keys(w) as (keyof typeof w)[]) assert.deepEqual(w[k], j[k], `${variant}: ${k}`);
      assert.ok(w.dp.some((v) => v !== 0) || n < 4, "gradient flows");
    }
  });
}

test("the float32 cell forward stays within float32 rounding of the float64 one", () => {
  const rng = new Rng(9);
  const B = 3,
    H = 41,
    n = B * H;
  const a64 = Float64Array.from(rand(rng, 3 * n, 2));
  const q64 = Float64Array.from(rand(rng, 3 * n, 2));
  const h64 = Float64Array.from(rand(rng, n));
  const thr = Float32Array.from({ length: H }, () => rng.uniform() * 0.5);
  const out64 = {
    y: new Float64Array(n),
    h: new Float64Array(n),
    o: new Float64Array(n),
    tr: new Float64Array(n),
    tape: {
      c: new Float64Array(n),
      z: new Float64Array(n),
      r: new Float64Array(n),
      g: new Float64Array(n),
      hr: new Float64Array(n),
    },
  };
  const out32 = {
    y: new Float32Array(n),
    h: new Float32Array(n),
    o: new Float32Array(n),
    tr: new Float32Array(n),
    tape: tape(n),
  };
  const common = {
    B,
    H,
    aOff: 0,
    qOff: 0,
    hPrevOff: 0,
    trPrev: null,
    trPrevOff: 0,
    keep: null,
    keepOff: 0,
    keepConst: 1,
    alpha: 0.9,
    event: heavisideEvent(),
    outOff: 0,
  };
  jsKernels.egruCellForward({ ...common, a: a64, q: q64, hPrev: h64, thr: Float64Array.from(thr), out: out64 });
  jsKernels.egruCellForward({
    ...common,
    a: Float32Array.from(a64),
    q: Float32Array.from(q64),
    hPrev: Float32Array.from(h64),
    thr,
    out: out32,
  });
  let worst = 0;
  for (let i = 0; i < n; i++) {
    if (Math.abs(out64.tape.c[i] - thr[i % H]) < 1e-5) continue; // an event could flip on rounding
    worst = Math.max(
      worst,
      Math.abs(out32.y[i] - out64.y[i]),
      Math.abs(out32.h[i] - out64.h[i]),
      Math.abs(out32.tape.c[i] - out64.tape.c[i]),
    );
  }
  assert.ok(worst < 1e-6, `largest difference ${worst}`);
  assert.deepEqual(Array.from(out32.o), Array.from(out64.o));
});
