// The LSTM baseline: the float64 reference and the float32 layer against PyTorch's nn.LSTM
// fixtures, central finite differences on the reference, layer = reference at odd sizes (with
// DropConnect), the PyTorch gate order, layer properties, and typed errors. The float32 layer's
// cases run on every kernel set (test/kernel-sets.ts).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { swapAxes01 } from "../../packages/egru/src/core/buffer.js";
import { NonFiniteError, ShapeError, StateError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { lstmBackward, lstmForward } from "../../packages/egru/src/kernels/lstm.js";
import { LSTM, type LstmState, type LstmTorchName } from "../../packages/egru/src/layers/lstm.js";
import { lstmRefBackward, lstmRefForward, type LstmRefProblem } from "../../packages/egru/src/reference/lstm-ref.js";
import { assertClose, centralDiff, dot, loadFixture, randomArray, randomMask } from "../helpers.js";
import { describeOnKernelSets } from "../kernel-sets.js";

const TORCH_NAMES: LstmTorchName[] = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"];

/** Parsed nn.LSTM fixture (tools/gen_fixtures.py, baseline_case). */
interface LstmFixture {
  dims: { T: number; B: number; I: number; H: number };
  inputs: { x: number[]; h0: number[]; c0: number[] };
  weights: Record<LstmTorchName, number[]>;
  upstream: { output: number[]; h_n: number[]; c_n: number[] };
  outputs: { output: number[]; h_n: number[]; c_n: number[] };
  grads: Record<LstmTorchName | "x" | "h0" | "c0", number[]>;
}

/** Reference gradient field for each PyTorch parameter name. */
const REF_FIELD = {
  weight_ih_l0: "weight_ih",
  weight_hh_l0: "weight_hh",
  bias_ih_l0: "bias_ih",
  bias_hh_l0: "bias_hh",
} as const;

type RefParam = "x" | "h0" | "c0" | "weight_ih" | "weight_hh" | "bias_ih" | "bias_hh";
const REF_PARAMS: RefParam[] = ["x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"];

/** A random float64 problem; weights std 0.6 so that gates are neither saturated nor linear. */
function randomProblem(o: { T: number; B: number; I: number; H: number; seed: number; dropConnect?: number }) {
  const rng = new Rng(o.seed);
  const { T, B, I, H } = o;
  const p: LstmRefProblem & Record<RefParam, Float64Array> = {
    T,
    B,
    I,
    H,
    x: randomArray(rng, T * B * I),
    h0: randomArray(rng, B * H, 0.5),
    c0: randomArray(rng, B * H, 0.5),
    weight_ih: randomArray(rng, 4 * H * I, 0.6),
    weight_hh: randomArray(rng, 4 * H * H, 0.6),
    bias_ih: randomArray(rng, 4 * H, 0.2),
    bias_hh: randomArray(rng, 4 * H, 0.2),
    dropConnect: o.dropConnect ? { mask: randomMask(rng, 4 * H * H, o.dropConnect), p: o.dropConnect } : null,
  };
  return p;
}

describe("PyTorch nn.LSTM fixtures", () => {
  for (const size of ["tiny", "small", "medium"]) {
    const f = loadFixture(`lstm-${size}`) as LstmFixture;
    const upstream = { output: f.upstream.output, hT: f.upstream.h_n, cT: f.upstream.c_n };

    test(`${size}: float64 reference matches outputs and every gradient (tol 1e-10)`, () => {
      const p: LstmRefProblem = {
        ...f.dims,
        ...f.inputs,
        dropConnect: null,
        weight_ih: f.weights.weight_ih_l0,
        weight_hh: f.weights.weight_hh_l0,
        bias_ih: f.weights.bias_ih_l0,
        bias_hh: f.weights.bias_hh_l0,
      };
      const fwd = lstmRefForward(p);
      const tol = { atol: 1e-10, rtol: 1e-10 };
      assertClose(fwd.output, f.outputs.output, { ...tol, name: "output" });
      assertClose(fwd.hT, f.outputs.h_n, { ...tol, name: "h_n" });
      assertClose(fwd.cT, f.outputs.c_n, { ...tol, name: "c_n" });
      const g = lstmRefBackward(p, fwd, upstream);
      for (const k of ["x", "h0", "c0"] as const) assertClose(g[k], f.grads[k], { ...tol, name: `d${k}` });
      for (const k of TORCH_NAMES) assertClose(g[REF_FIELD[k]], f.grads[k], { ...tol, name: `d${k}` });
    });
  }
});

describeOnKernelSets("PyTorch nn.LSTM fixtures, float32 layer", (kernels) => {
  for (const size of ["tiny", "small", "medium"]) {
    const f = loadFixture(`lstm-${size}`) as LstmFixture;
    test(`${size}: float32 layer (setTorchWeights) matches outputs and every gradient (torchGrads)`, () => {
      const { T, B, I, H } = f.dims;
      const layer = new LSTM({ inputSize: I, hiddenSize: H, kernels });
      layer.setTorchWeights(f.weights);
      const r = layer.forward({ x: f.inputs.x, T, B, h0: f.inputs.h0, c0: f.inputs.c0 });
      // h is bounded by 1 and c by T + |c0|; ≤ 8 steps of float32 arithmetic (unit round-off 6e-8,
      // sums of ≤ 16 products) give errors ≈ 1e-6, so 1e-5 absolute leaves an order of margin.
      const out = { atol: 1e-5, rtol: 1e-4 };
      assertClose(r.output, f.outputs.output, { ...out, name: "output" });
      assertClose(r.state.h, f.outputs.h_n, { ...out, name: "h_n" });
      assertClose(r.state.c, f.outputs.c_n, { ...out, name: "c_n" });
      const d = layer.backward(r, { dOutput: f.upstream.output, dhT: f.upstream.h_n, dcT: f.upstream.c_n });
      // Gradients are sums over T·B terms of O(1) upstream values times gates, and the two adjoint
      // recursions compound float32 round-off over T steps: 1e-4 absolute, 1e-3 relative.
      const grad = { atol: 1e-4, rtol: 1e-3 };
      assertClose(d.dx, f.grads.x, { ...grad, name: "dx" });
      assertClose(d.dh0, f.grads.h0, { ...grad, name: "dh0" });
      assertClose(d.dc0, f.grads.c0, { ...grad, name: "dc0" });
      const tg = layer.torchGrads();
      for (const k of TORCH_NAMES) assertClose(tg[k], f.grads[k], { ...grad, name: `d${k}` });
    });
  }
});

describe("float64 reference: backward equals central differences (ε = 1e-6) for every input and parameter", () => {
  const cases: [string, { T: number; B: number; I: number; H: number; seed: number; dropConnect?: number }][] = [
    ["plain", { T: 3, B: 2, I: 3, H: 4, seed: 1 }],
    ["DropConnect mask on weight_hh", { T: 3, B: 2, I: 3, H: 4, seed: 2, dropConnect: 0.4 }],
    ["T = 1, B = 3", { T: 1, B: 3, I: 2, H: 3, seed: 3 }],
  ];
  for (const [label, opts] of cases) {
    test(label, () => {
      const p = randomProblem(opts);
      if (p.dropConnect) assert.ok(Array.from(p.dropConnect.mask).includes(0), "the mask must drop something");
      const rng = new Rng(opts.seed + 100);
      const G = randomArray(rng, p.T * p.B * p.H);
      const GhT = randomArray(rng, p.B * p.H);
      const GcT = randomArray(rng, p.B * p.H);
      const loss = (): number => {
        const o = lstmRefForward(p);
        return dot(o.output, G) + dot(o.hT, GhT) + dot(o.cT, GcT);
      };
      const grads = lstmRefBackward(p, lstmRefForward(p), { output: G, hT: GhT, cT: GcT });
      for (const k of REF_PARAMS) {
        const fd = centralDiff(loss, p[k], 1e-6);
        // Per coordinate |a − n| / max(|a|, |n|, 1e-3) < 1e-6. The floor keeps near-zero gradients
        // from dividing round-off by round-off: the central difference carries ≈ 1e-16·|L|/ε ≈ 1e-10.
        for (let i = 0; i < fd.length; i++) {
          const a = grads[k][i];
          const rel = Math.abs(a - fd[i]) / Math.max(Math.abs(a), Math.abs(fd[i]), 1e-3);
          assert.ok(
            rel < 1e-6,
            `${label}: d${k}[${i}] backward ${a} vs central difference ${fd[i]} (rel ${rel.toExponential(2)})`,
          );
        }
      }
    });
  }
});

describe("the kernel run in float64 equals the reference to rounding", () => {
  for (const [label, opts] of [
    ["plain", { T: 4, B: 3, I: 5, H: 6, seed: 7 }],
    ["DropConnect mask", { T: 5, B: 2, I: 3, H: 7, seed: 8, dropConnect: 0.3 }],
  ] as const) {
    test(label, () => {
      const p = randomProblem(opts);
      const { T, B, I, H } = p;
      const dc = p.dropConnect;
      const params = {
        Wih: p.weight_ih,
        Whh: dc ? p.weight_hh.map((w, i) => (w * dc.mask[i]) / (1 - dc.p)) : p.weight_hh,
        bih: p.bias_ih,
        bhh: p.bias_hh,
      };
      const args = { dims: { T, B, I, H }, params, x: p.x, h0: p.h0, c0: p.c0 };
      const fwd = lstmForward(args);
      const ref = lstmRefForward(p);
      assertClose(fwd.h, ref.output, { atol: 1e-13, rtol: 1e-12, name: "h" });
      assertClose(fwd.c, ref.c, { atol: 1e-13, rtol: 1e-12, name: "c" });
      const rng = new Rng(opts.seed + 7);
      const up = { output: randomArray(rng, T * B * H), hT: randomArray(rng, B * H), cT: randomArray(rng, B * H) };
      const g = lstmBackward({ ...args, fwd, dOut: up.output, dhT: up.hT, dcT: up.cT });
      const rg = lstmRefBackward(p, ref, up);
      const tol = { atol: 1e-12, rtol: 1e-10 };
      assertClose(g.dx, rg.x, { ...tol, name: "dx" });
      assertClose(g.dh0, rg.h0, { ...tol, name: "dh0" });
      assertClose(g.dc0, rg.c0, { ...tol, name: "dc0" });
      assertClose(g.dWih, rg.weight_ih, { ...tol, name: "dWih" });
      // the kernel's dWhh is for the effective matrix; the reference maps it back through the mask
      assertClose(dc ? g.dWhh.map((v, i) => (v * dc.mask[i]) / (1 - dc.p)) : g.dWhh, rg.weight_hh, {
        ...tol,
        name: "dWhh",
      });
      assertClose(g.dbih, rg.bias_ih, { ...tol, name: "dbih" });
      assertClose(g.dbhh, rg.bias_hh, { ...tol, name: "dbhh" });
    });
  }
});

describeOnKernelSets("float32 layer equals the float64 reference at odd sizes", (kernels) => {
  // [T, B, I, H, DropConnect]: every size in {1, 3, 7, 17, 33} appears for each of T, B, I, H.
  const combos: [number, number, number, number, boolean][] = [
    [1, 1, 1, 1, false],
    [3, 7, 1, 17, true],
    [7, 3, 33, 7, false],
    [17, 1, 3, 3, true],
    [1, 33, 17, 1, false],
    [3, 3, 7, 33, true],
    [33, 1, 1, 3, false],
    [7, 17, 3, 7, false],
  ];
  for (const [T, B, I, H, withDc] of combos) {
    test(`T=${T} B=${B} I=${I} H=${H}${withDc ? ", DropConnect" : ""}`, () => {
      const dc = withDc ? 0.3 : 0;
      const seed = T * 1000 + B * 100 + I * 10 + H;
      const layer = new LSTM({ inputSize: I, hiddenSize: H, seed, dropConnect: dc, kernels });
      const rng = new Rng(T + B + I + H);
      const x = randomArray(rng, T * B * I);
      const h0 = randomArray(rng, B * H, 0.5);
      const c0 = randomArray(rng, B * H, 0.5);
      const up = { output: randomArray(rng, T * B * H), hT: randomArray(rng, B * H), cT: randomArray(rng, B * H) };
      const mask = withDc ? randomMask(rng, 4 * H * H, dc) : null;
      const w = layer.getTorchWeights();
      const p: LstmRefProblem = {
        T,
        B,
        I,
        H,
        x,
        h0,
        c0,
        dropConnect: mask ? { mask, p: dc } : null,
        weight_ih: Float64Array.from(w.weight_ih_l0),
        weight_hh: Float64Array.from(w.weight_hh_l0),
        bias_ih: Float64Array.from(w.bias_ih_l0),
        bias_hh: Float64Array.from(w.bias_hh_l0),
      };
      const r = layer.forward({ x, T, B, h0, c0, masks: mask ? { dropConnect: mask } : undefined });
      const fwd = lstmRefForward(p);
      const out = { atol: 1e-5, rtol: 1e-4 };
      assertClose(r.output, fwd.output, { ...out, name: "output" });
      assertClose(r.state.h, fwd.hT, { ...out, name: "state.h" });
      assertClose(r.state.c, fwd.cT, { ...out, name: "state.c" });
      const d = layer.backward(r, { dOutput: up.output, dhT: up.hT, dcT: up.cT });
      const g = lstmRefBackward(p, fwd, up);
      // Gradients sum up to T·B = 33 products per entry and run two adjoints through up to 33
      // steps in float32; with O(1) upstream values they reach O(10): 1e-4 absolute, 1e-3 relative.
      const tol = { atol: 1e-4, rtol: 1e-3 };
      assertClose(d.dx, g.x, { ...tol, name: "dx" });
      assertClose(d.dh0, g.h0, { ...tol, name: "dh0" });
      assertClose(d.dc0, g.c0, { ...tol, name: "dc0" });
      const tg = layer.torchGrads();
      for (const k of TORCH_NAMES) assertClose(tg[k], g[REF_FIELD[k]], { ...tol, name: `d${k}` });
    });
  }
});

describe("PyTorch layout", () => {
  test("setTorchWeights(getTorchWeights()) is the identity; the storage is nn.LSTM's own", () => {
    const layer = new LSTM({ inputSize: 5, hiddenSize: 6, seed: 3 });
    const before = layer.getWeights();
    layer.setTorchWeights(layer.getTorchWeights());
    assert.deepEqual(layer.getWeights(), before);
    assert.deepEqual(layer.getTorchWeights(), before);
    assert.deepEqual(Object.keys(before), TORCH_NAMES);
    assert.equal(before.weight_ih_l0.length, 4 * 6 * 5);
  });

  test("by hand: gate blocks are (i, f, g, o): f = 1, i = 0, o = 1 keeps c = c0 and gives h = tanh(c0)", () => {
    const H = 3;
    const layer = new LSTM({ inputSize: 2, hiddenSize: H });
    for (const w of Object.values(layer.weights)) w.fill(0);
    const bias = new Float32Array(4 * H);
    bias.fill(-40, 0, H); // i = σ(−40) = 0 (to float32 precision)
    bias.fill(40, H, 2 * H); // f = σ(40) = 1
    bias.fill(5, 2 * H, 3 * H); // g = tanh(5), switched off by i
    bias.fill(40, 3 * H, 4 * H); // o = 1
    layer.setTorchWeights({ bias_ih_l0: bias });
    const c0 = new Float32Array([0.5, -0.25, 2]);
    const s = layer.step([1, -1], 1, { h: new Float32Array(H), c: c0 });
    assertClose(s.state.c, c0, { atol: 1e-7, rtol: 0, name: "c" });
    assertClose(s.h, Array.from(c0, Math.tanh), { atol: 1e-7, rtol: 0, name: "h" });
  });

  test("init is uniform in [−1/√H, 1/√H) for every parameter, as PyTorch", () => {
    const H = 16;
    const layer = new LSTM({ inputSize: 7, hiddenSize: H, seed: 1 });
    for (const [k, w] of Object.entries(layer.weights)) {
      const bound = 1 / Math.sqrt(H);
      assert.ok(
        w.every((v) => v >= -bound && v < bound),
        `${k} within the bound`,
      );
      assert.ok(Math.max(...w.map(Math.abs)) > 0.8 * bound, `${k} spreads to the bound`);
    }
  });
});

describeOnKernelSets("layer properties", (kernels) => {
  const I = 4;
  const H = 5;
  const T = 6;
  const B = 5;
  const setup = (seed: number, dropConnect = 0) => {
    const layer = new LSTM({ inputSize: I, hiddenSize: H, seed, dropConnect, kernels });
    const rng = new Rng(seed + 50);
    return {
      layer,
      x: randomArray(rng, T * B * I),
      h0: randomArray(rng, B * H, 0.5),
      c0: randomArray(rng, B * H, 0.5),
      G: randomArray(rng, T * B * H),
      GhT: randomArray(rng, B * H),
      GcT: randomArray(rng, B * H),
    };
  };

  test("permuting the batch permutes outputs, final states and the input gradients", () => {
    const { layer, x, h0, c0, G, GhT, GcT } = setup(11);
    const perm = [2, 4, 0, 1, 3];
    // rows [b] of a [steps, B, F] tensor taken from rows perm[b]
    const permute = (a: ArrayLike<number>, steps: number, F: number): Float64Array => {
      const out = new Float64Array(steps * B * F);
      for (let t = 0; t < steps; t++) {
        for (let b = 0; b < B; b++)
          out.set(
            Array.from({ length: F }, (_, f) => a[(t * B + perm[b]) * F + f]),
            (t * B + b) * F,
          );
      }
      return out;
    };
    const r = layer.forward({ x, T, B, h0, c0 });
    const d = layer.backward(r, { dOutput: G, dhT: GhT, dcT: GcT });
    const grads = layer.torchGrads();
    layer.zeroGrad();
    const rp = layer.forward({ x: permute(x, T, I), T, B, h0: permute(h0, 1, H), c0: permute(c0, 1, H) });
    const dp = layer.backward(rp, { dOutput: permute(G, T, H), dhT: permute(GhT, 1, H), dcT: permute(GcT, 1, H) });
    // each batch row is computed on its own, so the permuted rows are the same numbers
    assert.deepEqual(Array.from(rp.output), Array.from(permute(r.output, T, H)));
    assert.deepEqual(Array.from(rp.state.c), Array.from(permute(r.state.c, 1, H)));
    assert.deepEqual(Array.from(dp.dx), Array.from(permute(d.dx, T, I)));
    assert.deepEqual(Array.from(dp.dh0), Array.from(permute(d.dh0, 1, H)));
    assert.deepEqual(Array.from(dp.dc0), Array.from(permute(d.dc0, 1, H)));
    // parameter gradients sum over the batch in another order: equal to float32 round-off
    const pg = layer.torchGrads();
    for (const k of TORCH_NAMES) assertClose(pg[k], grads[k], { atol: 1e-5, rtol: 1e-5, name: `d${k}` });
  });

  test("same seed ⇒ bit-identical weights and outputs (DropConnect mask included); another seed differs", () => {
    const a = setup(21, 0.3);
    const b = setup(21, 0.3);
    const c = setup(22, 0.3);
    assert.deepEqual(a.layer.getWeights(), b.layer.getWeights());
    assert.notDeepEqual(a.layer.getWeights(), c.layer.getWeights());
    const ra = a.layer.forward({ x: a.x, T, B, h0: a.h0, c0: a.c0 });
    const rb = b.layer.forward({ x: a.x, T, B, h0: a.h0, c0: a.c0 });
    assert.deepEqual(ra.output, rb.output);
    assert.deepEqual(ra.saved, rb.saved);
  });

  test("backward is linear in the upstream gradients (2·G and G1 + G2)", () => {
    const { layer, x, h0, c0, G, GhT, GcT } = setup(31);
    const rng = new Rng(32);
    const G2 = randomArray(rng, T * B * H);
    const GhT2 = randomArray(rng, B * H);
    const GcT2 = randomArray(rng, B * H);
    const r = layer.forward({ x, T, B, h0, c0 });
    const run = (g: Float64Array, ghT: Float64Array, gcT: Float64Array) => {
      layer.zeroGrad();
      const d = layer.backward(r, { dOutput: g, dhT: ghT, dcT: gcT });
      return { ...d, ...layer.torchGrads() };
    };
    const one = run(G, GhT, GcT);
    const two = run(G2, GhT2, GcT2);
    const twice = (a: Float64Array) => a.map((v) => 2 * v);
    const doubled = run(twice(G), twice(GhT), twice(GcT));
    const summed = run(
      G.map((v, i) => v + G2[i]),
      GhT.map((v, i) => v + GhT2[i]),
      GcT.map((v, i) => v + GcT2[i]),
    );
    for (const k of ["dx", "dh0", "dc0", ...TORCH_NAMES] as const) {
      assertClose(
        doubled[k],
        one[k].map((v) => 2 * v),
        { atol: 1e-6, rtol: 1e-6, name: `2·G: ${k}` },
      );
      assertClose(
        summed[k],
        one[k].map((v, i) => v + two[k][i]),
        { atol: 1e-5, rtol: 1e-5, name: `G1 + G2: ${k}` },
      );
    }
  });

  test("calling backward twice doubles the parameter gradients; input gradients are assigned", () => {
    const { layer, x, h0, c0, G, GhT, GcT } = setup(41, 0.25);
    const r = layer.forward({ x, T, B, h0, c0 });
    const d1 = layer.backward(r, { dOutput: G, dhT: GhT, dcT: GcT });
    const g1 = layer.torchGrads();
    const d2 = layer.backward(r, { dOutput: G, dhT: GhT, dcT: GcT });
    for (const [k, v] of Object.entries(layer.grads)) {
      assert.ok(
        g1[k as LstmTorchName].some((u) => u !== 0),
        `${k} has a gradient`,
      );
      assert.deepEqual(
        Array.from(v),
        Array.from(g1[k as LstmTorchName], (u) => 2 * u),
        `${k} doubled`,
      );
    }
    assert.deepEqual(d2, d1);
  });

  test("step() applied T times equals forward() in eval mode (DropConnect configured but off)", () => {
    const { layer, x, h0, c0 } = setup(51, 0.4);
    layer.eval();
    const r = layer.forward({ x, T, B, h0, c0 });
    let state: LstmState = { h: Float32Array.from(h0), c: Float32Array.from(c0) };
    for (let t = 0; t < T; t++) {
      const s = layer.step(x.subarray(t * B * I, (t + 1) * B * I), B, state);
      assertClose(s.h, r.output.subarray(t * B * H, (t + 1) * B * H), { atol: 1e-6, rtol: 1e-6, name: `step ${t}` });
      state = s.state;
    }
    assertClose(state.c, r.state.c, { atol: 1e-6, rtol: 1e-6, name: "final cell state" });
    layer.train();
    assert.notDeepEqual(layer.forward({ x, T, B, h0, c0 }).output, r.output, "training applies DropConnect");
  });

  test("batch-first equals time-major after transposing (outputs and input gradients)", () => {
    const { layer, x, h0, c0, G } = setup(61);
    const r = layer.forward({ x, T, B, h0, c0 });
    const d = layer.backward(r, { dOutput: G });
    const rb = layer.forward({ x: swapAxes01(x, T, B, I), T, B, h0, c0, batchFirst: true });
    const db = layer.backward(rb, { dOutput: swapAxes01(G, T, B, H) });
    assert.deepEqual(rb.output, swapAxes01(r.output, T, B, H));
    assert.deepEqual(rb.state, r.state);
    assert.deepEqual(db.dx, swapAxes01(d.dx, T, B, I));
    assert.deepEqual([db.dh0, db.dc0], [d.dh0, d.dc0]);
  });

  test("stats: dense MACs with 4 gates, no events; zero weights and states give all-zero outputs", () => {
    const { layer, x } = setup(71);
    const r = layer.forward({ x, T, B });
    const macs = T * B * (I * 4 * H + H * 4 * H);
    assert.deepEqual(r.stats, {
      activitySparsity: 0,
      backwardSparsity: 0,
      paperBackwardSparsity: 0,
      denseMacs: macs,
      eventMacs: macs,
      executedMacs: macs,
      paperEffectiveMacs: macs,
      events: 0,
      entries: T * B * H,
    });
    for (const w of Object.values(layer.weights)) w.fill(0);
    // i = f = o = ½ and g = 0: c_t = ½·c_{t−1} = 0 and h_t = 0 from zero states
    assert.equal(layer.forward({ x, T, B }).stats.activitySparsity, 1);
  });
});

describe("bad input raises typed errors", () => {
  const layer = new LSTM({ inputSize: 3, hiddenSize: 4 });
  test("wrong x length → ShapeError naming x", () => {
    assert.throws(
      () => layer.forward({ x: new Float32Array(2 * 3 * 3 + 1), T: 2, B: 3 }),
      (e: unknown) => {
        return e instanceof ShapeError && e.argument === "x" && /x/.test(e.message);
      },
    );
    assert.throws(
      () => layer.step(new Float32Array(2), 1),
      (e: unknown) => e instanceof ShapeError && e.argument === "x",
    );
  });
  test("NaN in a weight → NonFiniteError", () => {
    const l = new LSTM({ inputSize: 3, hiddenSize: 4 });
    l.weights.weight_hh_l0[7] = NaN;
    assert.throws(
      () => l.forward({ x: new Float32Array(6), T: 1, B: 2 }),
      (e: unknown) => e instanceof NonFiniteError && /weight/.test(e.argument),
    );
    assert.throws(() => layer.setTorchWeights({ bias_ih_l0: new Float32Array(16).fill(NaN) }), NonFiniteError);
  });
  test("hiddenSize 0 → ValueError; dropConnect 1.0 → ValueError", () => {
    const names =
      (argument: string) =>
      (e: unknown): boolean =>
        e instanceof ValueError && e.argument === argument;
    assert.throws(() => new LSTM({ inputSize: 3, hiddenSize: 0 }), names("hiddenSize"));
    assert.throws(() => new LSTM({ inputSize: 3, hiddenSize: 4, dropConnect: 1.0 }), names("dropConnect"));
  });
  test("wrong weight, state and upstream lengths; masks in eval mode", () => {
    assert.throws(() => layer.setTorchWeights({ weight_hh_l0: new Float32Array(15) }), ShapeError);
    assert.throws(() => layer.forward({ x: new Float32Array(6), T: 1, B: 2, c0: new Float32Array(7) }), ShapeError);
    const r = layer.forward({ x: new Float32Array(6), T: 1, B: 2 });
    assert.throws(() => layer.backward(r, { dcT: new Float32Array(9) }), ShapeError);
    const evalLayer = new LSTM({ inputSize: 3, hiddenSize: 4 }).eval();
    const masks = { dropConnect: new Float32Array(64) };
    assert.throws(() => evalLayer.forward({ x: new Float32Array(6), T: 1, B: 2, masks }), StateError);
  });
});
