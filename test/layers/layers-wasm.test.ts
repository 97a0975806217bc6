// The layers on the WebAssembly SIMD kernels: the same PyTorch fixtures and float64-reference
// comparisons as on the TypeScript kernels, and agreement between the two kernel sets.
// (Each test file runs in its own process, so making the wasm kernels the default here does not
// affect the other files, which use the TypeScript kernels.)

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels } from "../../packages/egru/src/kernels/backend.js";
import { setKernels } from "../../packages/egru/src/wasm/select.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import { egruRefBackward, egruRefForward } from "../../packages/egru/src/reference/egru-ref.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { layerForProblem, layerFromFixture, randomProblem, randomUpstream, type EgruFixture } from "../egru-cases.js";
import { assertClose, fixtureNames, loadFixture, randomArray } from "../helpers.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20 (built by npm ci)");
setKernels(wasm);

// float32 against float64 fixtures: outputs O(1) through ≤ 9 steps; gradients sums of O(T·B)
// float32 products (see test/layers/egru.fixtures.test.ts); the SIMD kernels sum in another order than
// the TypeScript ones, which changes only the float32 rounding
const OUT = { atol: 1e-5, rtol: 1e-4 };
const GRAD = { atol: 1e-4, rtol: 1e-3 };

describe("EGRU on wasm kernels against the PyTorch fixtures", () => {
  for (const name of fixtureNames("egru-")) {
    test(name, () => {
      const f = loadFixture(name) as EgruFixture;
      const layer = layerFromFixture(f);
      const masks =
        f.config.mode === "train"
          ? {
              ...(f.masks.dropConnect ? { dropConnect: f.masks.dropConnect } : {}),
              ...(f.masks.zoneout ? { zoneout: f.masks.zoneout } : {}),
            }
          : undefined;
      const r = layer.forward({ x: f.inputs.x, T: f.dims.T, B: f.dims.B, y0: f.inputs.y0, masks });
      assert.equal(layer.kernels.name, "wasm-simd");
      assertClose(r.y, f.outputs.y, { ...OUT, name: "y" });
      assert.deepEqual(Array.from(r.o), f.outputs.o, "o");
      assertClose(r.trace, f.outputs.trace, { ...OUT, name: "trace" });
      const d = layer.backward(r, { dy: f.upstream.y, dh: f.upstream.h, do: f.upstream.o, dtrace: f.upstream.trace });
      assertClose(d.dx, f.grads.x, { ...GRAD, name: "dx" });
      assertClose(d.dy0, f.grads.y0, { ...GRAD, name: "dy0" });
      for (const k of ["kernel", "recurrent_kernel", "bias", "recurrent_bias", "thr"] as const) {
        assertClose(layer.grads[k], f.grads[k], { ...GRAD, name: `d${k}` });
      }
    });
  }
});

describe("GRU and LSTM on wasm kernels against nn.GRU / nn.LSTM", () => {
  for (const name of [...fixtureNames("gru-"), ...fixtureNames("lstm-")]) {
    test(name, () => {
      const f = loadFixture(name);
      const { T, B, I, H } = f.dims;
      const isGru = f.cell === "gru";
      const layer = isGru ? new GRU({ inputSize: I, hiddenSize: H }) : new LSTM({ inputSize: I, hiddenSize: H });
      layer.setTorchWeights(f.weights);
      const r = layer.forward({ x: f.inputs.x, T, B, h0: f.inputs.h0, c0: f.inputs.c0 });
      assertClose(r.output, f.outputs.output, { ...OUT, name: "output" });
      const up = { dOutput: f.upstream.output, dhT: f.upstream.h_n, dcT: f.upstream.c_n };
      const d = isGru
        ? (layer as GRU).backward(r as ReturnType<GRU["forward"]>, up)
        : (layer as LSTM).backward(r as ReturnType<LSTM["forward"]>, up);
      assertClose(d.dx, f.grads.x, { ...GRAD, name: "dx" });
      assertClose(d.dh0, f.grads.h0, { ...GRAD, name: "dh0" });
      const tg = layer.torchGrads();
      for (const k of ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]) {
        assertClose(tg[k as keyof typeof tg], f.grads[k], { ...GRAD, name: `d${k}` });
      }
    });
  }
});

