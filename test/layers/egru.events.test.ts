// The event-driven paths of the EGRU kernels: they must give the same numbers as the dense
// products (the skipped terms are exact zeros) and count the work they actually do.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { randomArray } from "../helpers.js";

/** The portable kernels, but never taking the event product in the forward pass. */
const denseKernels: Kernels = { ...jsKernels, name: "js-dense", eventCrossover: 0 };

const T = 6;
const B = 4;
const I = 5;
const H = 13;
const G = 3 * H;

function run(kernels: Kernels, inputEvents = false, x?: Float64Array) {
  const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: 3, weightGain: 2, kernels, inputEvents });
  const input = x ?? randomArray(new Rng(4), T * B * I, 2);
  const r = layer.forward({ x: input, T, B, y0: randomArray(new Rng(5), B * H, 0.3) });
  const d = layer.backward(r, { dy: randomArray(new Rng(6), T * B * H), dtrace: randomArray(new Rng(7), T * B * H) });
  return { layer, r, d };
}

const bits = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");

describe("event products give the dense products' numbers", () => {
  test("forward and backward are bit-identical with the event and the dense recurrent product", () => {
    const ev = run(jsKernels);
    const de = run(denseKernels);
    assert.ok(
      ev.r.stats.activitySparsity > 0.3 && ev.r.stats.activitySparsity < 1,
      `sparsity ${ev.r.stats.activitySparsity}`,
    );
    for (const k of ["y", "h", "o", "trace"] as const) assert.equal(bits(ev.r[k]), bits(de.r[k]), k);
    assert.equal(bits(ev.d.dx), bits(de.d.dx), "dx");
    assert.equal(bits(ev.d.dy0), bits(de.d.dy0), "dy0");
    for (const k of Object.keys(ev.layer.grads)) assert.equal(bits(ev.layer.grads[k]), bits(de.layer.grads[k]), k);
  });

  test("an input of events (a stacked layer) gives the same numbers with inputEvents on", () => {
    const below = run(jsKernels);
    // use the events of a layer as the input of the next one (I = H of the layer below)
    const x = Float64Array.from(below.r.y.subarray(0, T * B * I));
    for (let i = 0; i < x.length; i++) if (i % 3 === 0) x[i] = 0; // make sure there are zeros
    const plain = run(jsKernels, false, x);
    const events = run(jsKernels, true, x);
    assert.equal(bits(plain.r.y), bits(events.r.y), "y");
    assert.equal(bits(plain.d.dx), bits(events.d.dx), "dx");
    for (const k of Object.keys(plain.layer.grads))
      assert.equal(bits(plain.layer.grads[k]), bits(events.layer.grads[k]), k);
    assert.ok(events.r.stats.executedMacs < plain.r.stats.executedMacs, "fewer input MACs");
    assert.ok(events.d.macs.executed < plain.d.macs.executed, "fewer backward MACs");
  });
});

describe("work counters", () => {
  test("forward: executed MACs are the input product plus one row of R per event", () => {
    const { r } = run(jsKernels);
    assert.equal(r.stats.executedMacs, r.stats.eventMacs);
    assert.ok(r.stats.executedMacs < r.stats.denseMacs);
    const dense = run(denseKernels).r;
    assert.equal(dense.stats.executedMacs, dense.stats.denseMacs);
  });

  test("backward: dR over active rows, the recurrent adjoint over units that can receive gradient", () => {
    const { layer, r, d } = run(jsKernels);
    const theta = layer.thresholds();
    const y0 = randomArray(new Rng(5), B * H, 0.3);
    let activeRows = 0;
    for (let i = 0; i < B * H; i++) if (Math.fround(y0[i]) !== 0) activeRows++;
    for (let i = 0; i < (T - 1) * B * H; i++) if (r.y[i] !== 0) activeRows++;
    let receivers = 0;
    for (let i = 0; i < (T - 1) * B * H; i++) {
      const c = r.h[i] + r.o[i] * theta[i % H];
      if (r.o[i] !== 0 || layer.event.df(c - theta[i % H]) !== 0) receivers++;
    }
    const expected = 2 * T * B * I * G + activeRows * G + (B * H + receivers) * G;
    assert.equal(d.macs.executed, expected);
    assert.equal(d.macs.dense, T * B * G * (2 * I + 2 * H));
    assert.ok(d.macs.executed < d.macs.dense);
  });
});

describe("stacked layers", () => {
  test("dx only where the layer below can receive gradient: the lower layer's gradients are unchanged", () => {
    // the TypeScript kernels always take the masked product (the WebAssembly ones go dense above their crossover)
    const kernels = jsKernels;
    const lower = () => new EGRU({ inputSize: I, hiddenSize: H, seed: 8, weightGain: 2, kernels });
    const upper = () => new EGRU({ inputSize: H, hiddenSize: 7, seed: 9, weightGain: 2, inputEvents: true, kernels });
    const x = randomArray(new Rng(10), T * B * I, 2);
    const G2 = randomArray(new Rng(11), T * B * 7);
    const runStack = (masked: boolean) => {
      const l1 = lower();
      const l2 = upper();
      const r1 = l1.forward({ x, T, B });
      const r2 = l2.forward({ x: r1.y, T, B });
      const d2 = l2.backward(r2, { dy: G2 }, masked ? { dxMask: l1.receiveMask(r1) } : {});
      const d1 = l1.backward(r1, { dy: d2.dx });
      return { l1, l2, d1, d2, mask: l1.receiveMask(r1) };
    };
    const full = runStack(false);
    const masked = runStack(true);
    const zeros = full.mask.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
    assert.ok(zeros > 0, "some units of the lower layer cannot receive gradient");
    for (let i = 0; i < full.mask.length; i++) {
      if (full.mask[i] === 1) assert.equal(masked.d2.dx[i], full.d2.dx[i]);
      else assert.equal(masked.d2.dx[i], 0);
    }
    assert.equal(bits(masked.d1.dx), bits(full.d1.dx), "dx of the lower layer");
    for (const k of Object.keys(full.l1.grads)) assert.equal(bits(masked.l1.grads[k]), bits(full.l1.grads[k]), k);
    assert.equal(full.d2.macs.executed - masked.d2.macs.executed, zeros * 3 * 7, "skipped MACs");
  });
});
