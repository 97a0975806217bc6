// The GRU and LSTM cells' pointwise kernels (gruCellForward/Backward, lstmCellForward/Backward):
// the WebAssembly kernels give the same bits as the TypeScript ones at odd widths (the last vector
// of a row partly filled), with operands copied in (shared and plain memory) and used in place
// (arrays from alloc()), with and without previous state, zoneout masks and constants, upstream
// gradients, and adjoints at the 2^−100 flush; values outside the written ranges stay untouched;
// Float64Array operands go to the TypeScript kernels exactly; and the float32 forward (what both
// kernel sets run on float32 arrays) stays within float32 rounding of the float64 one.

import assert from "node:assert/strict";
import { test } from "node:test";
import type { FloatArray } from "../../packages/egru/src/core/buffer.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import type { GruCellBackwardArgs, GruCellForwardArgs } from "../../packages/egru/src/kernels/gru-cell.js";
import type { LstmCellBackwardArgs, LstmCellForwardArgs } from "../../packages/egru/src/kernels/lstm-cell.js";
import { loadWasmKernels, type WasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";

const loaded = await Promise.all([loadWasmKernels(), loadWasmKernels({ shared: false })]);
assert.ok(loaded[0] && loaded[1], "WebAssembly SIMD kernels must load in Node 20");
const [wasm, plain] = loaded as [WasmKernels, WasmKernels];
assert.ok(wasm.wasm.shared && !plain.wasm.shared);

/** How a case's arrays are made: their kind and where they live. */
interface Maker<A extends FloatArray> {
  alloc(n: number): A;
  /** Free what alloc() handed out (arrays in the kernels' memory). */
  done(): void;
}

const copied = <A extends FloatArray>(make: (n: number) => A): Maker<A> => ({ alloc: make, done: () => {} });
const f32 = (): Maker<Float32Array> => copied((n) => new Float32Array(n));
const f64 = (): Maker<Float64Array> => copied((n) => new Float64Array(n));
/** Arrays inside the WebAssembly memory, which the kernels use in place. */
function inMemory(k: WasmKernels): Maker<Float32Array> {
  const held: Float32Array[] = [];
  return {
    alloc: (n) => {
      const a = k.alloc(n);
      held.push(a);
      return a;
    },
    done: () => {
      for (const a of held) k.free(a);
    },
  };
}

type Fill = "normal" | "sigmoid" | "tanh" | "mask";

/**
 * A case's array factory: n values drawn from rng (scaled normals, gate values, or a 0/1 mask with
 * about 70 % ones), float32 values whatever the array's kind, so every kind gets the same inputs.
 */
function arrays<A extends FloatArray>(maker: Maker<A>, rng: Rng) {
  return (n: number, fill: Fill = "normal", scale = 1): A => {
    const a = maker.alloc(n);
    for (let i = 0; i < n; i++) {
      const v = rng.normal(0, scale);
      const w = fill === "sigmoid" ? 1 / (1 + Math.exp(-v)) : fill === "tanh" ? Math.tanh(v) : v;
      a[i] = fill === "mask" ? +(v > -0.5) : Math.fround(w);
    }
    return a;
  };
}

/** A kernel call on arrays made by a maker: runs it with `kernels` and returns copies of the outputs. */
type Case = <A extends FloatArray>(kernels: Kernels, maker: Maker<A>) => Record<string, number[]>;

const OFF = 7; // outputs at an offset, as at step t of a sequence

function gruForward(B: number, H: number, variant: string, seed: number): Case {
  return (kernels, maker) => {
    const arr = arrays(maker, new Rng(seed));
    const n = B * H;
    const out = { h: arr(n + OFF), tape: { z: arr(n + OFF), r: arr(n + OFF), g: arr(n + OFF), hr: arr(n + OFF) } };
    const args: GruCellForwardArgs<ReturnType<typeof arr>> = {
      B,
      H,
      a: arr(3 * n + 2, "normal", 3),
      aOff: 2,
      q: arr(3 * n, "normal", 3),
      qOff: 0,
      hPrev: variant === "no-state" ? null : arr(n + 1),
      hPrevOff: 1,
      keep: variant === "mask" ? arr(n + 3, "mask") : null,
      keepOff: 3,
      keepConst: variant === "eval" ? 1 - 0.23 : 1,
      out,
      outOff: OFF,
    };
    kernels.gruCellForward(args);
    return result({ h: out.h, ...out.tape });
  };
}

function gruBackward(B: number, H: number, variant: string, seed: number): Case {
  return (kernels, maker) => {
    const arr = arrays(maker, new Rng(seed));
    const n = B * H;
    const up = variant === "tiny" ? 2 ** -99 : 1; // some adjoints fall under the flush, some not
    const args: GruCellBackwardArgs<ReturnType<typeof arr>> = {
      B,
      H,
      dOut: variant === "no-upstream" ? null : arr(n + OFF, "normal", up),
      tape: {
        z: arr(n + OFF, "sigmoid"),
        r: arr(n + OFF, "sigmoid"),
        g: arr(n + OFF, "tanh"),
        hr: arr(n + OFF, "normal", 2),
      },
      off: OFF,
      hPrev: variant === "no-state" ? null : arr(n),
      hPrevOff: 0,
      keep: variant === "mask" ? arr(n + 2, "mask") : null,
      keepOff: 2,
      keepConst: variant === "eval" ? 1 - 0.23 : 1,
      dhRec: arr(n, "normal", up),
      dhNext: arr(n), // overwritten
      dp: arr(3 * n + 8), // written at dOff only
      dq: arr(3 * n + 8),
      dOff: 4,
    };
    kernels.gruCellBackward(args);
    return result({ dhNext: args.dhNext, dp: args.dp, dq: args.dq });
  };
}

function lstmForward(B: number, H: number, variant: string, seed: number): Case {
  return (kernels, maker) => {
    const arr = arrays(maker, new Rng(seed));
    const n = B * H;
    const tape = { i: arr(n + OFF), f: arr(n + OFF), g: arr(n + OFF), o: arr(n + OFF), k: arr(n + OFF) };
    const out = { h: arr(n + OFF), c: arr(n + OFF), tape };
    const args: LstmCellForwardArgs<ReturnType<typeof arr>> = {
      B,
      H,
      P: arr(4 * n + 2, "normal", 3),
      pOff: 2,
      cPrev: variant === "no-state" ? null : arr(n + 1, "normal", 2),
      cPrevOff: 1,
      out,
      outOff: OFF,
    };
    kernels.lstmCellForward(args);
    return result({ h: out.h, c: out.c, ...tape });
  };
}

function lstmBackward(B: number, H: number, variant: string, seed: number): Case {
  return (kernels, maker) => {
    const arr = arrays(maker, new Rng(seed));
    const n = B * H;
    const up = variant === "tiny" ? 2 ** -99 : 1;
    const s = (fill: Fill) => arr(n + OFF, fill);
    const args: LstmCellBackwardArgs<ReturnType<typeof arr>> = {
      B,
      H,
      dOut: variant === "no-upstream" ? null : arr(n + OFF, "normal", up),
      tape: { i: s("sigmoid"), f: s("sigmoid"), g: s("tanh"), o: s("sigmoid"), k: s("tanh") },
      off: OFF,
      cPrev: variant === "no-state" ? null : arr(n + 1, "normal", 2),
      cPrevOff: 1,
      dhRec: arr(n, "normal", up),
      dcRec: arr(n, "normal", up), // updated in place
      dP: arr(4 * n + 8), // written at dOff only
      dOff: 4,
    };
    kernels.lstmCellBackward(args);
    return result({ dcRec: args.dcRec, dP: args.dP });
  };
}

function result(arrays: Record<string, FloatArray>): Record<string, number[]> {
  return Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, Array.from(a)]));
}