describe("EGRU on wasm kernels equals the float64 reference at odd sizes", () => {
  const combos: [number, number, number, number][] = [
    [1, 1, 1, 1],
    [3, 7, 17, 33],
    [7, 17, 33, 1],
    [17, 33, 1, 3],
    [33, 1, 3, 7],
  ];
  for (const [T, B, I, H] of combos) {
    test(`T=${T} B=${B} I=${I} H=${H}`, () => {
      const p = randomProblem({ T, B, I, H, seed: 2000 + T + 7 * B + 13 * I + 17 * H, weightScale: 1.2 });
      const f32 = (a: ArrayLike<number>) => Float64Array.from(Float32Array.from(a));
      const q = {
        ...p,
        x: f32(p.x),
        y0: f32(p.y0),
        W: f32(p.W),
        R: f32(p.R),
        bx: f32(p.bx),
        br: f32(p.br),
        thr: f32(p.thr),
      };
      const ref = egruRefForward(q);
      const G = randomUpstream(new Rng(T * B + I), T * B * H);
      const refG = egruRefBackward(q, ref, G);
      const layer = layerForProblem(q);
      layer.eval();
      const r = layer.forward({ x: q.x, T, B, y0: q.y0 });
      assert.deepEqual(Array.from(r.o), Array.from(ref.o), "events");
      assertClose(r.y, ref.y, { ...OUT, name: "y" });
      const d = layer.backward(r, { dy: G.y, dh: G.h, do: G.o, dtrace: G.tr });
      const go = { atol: 2e-4, rtol: 1e-3 };
      assertClose(d.dx, refG.x, { ...go, name: "dx" });
      assertClose(layer.grads.recurrent_kernel, refG.R, { ...go, name: "drecurrent_kernel" });
      assertClose(layer.grads.kernel, refG.W, { ...go, name: "dkernel" });
      assertClose(layer.grads.thr, refG.thr, { ...go, name: "dthr" });
    });
  }
});

test("wasm and TypeScript kernels agree on a larger EGRU layer (events and MAC counts identical)", () => {
  const T = 9,
    B = 5,
    I = 40,
    H = 97;
  const x = randomArray(new Rng(3), T * B * I, 1.5);
  const G = randomArray(new Rng(4), T * B * H);
  const run = (kernels: typeof jsKernels) => {
    const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: 5, weightGain: 1.5, kernels });
    const r = layer.forward({ x, T, B });
    const d = layer.backward(r, { dy: G });
    return { layer, r, d };
  };
  const a = run(wasm);
  const b = run(jsKernels);
  assert.deepEqual(Array.from(a.r.o), Array.from(b.r.o), "the same events");
  assertClose(a.r.y, b.r.y, { atol: 1e-5, rtol: 1e-4, name: "y" });
  assertClose(a.d.dx, b.d.dx, { atol: 1e-4, rtol: 1e-3, name: "dx" });
  assertClose(a.layer.grads.recurrent_kernel, b.layer.grads.recurrent_kernel, { atol: 1e-4, rtol: 1e-3, name: "dR" });
  assert.equal(a.r.stats.eventMacs, b.r.stats.eventMacs);
  assert.equal(a.d.macs.dense, b.d.macs.dense);
});

test("the recurrent matrix kept in wasm memory: a backward after another forward still uses its own matrix", () => {
  const T = 4,
    B = 3,
    I = 5,
    H = 9;
  const x = randomArray(new Rng(6), T * B * I, 1.5);
  const G = randomArray(new Rng(7), T * B * H);
  const m1 = Float32Array.from({ length: H * 3 * H }, (_, i) => (i % 3 === 0 ? 0 : 1));
  const m2 = Float32Array.from({ length: H * 3 * H }, (_, i) => (i % 2 === 0 ? 0 : 1));
  const make = () => new EGRU({ inputSize: I, hiddenSize: H, seed: 8, weightGain: 1.5, dropConnect: 0.3 });
  const alone = make();
  alone.backward(alone.forward({ x, T, B, masks: { dropConnect: m1 } }), { dy: G });
  const interleaved = make();
  const r1 = interleaved.forward({ x, T, B, masks: { dropConnect: m1 } });
  interleaved.forward({ x, T, B, masks: { dropConnect: m2 } });
  interleaved.backward(r1, { dy: G });
  for (const k of Object.keys(alone.grads)) assert.deepEqual(interleaved.grads[k], alone.grads[k], k);
  const gru = () => new GRU({ inputSize: I, hiddenSize: H, seed: 9, dropConnect: 0.3 });
  const a = gru();
  a.backward(a.forward({ x, T, B, masks: { dropConnect: m1 } }), { dOutput: G });
  const b = gru();
  const s1 = b.forward({ x, T, B, masks: { dropConnect: m1 } });
  b.forward({ x, T, B, masks: { dropConnect: m2 } });
  b.backward(s1, { dOutput: G });
  for (const k of Object.keys(a.grads)) assert.deepEqual(b.grads[k], a.grads[k], `GRU ${k}`);
});

test("the EGRU stepper on wasm kernels (state kept in wasm memory) equals step() bit for bit", () => {
  const B = 2,
    I = 9,
    H = 23;
  for (const opts of [{ zoneout: 0.2 }, { inputEvents: true }]) {
    const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: 8, weightGain: 2, ...opts }).eval();
    const s = layer.stepper(B);
    let state = null;
    const rng = new Rng(9);
    for (let t = 0; t < 6; t++) {
      const x = Float32Array.from(randomArray(rng, B * I, 2)).map((v) => (opts.inputEvents && v < 0.5 ? 0 : v));
      const r = layer.step(x, B, state);
      state = r.state;
      assert.deepEqual(s.step(x), r.y, `step ${t}`);
    }
    assert.deepEqual(s.state.h, state!.h);
    assert.deepEqual(s.state.tr, state!.tr);
    s.dispose();
  }
});
