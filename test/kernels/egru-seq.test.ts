// The EGRU's time loop in one kernel call (kernels/egru-seq.ts, assembly/egru-seq.ts) against the
// step loop of kernel calls it replaces (kernels/egru.ts; the same kernels with the whole-loop
// methods hidden): bit for bit, forward and backward, on one thread (one block of every row) and on
// two and three threads (a block of rows per thread, the threshold gradient's terms reduced after),
// at odd sizes, with zoneout's training mask and its evaluation mix, every upstream gradient and a
// trace. The problems are built so that within one sequence some steps take the event product and
// some the dense one, some backward steps the masked product and some the dense one, and in some a
// block's own rows would choose otherwise than the whole batch's step (which the loop must follow);
// the test checks that they do. Also: where it does not apply (float64, another event function, a
// first state h0) the call says so (−1) and the layer's results are unchanged.

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { StateError } from "../../packages/egru/src/core/errors.js";
import { type EventFunction, heavisideEvent, smoothEvent } from "../../packages/egru/src/kernels/activations.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import {
  EGRU_OUTPUTS,
  egruBackward,
  egruForward,
  receiveMask,
  type EgruForwardOut,
  type EgruGrads,
  type Zoneout,
} from "../../packages/egru/src/kernels/egru.js";
import { createThreadedKernels, seqBlocks } from "../../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { loggedKernels, stepLoopKernels } from "../helpers.js";

const base = await loadWasmKernels();
assert.ok(base, "WebAssembly SIMD kernels must load in Node 20");
const threaded = [2, 3].map((t) => createThreadedKernels(base, t));
after(() => Promise.all(threaded.map((k) => k.close())));

interface Case {
  T: number;
  B: number;
  I: number;
  H: number;
  /** The surrogate's support s (its window is |c − ϑ| < 1/s): small s, dense masks. */
  support: number;
  zoneout: "none" | "train" | "eval";
  /** Upstream gradients into every output (else dy only), and a trace decay. */
  all: boolean;
}

/**
 * A problem with dense events in the first rows' first step (y0), and where the two halves of the
 * batch differ in their masks (see x) in the first half of the sequence and not in the second.
 */