/** Run a case on the TypeScript kernels and the WebAssembly ones (copied, in place, plain memory): the same bits. */
function assertSameBits(label: string, run: Case): void {
  const expected = run(jsKernels, f32());
  const mem = inMemory(wasm);
  const got = { copied: run(wasm, f32()), "in place": run(wasm, mem), "plain memory": run(plain, f32()) };
  mem.done();
  for (const [how, r] of Object.entries(got)) {
    for (const k of Object.keys(expected)) assert.deepEqual(r[k], expected[k], `${label} (${how}): ${k}`);
  }
}

const SIZES = [
  [1, 1],
  [3, 5],
  [2, 13],
  [1, 17],
  [3, 33],
  [4, 64],
];

for (const [B, H] of SIZES) {
  test(`GRU cell: WebAssembly and TypeScript give the same bits, B=${B} H=${H}`, () => {
    for (const v of ["state", "no-state", "mask", "eval"])
      assertSameBits(`forward ${v}`, gruForward(B, H, v, B * 100 + H));
    for (const v of ["all", "no-upstream", "no-state", "mask", "eval", "tiny"])
      assertSameBits(`backward ${v}`, gruBackward(B, H, v, B * 7 + H));
  });

  test(`LSTM cell: WebAssembly and TypeScript give the same bits, B=${B} H=${H}`, () => {
    for (const v of ["state", "no-state"]) assertSameBits(`forward ${v}`, lstmForward(B, H, v, B * 100 + H));
    for (const v of ["all", "no-upstream", "no-state", "tiny"])
      assertSameBits(`backward ${v}`, lstmBackward(B, H, v, B * 7 + H));
  });
}

