// The GRU's time loop in one kernel call (kernels/gru-seq.ts, assembly/gru-seq.ts) against the step
// loop of kernel calls it replaces (kernels/gru.ts; the same kernels with the whole-loop methods
// hidden): bit for bit, forward and backward, on one thread and on two and three threads (a block of
// rows per thread), at odd sizes, an odd and an even number of steps, a first state h0 and a last
// state's gradient, zoneout's training mask and its evaluation mix; and the calls are the ones that ran.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import type { Zoneout } from "../../packages/egru/src/kernels/gated-cell.js";
import { GRU_OUTPUTS, gruBackward, gruForward } from "../../packages/egru/src/kernels/gru.js";
import { createThreadedKernels } from "../../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { loggedKernels, stepLoopKernels } from "../helpers.js";

const loaded = await loadWasmKernels();
assert.ok(loaded, "WebAssembly SIMD kernels must load in Node 20");
const base = loaded;
const threaded = [2, 3].map((t) => createThreadedKernels(base, t));
after(() => Promise.all(threaded.map((k) => k.close())));

interface Case {
  T: number;
  B: number;
  I: number;
  H: number;
  zoneout: "none" | "train" | "eval";
}

/** A forward and backward on `kernels`, the forward's outputs in their memory (as a training layer's); copies of every result. */
function run(kernels: Kernels, c: Case, seed: number): Record<string, Float32Array> {
  const { T, B, I, H } = c;
  const G = 3 * H;
  const rng = new Rng(seed);
  const arr = (n: number, s = 1) => Float32Array.from({ length: n }, () => rng.normal() * s);
  const params = { W: arr(I * G, 0.4), R: arr(H * G, 0.3), bx: arr(G, 0.1), br: arr(G, 0.1) };
  const x = arr(T * B * I);
  const h0 = arr(B * H, 0.5);
  const zoneout: Zoneout<Float32Array> =
    c.zoneout === "train"
      ? { kind: "train", mask: Float32Array.from({ length: T * B * H }, () => (rng.uniform() < 0.7 ? 1 : 0)) }
      : c.zoneout === "eval"
        ? { kind: "eval", p: 0.2 }
        : { kind: "none" };
  const dOut = arr(T * B * H);
  const dhT = arr(B * H);
  const n = T * B * H;
  const outputs = Array.from({ length: GRU_OUTPUTS }, () => base.alloc(n));
  try {
    const args = { dims: { T, B, I, H }, params, x, h0, zoneout, kernels, outputs };
    const fwd = gruForward(args);
    const g = gruBackward({ ...args, fwd, dOut, dhT });
    const copies = { h: fwd.h, ...fwd.tape, dx: g.dx, dh0: g.dh0, dW: g.dW, dR: g.dR, dbx: g.dbx, dbr: g.dbr };
    return Object.fromEntries(Object.entries(copies).map(([k, a]) => [k, Float32Array.from(a)]));
  } finally {
    for (const v of outputs) base.free(v);
  }
}

const CASES: Case[] = [
  { T: 7, B: 16, I: 11, H: 13, zoneout: "none" },
  { T: 6, B: 37, I: 9, H: 45, zoneout: "train" },
  { T: 5, B: 24, I: 6, H: 32, zoneout: "eval" },
  { T: 1, B: 19, I: 5, H: 7, zoneout: "none" },
  { T: 4, B: 5, I: 4, H: 9, zoneout: "train" },
];

describe("the GRU's time loop in one call equals the step loop bit for bit", () => {
  for (const c of CASES) {
    test(`T ${c.T}, B ${c.B}, I ${c.I}, H ${c.H}, zoneout ${c.zoneout}`, () => {
      const steps = run(stepLoopKernels(base), c, 5);
      for (const k of [base, ...threaded]) assert.deepEqual(run(k, c, 5), steps, k.name);
    });
  }

  test("the whole-loop calls are the ones that ran", () => {
    for (const k of [base, ...threaded]) {
      const seq = ["gruSeqForward", "gruSeqBackward"];
      const { kernels: spy, log: calls } = loggedKernels(k, [...seq, "gruCellForward", "gruCellBackward"], seq);
      run(spy, CASES[0], 5);
      assert.deepEqual(calls, ["gruSeqForward true", "gruSeqBackward true"], k.name);
    }
  });
});