function problem(c: Case, seed: number) {
  const { T, B, I, H } = c;
  const G = 3 * H;
  const rng = new Rng(seed);
  const arr = (n: number, f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  // rows of the first half: strong inputs (c saturates, few units near ϑ: sparse masks); the others
  // weak ones in the first half of the sequence (c stays near ϑ: dense masks), then strong
  const x = arr(T * B * I, (i) => {
    const t = Math.floor(i / (B * I));
    const b = Math.floor(i / I) % B;
    return rng.normal() * (b < B / 2 || t >= T / 2 ? 6 : 0.05);
  });
  const params = {
    W: arr(I * G, () => rng.normal() * (1.5 / Math.sqrt(I))),
    R: arr(H * G, () => rng.normal() * (0.8 / Math.sqrt(H))),
    bx: arr(G, () => rng.normal() * 0.1),
    br: arr(G, () => rng.normal() * 0.1),
    thr: arr(H, () => 0.15 + 0.3 * rng.uniform()),
  };
  const y0 = arr(B * H, (i) => (Math.floor(i / H) < B / 2 ? 0.5 + rng.uniform() : rng.uniform() < 0.1 ? 0.7 : 0));
  const zoneout: Zoneout<Float32Array> =
    c.zoneout === "train"
      ? { kind: "train", mask: arr(T * B * H, () => (rng.uniform() < 0.8 ? 1 : 0)) }
      : c.zoneout === "eval"
        ? { kind: "eval", p: 0.15 }
        : { kind: "none" };
  const up = (on: boolean) => (on ? arr(T * B * H, () => rng.normal()) : null);
  const upstream = { dy: up(true), dh: up(c.all), do: up(c.all), dtr: up(c.all) };
  return { dims: { T, B, I, H }, params, x, y0, zoneout, alpha: c.all ? 0.6 : 0, upstream };
}

/**
 * A forward and backward of the problem on `kernels`, the forward's outputs and tape in the kernels'
 * memory where they have one (as a training layer's are: the whole-loop calls need them there);
 * `use` reads the results before those arrays are freed.
 */
function run<R>(kernels: Kernels, c: Case, seed: number, use: (r: Run) => R): R {
  const p = problem(c, seed);
  const event = heavisideEvent(0.3, c.support);
  const n = c.T * c.B * c.H;
  const outputs = kernels.alloc ? Array.from({ length: EGRU_OUTPUTS }, () => kernels.alloc?.(n) as Float32Array) : null;
  try {
    const args = { ...p, event, kernels, outputs };
    const fwd = egruForward(args);
    const grads = egruBackward({ ...args, fwd, upstream: p.upstream });
    return use({ fwd, grads, event, p });
  } finally {
    for (const a of outputs ?? []) kernels.free?.(a);
  }
}

interface Run {
  fwd: EgruForwardOut<Float32Array>;
  grads: EgruGrads<Float32Array>;
  event: EventFunction;
  p: ReturnType<typeof problem>;
}

/** Every array of a forward and backward (copies), and the MAC counts, named. */
function results({ fwd, grads: g }: Run): Record<string, unknown> {
  const { tape } = fwd;
  const arrays = { y: fwd.y, h: fwd.h, o: fwd.o, tr: fwd.tr, ...tape, dx: g.dx, dy0: g.dy0, dW: g.dW, dR: g.dR };
  const copies = Object.fromEntries(Object.entries(arrays).map(([k, a]) => [k, Float32Array.from(a)]));
  return { ...copies, dbx: g.dbx, dbr: g.dbr, dthr: g.dthr, forwardMacs: fwd.macs, backwardMacs: g.macs };
}

/**
 * Which branches the sequence's steps take, with `crossover`, for blocks of rows `blocks`: the
 * forward's event and dense products (each block by its own rows' events), the backward's masked
 * and dense products (by the whole batch's mask), and whether some block's own mask would choose
 * otherwise than the whole batch's.
 */
function branches(r: Run, crossover: number, blocks: [number, number][]) {
  const { T, B, H } = r.p.dims;
  const { y, o, tape } = r.fwd;
  const seen = { event: false, dense: false, masked: false, denseBack: false, blockDiffers: false };
  for (let t = 0; t < T; t++) {
    for (const [r0, n] of blocks) {
      let nz = 0;
      const prev = t === 0 ? r.p.y0 : y.subarray((t - 1) * B * H);
      for (let i = r0 * H; i < (r0 + n) * H; i++) if (prev[i] !== 0) nz++;
      if (nz <= crossover * n * H) seen.event = true;
      else seen.dense = true;
    }
    if (t === 0) continue;
    const mask = new Float32Array(B * H);
    receiveMask({ o, tape }, r.p.params.thr, r.event, H, (t - 1) * B * H, B * H, mask, 0);
    const ones = mask.reduce((a, v) => a + v, 0);
    const whole = ones <= crossover * B * H;
    if (whole) seen.masked = true;
    else seen.denseBack = true;
    for (const [r0, n] of blocks) {
      const own = mask.subarray(r0 * H, (r0 + n) * H).reduce((a, v) => a + v, 0);
      if (own <= crossover * n * H !== whole) seen.blockDiffers = true;
    }
  }
  return seen;
}

const CASES: Case[] = [
  { T: 9, B: 16, I: 11, H: 13, support: 2, zoneout: "none", all: false },
  { T: 7, B: 37, I: 9, H: 45, support: 2, zoneout: "train", all: true },
  { T: 5, B: 24, I: 6, H: 32, support: 6, zoneout: "eval", all: true },
  { T: 1, B: 19, I: 5, H: 7, support: 3, zoneout: "none", all: true },
  { T: 6, B: 5, I: 4, H: 9, support: 3, zoneout: "train", all: false },
];

describe("the EGRU's time loop in one call equals the step loop bit for bit", () => {
  for (const c of CASES) {
    const label = `T ${c.T}, B ${c.B}, I ${c.I}, H ${c.H}, support ${c.support}, zoneout ${c.zoneout}${c.all ? ", every upstream, a trace" : ""}`;
    test(label, () => {
      const steps = run(stepLoopKernels(base), c, 7, results);
      for (const k of [base, ...threaded]) assert.deepEqual(run(k, c, 7, results), steps, `${k.name}`);
    });
  }

  test("the problems take every branch, and a block's own mask would choose otherwise in some step", () => {
    const all = { event: true, dense: true, masked: true, denseBack: true, blockDiffers: true };
    const seen = run(base, CASES[0], 7, (r) => branches(r, base.eventCrossover, seqBlocks(CASES[0].B, 2)));
    assert.deepEqual(seen, all);
    const seen3 = run(base, CASES[1], 7, (r) => branches(r, base.eventCrossover, seqBlocks(CASES[1].B, 3)));
    assert.deepEqual(seen3, all);
  });

  test("the whole-loop calls are the ones that ran", () => {
    for (const k of [base, ...threaded]) {
      const seq = ["egruSeqForward", "egruSeqBackward"];
      const { kernels: spy, log } = loggedKernels(k, [...seq, "egruCellForward", "egruCellBackward"], seq);
      run(spy, CASES[0], 7, () => 0);
      // the two whole-loop calls ran (each returned its MACs, not −1) and no step's cell call
      assert.deepEqual(
        log.map((l) => l.split(" ")[0]),
        seq,
        k.name,
      );
      assert.ok(
        log.every((l) => Number(l.split(" ")[1]) >= 0),
        `${k.name}: ${log.join(", ")}`,
      );
    }
  });
});

test("kernels derived with another event crossover (the dense path's 0): the whole-loop calls follow it on every thread count", () => {
  // the threaded kernels' loops once read the base's crossover, so a derived dense path ran event and
  // masked products (the same bits: only the MACs executed tell)
  const c = CASES[1];
  const dense = (k: Kernels) => Object.assign(Object.create(k) as Kernels, { eventCrossover: 0 });
  const arrays = (r: Record<string, unknown>) => ({ ...r, forwardMacs: null, backwardMacs: null });
  type Macs = { executed: number; dense: number };
  const want = run(stepLoopKernels(dense(base)), c, 7, results);
  const events = run(base, c, 7, results);
  const f0 = events.forwardMacs as Macs;
  const b0 = events.backwardMacs as Macs;
  assert.ok(f0.executed < 0.5 * f0.dense && b0.executed < 0.7 * b0.dense, "the event path skips much of the work here");
  for (const k of [base, ...threaded]) {
    const got = run(dense(k), c, 7, results);
    assert.deepEqual(arrays(got), arrays(want), `${k.name}, crossover 0`);
    // every backward step dense; forward, all of it but a block's steps without any event (no work either way)
    assert.deepEqual(got.backwardMacs, want.backwardMacs, `${k.name}: backward`);
    const f = got.forwardMacs as Macs;
    assert.ok(f.executed >= 0.9 * f.dense, `${k.name}: forward ${f.executed} of ${f.dense} MACs`);
  }
});

test("where the memory has no room to copy the upstream gradient in, the step loop runs, with the same bits", async () => {
  const c = CASES[0];
  const n = c.T * c.B * c.H;
  const own = await loadWasmKernels();
  assert.ok(own);
  const many = createThreadedKernels(own, 2);
  try {
    const steps = run(stepLoopKernels(own), c, 7, results);
    // the kernels' memory refuses copies of n floats (the upstream gradient dy [T, B, H], copied in
    // uninitialised), as a full one would; every other array still fits
    const alloc = own.alloc.bind(own);
    own.alloc = (len: number, zeroed = true): Float32Array => {
      if (len === n && !zeroed) throw new StateError("WebAssembly memory", `room for ${4 * len} more bytes`, "full");
      return alloc(len, zeroed);
    };
    for (const k of [own, many]) {
      const seq = ["egruSeqForward", "egruSeqBackward"];
      const { kernels, log } = loggedKernels(k, [...seq, "egruCellBackward"], seq);
      assert.deepEqual(run(kernels, c, 7, results), steps, k.name);
      assert.ok(log[0].startsWith("egruSeqForward ") && Number(log[0].split(" ")[1]) >= 0, `${k.name}: ${log[0]}`);
      assert.equal(log[1], "egruSeqBackward -1", k.name);
      assert.equal(log.length, 2 + c.T, `${k.name}: then a cell call a step`);
    }
  } finally {
    await many.close();
  }
});

test("blocks of the time loop: at least 8 rows each, every row once", () => {
  assert.deepEqual(seqBlocks(16, 2), [
    [0, 8],
    [8, 8],
  ]);
  assert.deepEqual(seqBlocks(15, 2), [[0, 15]]);
  assert.deepEqual(seqBlocks(37, 3), [
    [0, 13],
    [13, 13],
    [26, 11],
  ]);
  assert.deepEqual(seqBlocks(17, 3), [
    [0, 8],
    [8, 9],
  ]);
  for (const [B, t] of [
    [100, 3],
    [23, 2],
    [8, 4],
    [1, 2],
  ]) {
    const b = seqBlocks(B, t);
    assert.equal(
      b.reduce((s, [, n]) => s + n, 0),
      B,
    );
    assert.ok(b.length === 1 || b.every(([, n]) => n >= 8));
  }
});

test("where the call does not apply it says so, and the step loop gives the results", () => {
  const c = CASES[0];
  const p = problem(c, 3);
  const { T, B, H } = p.dims;
  const n = T * B * H;
  for (const k of [base, ...threaded]) {
    const held: Float32Array[] = [];
    const mem = (len: number): Float32Array => {
      const v = base.alloc(len);
      held.push(v);
      return v;
    };
    try {
      const out = (make: (len: number) => Float32Array) => ({
        y: make(n),
        h: make(n),
        o: make(n),
        tr: make(n),
        tape: { c: make(n), z: make(n), r: make(n), g: make(n), hr: make(n) },
      });
      const s = { T, B, H, a: mem(3 * n), R: p.params.R, br: p.params.br, y0: p.y0, thr: p.params.thr };
      const rest = { keep: null, keepConst: 1, alpha: 0, event: heavisideEvent() };
      // it applies with these arrays (the forward's outputs and tape in the memory) …
      assert.ok((k.egruSeqForward?.({ ...s, ...rest, out: out(mem) }) ?? -1) >= 0, `${k.name}: applies`);
      // … and not with another event function, float64 operands, or outputs outside the memory
      assert.equal(k.egruSeqForward?.({ ...s, ...rest, event: smoothEvent(), out: out(mem) }), -1, `${k.name}: smooth`);
      const f64 = { ...s, thr: Float64Array.from(s.thr) } as never;
      assert.equal(
        k.egruSeqForward?.({ ...(f64 as object), ...rest, out: out(mem) } as never),
        -1,
        `${k.name}: float64`,
      );
      const ordinary = (len: number) => new Float32Array(len);
      assert.equal(k.egruSeqForward?.({ ...s, ...rest, out: out(ordinary) }), -1, `${k.name}: outputs outside`);
    } finally {
      for (const v of held) base.free(v);
    }
  }
  // a first state h0 (the streaming step's) keeps the step loop: same results with or without the call
  const h0 = Float32Array.from({ length: B * H }, (_, i) => (i % 3) * 0.1);
  const event = heavisideEvent(0.3, c.support);
  const withH0 = (k: Kernels) => {
    const outputs = Array.from({ length: EGRU_OUTPUTS }, () => base.alloc(n));
    try {
      return Float32Array.from(egruForward({ ...p, h0, event, kernels: k, outputs }).h);
    } finally {
      for (const v of outputs) base.free(v);
    }
  };
  const h = withH0(stepLoopKernels(base));
  for (const k of [base, ...threaded]) assert.deepEqual(withH0(k), h, `${k.name}: h0`);
});