test("the cells' tiny-adjoint case does flush some adjoints and keep others", () => {
  const r = gruBackward(3, 33, "tiny", 1)(jsKernels, f32());
  const dp = r.dp.slice(4, 4 + 3 * 99);
  assert.ok(dp.some((v) => v === 0) && dp.some((v) => v !== 0), "GRU dp");
  const l = lstmBackward(3, 33, "tiny", 1)(jsKernels, f32());
  const dP = l.dP.slice(4, 4 + 4 * 99);
  assert.ok(dP.some((v) => v === 0) && dP.some((v) => v !== 0), "LSTM dP");
});

test("Float64Array operands: the WebAssembly kernels compute the cells with the TypeScript ones exactly", () => {
  const cases: [string, Case][] = [
    ["GRU forward", gruForward(3, 17, "mask", 5)],
    ["GRU backward", gruBackward(3, 17, "eval", 6)],
    ["LSTM forward", lstmForward(3, 17, "state", 7)],
    ["LSTM backward", lstmBackward(3, 17, "all", 8)],
  ];
  for (const [label, run] of cases) assert.deepEqual(run(wasm, f64()), run(jsKernels, f64()), label);
});

test("the float32 cell forwards stay within float32 rounding of the float64 ones", () => {
  for (const [label, run] of [
    ["GRU", gruForward(3, 41, "state", 9)],
    ["GRU eval", gruForward(3, 41, "eval", 10)],
    ["LSTM", lstmForward(3, 41, "state", 11)],
  ] as [string, Case][]) {
    const r32 = run(jsKernels, f32()); // the same inputs in float32 and in float64 arrays
    const r64 = run(jsKernels, f64());
    for (const k of Object.keys(r64)) {
      const worst = Math.max(...r32[k].map((v, i) => Math.abs(v - r64[k][i]) / Math.max(1, Math.abs(r64[k][i]))));
      assert.ok(worst < 1e-6, `${label} ${k}: largest difference ${worst}`);
    }
    // the float64 arithmetic rounded once at the end gives other bits: the float32 path ran
    assert.notDeepEqual(r32.h, r64.h.map(Math.fround), `${label}: h`);
  }
});
