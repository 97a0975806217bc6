// The GRU baseline: the float64 reference and the float32 layer against PyTorch's nn.GRU fixtures,
// central finite differences on the reference, layer = reference at odd sizes (with DropConnect
// and zoneout), the haste ↔ PyTorch layout conversion, layer properties, and typed errors. The
// float32 layer's cases run on every kernel set (test/kernel-sets.ts).

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { swapAxes01 } from "../../packages/egru/src/core/buffer.js";
import { NonFiniteError, ShapeError, StateError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { gruBackward, gruForward } from "../../packages/egru/src/kernels/gru.js";
import { GRU, type GruState, type GruTorchName } from "../../packages/egru/src/layers/gru.js";
import { gruBiasSwap, gruMatrixFromTorch, gruMatrixToTorch } from "../../packages/egru/src/layers/gru-layout.js";
import { gruRefBackward, gruRefForward, type GruRefProblem } from "../../packages/egru/src/reference/gru-ref.js";
import { assertClose, centralDiff, dot, loadFixture, randomArray, randomMask } from "../helpers.js";
import { describeOnKernelSets } from "../kernel-sets.js";

const TORCH_NAMES: GruTorchName[] = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"];

/** Parsed nn.GRU fixture (tools/gen_fixtures.py, baseline_case). */
interface GruFixture {
  dims: { T: number; B: number; I: number; H: number };
  inputs: { x: number[]; h0: number[] };
  weights: Record<GruTorchName, number[]>;
  upstream: { output: number[]; h_n: number[] };
  outputs: { output: number[]; h_n: number[] };
  grads: Record<GruTorchName | "x" | "h0", number[]>;
}

/** Reference gradient field for each PyTorch parameter name. */
const REF_FIELD = {
  weight_ih_l0: "weight_ih",
  weight_hh_l0: "weight_hh",
  bias_ih_l0: "bias_ih",
  bias_hh_l0: "bias_hh",
} as const;

/**
 * Per-coordinate relative error |a − n| / max(|a|, |n|, 1e-3) must stay below 1e-6. The floor keeps
 * coordinates whose gradient is ~0 from dividing round-off by round-off: a central difference in
 * float64 with ε = 1e-6 carries ≈ 1e-16·|L|/ε ≈ 1e-10 of noise, far below 1e-9 = 1e-6·floor.
 */
function assertRelClose(analytic: ArrayLike<number>, numeric: ArrayLike<number>, name: string): void {
  assert.equal(analytic.length, numeric.length, `${name}: length`);
  for (let i = 0; i < analytic.length; i++) {
    const a = analytic[i];
    const n = numeric[i];
    const rel = Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), 1e-3);
    assert.ok(
      rel < 1e-6,
      `${name}[${i}]: backward ${a} vs central difference ${n} (relative error ${rel.toExponential(2)})`,
    );
  }
}

type RefParam = "x" | "h0" | "weight_ih" | "weight_hh" | "bias_ih" | "bias_hh";
const REF_PARAMS: RefParam[] = ["x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"];
type MutableProblem = GruRefProblem & Record<RefParam, Float64Array>;

interface RandomOptions {
  T: number;
  B: number;
  I: number;
  H: number;
  seed: number;
  dropConnect?: number; // with a random 0/1 mask [3H, H]
  zoneout?: { kind: "train"; p: number } | { kind: "eval"; p: number };
}

/** A random float64 problem in PyTorch's layout. */
function randomProblem(o: RandomOptions): MutableProblem {
  const rng = new Rng(o.seed);
  const { T, B, I, H } = o;
  return {
    T,
    B,
    I,
    H,
    x: randomArray(rng, T * B * I),
    h0: randomArray(rng, B * H, 0.5),
    weight_ih: randomArray(rng, 3 * H * I, 0.6),
    weight_hh: randomArray(rng, 3 * H * H, 0.6),
    bias_ih: randomArray(rng, 3 * H, 0.2),
    bias_hh: randomArray(rng, 3 * H, 0.2),
    dropConnect: o.dropConnect ? { mask: randomMask(rng, 3 * H * H, o.dropConnect), p: o.dropConnect } : null,
    zoneout: !o.zoneout
      ? { kind: "none" }
      : o.zoneout.kind === "train"
        ? { kind: "train", mask: randomMask(rng, T * B * H, o.zoneout.p) }
        : { kind: "eval", p: o.zoneout.p },
  };
}

function fixtureProblem(f: GruFixture): GruRefProblem {
  return {
    ...f.dims,
    x: f.inputs.x,
    h0: f.inputs.h0,
    weight_ih: f.weights.weight_ih_l0,
    weight_hh: f.weights.weight_hh_l0,
    bias_ih: f.weights.bias_ih_l0,
    bias_hh: f.weights.bias_hh_l0,
    dropConnect: null,
    zoneout: { kind: "none" },
  };
}

describe("PyTorch nn.GRU fixtures", () => {
  for (const size of ["tiny", "small", "medium"]) {
    const f = loadFixture(`gru-${size}`) as GruFixture;
    test(`${size}: float64 reference matches outputs and every gradient (tol 1e-10)`, () => {
      const p = fixtureProblem(f);
      const fwd = gruRefForward(p);
      const tol = { atol: 1e-10, rtol: 1e-10 };
      assertClose(fwd.output, f.outputs.output, { ...tol, name: "output" });
      assertClose(fwd.hT, f.outputs.h_n, { ...tol, name: "h_n" });
      const g = gruRefBackward(p, fwd, { output: f.upstream.output, hT: f.upstream.h_n });
      assertClose(g.x, f.grads.x, { ...tol, name: "dx" });
      assertClose(g.h0, f.grads.h0, { ...tol, name: "dh0" });
      for (const k of TORCH_NAMES) assertClose(g[REF_FIELD[k]], f.grads[k], { ...tol, name: `d${k}` });
    });
  }
});

describeOnKernelSets("PyTorch nn.GRU fixtures, float32 layer", (kernels) => {
  for (const size of ["tiny", "small", "medium"]) {
    const f = loadFixture(`gru-${size}`) as GruFixture;
    test(`${size}: float32 layer (setTorchWeights) matches outputs and every gradient (torchGrads)`, () => {
      const { T, B, I, H } = f.dims;
      const layer = new GRU({ inputSize: I, hiddenSize: H, kernels });
      layer.setTorchWeights(f.weights);
      const r = layer.forward({ x: f.inputs.x, T, B, h0: f.inputs.h0 });
      // Outputs are bounded by 1 and go through ≤ 8 steps of float32 arithmetic (unit round-off
      // 6e-8 per operation, sums of ≤ 16 products): errors ≈ 1e-6, so 1e-5 leaves an order of margin.
      const out = { atol: 1e-5, rtol: 1e-4 };
      assertClose(r.output, f.outputs.output, { ...out, name: "output" });
      assertClose(r.state.h, f.outputs.h_n, { ...out, name: "h_n" });
      const d = layer.backward(r, { dOutput: f.upstream.output, dhT: f.upstream.h_n });
      // Gradients are sums over T·B terms of products of O(1) upstream values with gates, and the
      // adjoint recursion compounds float32 round-off over T steps: 1e-4 absolute, 1e-3 relative.
      const grad = { atol: 1e-4, rtol: 1e-3 };
      assertClose(d.dx, f.grads.x, { ...grad, name: "dx" });
      assertClose(d.dh0, f.grads.h0, { ...grad, name: "dh0" });
      const tg = layer.torchGrads();
      for (const k of TORCH_NAMES) assertClose(tg[k], f.grads[k], { ...grad, name: `d${k}` });
    });
  }
});

describe("float64 reference: backward equals central differences (ε = 1e-6) for every input and parameter", () => {
  const dims = { T: 3, B: 2, I: 3, H: 4 };
  const cases: [string, RandomOptions][] = [
    ["plain", { ...dims, seed: 1 }],
    ["DropConnect mask on weight_hh", { ...dims, seed: 2, dropConnect: 0.4 }],
    ["zoneout, training mask", { ...dims, seed: 3, zoneout: { kind: "train", p: 0.4 } }],
    ["zoneout, evaluation p", { ...dims, seed: 4, zoneout: { kind: "eval", p: 0.3 } }],
    ["DropConnect and zoneout mask", { ...dims, seed: 5, dropConnect: 0.3, zoneout: { kind: "train", p: 0.3 } }],
  ];
  for (const [label, opts] of cases) {
    test(label, () => {
      const p = randomProblem(opts);
      if (p.dropConnect) assert.ok(Array.from(p.dropConnect.mask).includes(0), "the mask must drop something");
      if (p.zoneout.kind === "train") assert.ok(Array.from(p.zoneout.mask).includes(0), "the mask must hold something");
      const rng = new Rng(opts.seed + 100);
      const G = randomArray(rng, p.T * p.B * p.H);
      const GhT = randomArray(rng, p.B * p.H);
      const loss = (): number => {
        const o = gruRefForward(p);
        return dot(o.output, G) + dot(o.hT, GhT);
      };
      const grads = gruRefBackward(p, gruRefForward(p), { output: G, hT: GhT });
      for (const k of REF_PARAMS) assertRelClose(grads[k], centralDiff(loss, p[k], 1e-6), `${label}: d${k}`);
    });
  }
});

describe("the kernel run in float64 equals the reference to rounding (haste layout vs PyTorch layout)", () => {
  const cases: [string, RandomOptions][] = [
    ["plain", { T: 4, B: 3, I: 5, H: 6, seed: 7 }],
    [
      "DropConnect and zoneout mask",
      { T: 5, B: 2, I: 3, H: 7, seed: 8, dropConnect: 0.3, zoneout: { kind: "train", p: 0.3 } },
    ],
    ["zoneout, evaluation p", { T: 3, B: 4, I: 2, H: 5, seed: 9, zoneout: { kind: "eval", p: 0.25 } }],
  ];
  for (const [label, opts] of cases) {
    test(label, () => {
      const p = randomProblem(opts);
      const { T, B, I, H } = p;
      const Rt = p.dropConnect
        ? p.weight_hh.map((w, i) => (w * p.dropConnect!.mask[i]) / (1 - p.dropConnect!.p))
        : p.weight_hh;
      const params = {
        W: gruMatrixFromTorch(p.weight_ih, I, H),
        R: gruMatrixFromTorch(Rt, H, H),
        bx: gruBiasSwap(p.bias_ih, H),
        br: gruBiasSwap(p.bias_hh, H),
      };
      const zoneout =
        p.zoneout.kind === "train" ? { kind: "train" as const, mask: Float64Array.from(p.zoneout.mask) } : p.zoneout;
      const args = { dims: { T, B, I, H }, params, x: p.x, h0: p.h0, zoneout };
      const fwd = gruForward(args);
      const ref = gruRefForward(p);
      assertClose(fwd.h, ref.output, { atol: 1e-13, rtol: 1e-12, name: "h" });
      const rng = new Rng(opts.seed + 7);
      const dOut = randomArray(rng, T * B * H);
      const dhT = randomArray(rng, B * H);
      const g = gruBackward({ ...args, fwd, dOut, dhT });
      const rg = gruRefBackward(p, ref, { output: dOut, hT: dhT });
      const tol = { atol: 1e-12, rtol: 1e-10 };
      assertClose(g.dx, rg.x, { ...tol, name: "dx" });
      assertClose(g.dh0, rg.h0, { ...tol, name: "dh0" });
      assertClose(gruMatrixToTorch(g.dW, I, H), rg.weight_ih, { ...tol, name: "dW" });
      // the kernel's dR is for the effective matrix; the reference maps it back through the mask
      const dR = gruMatrixToTorch(g.dR, H, H);
      const dRstored = p.dropConnect ? dR.map((v, i) => (v * p.dropConnect!.mask[i]) / (1 - p.dropConnect!.p)) : dR;
      assertClose(dRstored, rg.weight_hh, { ...tol, name: "dR" });
      assertClose(gruBiasSwap(g.dbx, H), rg.bias_ih, { ...tol, name: "dbx" });
      assertClose(gruBiasSwap(g.dbr, H), rg.bias_hh, { ...tol, name: "dbr" });
    });
  }
});

/** A float64 reference problem holding the layer's current weights, in PyTorch's layout. */
function problemOfLayer(layer: GRU, x: Float64Array, h0: Float64Array, T: number, B: number): GruRefProblem {
  const w = layer.getTorchWeights();
  return {
    T,
    B,
    I: layer.inputSize,
    H: layer.hiddenSize,
    x,
    h0,
    weight_ih: Float64Array.from(w.weight_ih_l0),
    weight_hh: Float64Array.from(w.weight_hh_l0),
    bias_ih: Float64Array.from(w.bias_ih_l0),
    bias_hh: Float64Array.from(w.bias_hh_l0),
    dropConnect: null,
    zoneout: { kind: "none" },
  };
}

describeOnKernelSets("float32 layer equals the float64 reference at odd sizes", (kernels) => {
  // [T, B, I, H, regulariser]: every size in {1, 3, 7, 17, 33} appears for each of T, B, I, H.
  type Reg = "none" | "dropConnect" | "zoneout-train" | "zoneout-eval" | "both";
  const combos: [number, number, number, number, Reg][] = [
    [1, 1, 1, 1, "none"],
    [3, 7, 1, 17, "dropConnect"],
    [7, 3, 33, 7, "zoneout-train"],
    [17, 1, 3, 3, "zoneout-eval"],
    [1, 33, 17, 1, "none"],
    [3, 3, 7, 33, "both"],
    [33, 1, 1, 3, "none"],
    [7, 17, 3, 7, "dropConnect"],
  ];
  for (const [T, B, I, H, reg] of combos) {
    test(`T=${T} B=${B} I=${I} H=${H}, ${reg}`, () => {
      const dc = reg === "dropConnect" || reg === "both" ? 0.3 : 0;
      const zo = reg.startsWith("zoneout") || reg === "both" ? 0.35 : 0;
      const layer = new GRU({
        kernels,
        inputSize: I,
        hiddenSize: H,
        seed: T * 1000 + B * 100 + I * 10 + H,
        dropConnect: dc,
        zoneout: zo,
      });
      const rng = new Rng(T + B + I + H);
      const x = randomArray(rng, T * B * I);
      const h0 = randomArray(rng, B * H, 0.5);
      const G = randomArray(rng, T * B * H);
      const GhT = randomArray(rng, B * H);
      const p = problemOfLayer(layer, x, h0, T, B);
      const masks: { dropConnect?: Float64Array; zoneout?: Float64Array } = {};
      if (dc > 0) {
        masks.dropConnect = randomMask(rng, H * 3 * H, dc); // stored (haste) layout [H, 3H]
        p.dropConnect = { mask: gruMatrixToTorch(masks.dropConnect, H, H), p: dc };
      }
      if (reg === "zoneout-eval") {
        layer.eval();
        p.zoneout = { kind: "eval", p: zo };
      } else if (zo > 0) {
        masks.zoneout = randomMask(rng, T * B * H, zo);
        p.zoneout = { kind: "train", mask: masks.zoneout };
      }
      const r = layer.forward({ x, T, B, h0, masks: layer.training ? masks : undefined });
      const fwd = gruRefForward(p);
      assertClose(r.output, fwd.output, { atol: 1e-5, rtol: 1e-4, name: "output" });
      assertClose(r.state.h, fwd.hT, { atol: 1e-5, rtol: 1e-4, name: "state.h" });
      const d = layer.backward(r, { dOutput: G, dhT: GhT });
      const g = gruRefBackward(p, fwd, { output: G, hT: GhT });
      // Gradients sum up to T·B = 33 products per entry and run the adjoint through up to 33 steps
      // in float32; with O(1) upstream values the gradients reach O(10), hence 1e-4 abs, 1e-3 rel.
      const tol = { atol: 1e-4, rtol: 1e-3 };
      assertClose(d.dx, g.x, { ...tol, name: "dx" });
      assertClose(d.dh0, g.h0, { ...tol, name: "dh0" });
      const tg = layer.torchGrads();
      for (const k of TORCH_NAMES) assertClose(tg[k], g[REF_FIELD[k]], { ...tol, name: `d${k}` });
    });
  }
});

describe("haste ↔ PyTorch layout conversion", () => {
  test("setTorchWeights(getTorchWeights()) is the identity, and get after set returns what was set", () => {
    const layer = new GRU({ inputSize: 5, hiddenSize: 6, seed: 3 });
    const before = layer.getWeights();
    layer.setTorchWeights(layer.getTorchWeights());
    assert.deepEqual(layer.getWeights(), before);
    const rng = new Rng(9);
    const theirs = {
      weight_ih_l0: Float32Array.from(randomArray(rng, 18 * 5)),
      weight_hh_l0: Float32Array.from(randomArray(rng, 18 * 6)),
      bias_ih_l0: Float32Array.from(randomArray(rng, 18)),
      bias_hh_l0: Float32Array.from(randomArray(rng, 18)),
    };
    layer.setTorchWeights(theirs);
    assert.deepEqual(layer.getTorchWeights(), theirs);
    assert.notDeepEqual(layer.getWeights(), before);
  });

  test("by hand: the z block of kernel is rows H..2H of weight_ih_l0 transposed; r and n likewise", () => {
    const I = 3;
    const H = 4;
    const layer = new GRU({ inputSize: I, hiddenSize: H, seed: 5 });
    const wih = Float32Array.from({ length: 3 * H * I }, (_, i) => i + 1); // every entry distinct
    const whh = Float32Array.from({ length: 3 * H * H }, (_, i) => -(i + 1));
    const bih = Float32Array.from({ length: 3 * H }, (_, i) => 100 + i);
    layer.setTorchWeights({ weight_ih_l0: wih, weight_hh_l0: whh, bias_ih_l0: bih });
    const { kernel, recurrent_kernel: rk, bias } = layer.weights;
    for (let j = 0; j < H; j++) {
      for (let i = 0; i < I; i++) {
        assert.equal(kernel[i * 3 * H + j], wih[(H + j) * I + i], `z: kernel[${i}, ${j}]`);
        assert.equal(kernel[i * 3 * H + H + j], wih[j * I + i], `r: kernel[${i}, H + ${j}]`);
        assert.equal(kernel[i * 3 * H + 2 * H + j], wih[(2 * H + j) * I + i], `g: kernel[${i}, 2H + ${j}]`);
      }
      for (let k = 0; k < H; k++)
        assert.equal(rk[k * 3 * H + j], whh[(H + j) * H + k], `z: recurrent_kernel[${k}, ${j}]`);
      assert.equal(bias[j], bih[H + j], `z: bias[${j}]`);
      assert.equal(bias[H + j], bih[j], `r: bias[H + ${j}]`);
    }
  });

  test("init is uniform in [−1/√H, 1/√H) for every parameter, as PyTorch", () => {
    const H = 16;
    const layer = new GRU({ inputSize: 7, hiddenSize: H, seed: 1 });
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
  const setup = (seed: number, extra: { dropConnect?: number; zoneout?: number } = {}) => {
    const layer = new GRU({ inputSize: I, hiddenSize: H, seed, kernels, ...extra });
    const rng = new Rng(seed + 50);
    return {
      layer,
      x: randomArray(rng, T * B * I),
      h0: randomArray(rng, B * H, 0.5),
      G: randomArray(rng, T * B * H),
      GhT: randomArray(rng, B * H),
    };
  };

  test("permuting the batch permutes outputs, the final state and the input gradients", () => {
    const { layer, x, h0, G, GhT } = setup(11);
    const perm = [3, 0, 4, 1, 2];
    // rows [b] of a [T, B, F] (or [B, F] with T = 1) tensor taken from rows perm[b]
    const permute = (a: ArrayLike<number>, steps: number, F: number): Float64Array => {
      const out = new Float64Array(steps * B * F);
      for (let t = 0; t < steps; t++) {
        for (let b = 0; b < B; b++) {
          for (let f = 0; f < F; f++) out[(t * B + b) * F + f] = a[(t * B + perm[b]) * F + f];
        }
      }
      return out;
    };
    const r = layer.forward({ x, T, B, h0 });
    const d = layer.backward(r, { dOutput: G, dhT: GhT });
    const grads = layer.torchGrads();
    layer.zeroGrad();
    const rp = layer.forward({ x: permute(x, T, I), T, B, h0: permute(h0, 1, H) });
    const dp = layer.backward(rp, { dOutput: permute(G, T, H), dhT: permute(GhT, 1, H) });
    // each batch row is computed on its own, so the permuted rows are the same numbers
    assert.deepEqual(Array.from(rp.output), Array.from(permute(r.output, T, H)));
    assert.deepEqual(Array.from(rp.state.h), Array.from(permute(r.state.h, 1, H)));
    assert.deepEqual(Array.from(dp.dx), Array.from(permute(d.dx, T, I)));
    assert.deepEqual(Array.from(dp.dh0), Array.from(permute(d.dh0, 1, H)));
    // parameter gradients sum over the batch in another order: equal to float32 round-off
    const pg = layer.torchGrads();
    for (const k of TORCH_NAMES) assertClose(pg[k], grads[k], { atol: 1e-5, rtol: 1e-5, name: `d${k}` });
  });

  test("same seed ⇒ bit-identical weights and outputs (masks included); another seed differs", () => {
    const a = setup(21, { dropConnect: 0.3, zoneout: 0.2 });
    const b = setup(21, { dropConnect: 0.3, zoneout: 0.2 });
    const c = setup(22, { dropConnect: 0.3, zoneout: 0.2 });
    assert.deepEqual(a.layer.getWeights(), b.layer.getWeights());
    assert.notDeepEqual(a.layer.getWeights(), c.layer.getWeights());
    const ra = a.layer.forward({ x: a.x, T, B, h0: a.h0 });
    const rb = b.layer.forward({ x: a.x, T, B, h0: a.h0 });
    assert.deepEqual(ra.output, rb.output);
    assert.deepEqual(ra.saved, rb.saved);
  });

  test("backward is linear in the upstream gradient (2·G and G1 + G2)", () => {
    const { layer, x, h0, G, GhT } = setup(31);
    const rng = new Rng(32);
    const G2 = randomArray(rng, T * B * H);
    const GhT2 = randomArray(rng, B * H);
    const r = layer.forward({ x, T, B, h0 });
    const run = (g: Float64Array, ghT: Float64Array) => {
      layer.zeroGrad();
      const d = layer.backward(r, { dOutput: g, dhT: ghT });
      return { ...d, ...layer.torchGrads() };
    };
    const one = run(G, GhT);
    const two = run(G2, GhT2);
    const doubled = run(
      G.map((v) => 2 * v),
      GhT.map((v) => 2 * v),
    );
    const summed = run(
      G.map((v, i) => v + G2[i]),
      GhT.map((v, i) => v + GhT2[i]),
    );
    for (const k of ["dx", "dh0", ...TORCH_NAMES] as const) {
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
    const { layer, x, h0, G, GhT } = setup(41, { dropConnect: 0.25 });
    const r = layer.forward({ x, T, B, h0 });
    const d1 = layer.backward(r, { dOutput: G, dhT: GhT });
    const once = layer.getWeights();
    const g1 = Object.fromEntries(Object.entries(layer.grads).map(([k, v]) => [k, v.slice()]));
    const d2 = layer.backward(r, { dOutput: G, dhT: GhT });
    for (const [k, v] of Object.entries(layer.grads)) {
      assert.ok(
        g1[k].some((u) => u !== 0),
        `${k} has a gradient`,
      );
      assert.deepEqual(
        Array.from(v),
        Array.from(g1[k], (u) => 2 * u),
        `${k} doubled`,
      );
    }
    assert.deepEqual(d2.dx, d1.dx);
    assert.deepEqual(d2.dh0, d1.dh0);
    assert.deepEqual(layer.getWeights(), once, "backward does not touch the weights");
  });

  test("step() applied T times equals forward() in eval mode (with zoneout's evaluation mix)", () => {
    const { layer, x, h0 } = setup(51, { zoneout: 0.3, dropConnect: 0.3 });
    layer.eval();
    const r = layer.forward({ x, T, B, h0 });
    let state: GruState = { h: Float32Array.from(h0) };
    for (let t = 0; t < T; t++) {
      const s = layer.step(x.subarray(t * B * I, (t + 1) * B * I), B, state);
      assertClose(s.h, r.output.subarray(t * B * H, (t + 1) * B * H), { atol: 1e-6, rtol: 1e-6, name: `step ${t}` });
      state = s.state;
    }
    assertClose(state.h, r.state.h, { atol: 1e-6, rtol: 1e-6, name: "final state" });
    layer.train();
    const rt = layer.forward({ x, T, B, h0, masks: { zoneout: new Float32Array(T * B * H).fill(1) } });
    assert.notDeepEqual(rt.output, r.output, "the evaluation mix differs from taking every new value");
  });

  test("batch-first equals time-major after transposing (outputs and input gradients)", () => {
    const { layer, x, h0, G } = setup(61);
    layer.eval();
    const r = layer.forward({ x, T, B, h0 });
    const d = layer.backward(r, { dOutput: G });
    const rb = layer.forward({ x: swapAxes01(x, T, B, I), T, B, h0, batchFirst: true });
    const db = layer.backward(rb, { dOutput: swapAxes01(G, T, B, H) });
    assert.deepEqual(rb.output, swapAxes01(r.output, T, B, H));
    assert.deepEqual(rb.state.h, r.state.h);
    assert.deepEqual(db.dx, swapAxes01(d.dx, T, B, I));
    assert.deepEqual(db.dh0, d.dh0);
  });

  test("stats: dense MACs, no events; zero weights and state give all-zero outputs", () => {
    const { layer, x } = setup(71);
    const r = layer.forward({ x, T, B });
    const macs = T * B * (I * 3 * H + H * 3 * H);
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
    // z = σ(0) = ½, g = tanh(0) = 0, so h_t = ½·h_{t−1} = 0 from h_0 = 0
    assert.equal(layer.forward({ x, T, B }).stats.activitySparsity, 1);
  });
});

describe("bad input raises typed errors", () => {
  const layer = new GRU({ inputSize: 3, hiddenSize: 4 });
  test("wrong x length → ShapeError naming x", () => {
    assert.throws(
      () => layer.forward({ x: new Float32Array(2 * 3 * 3 - 1), T: 2, B: 3 }),
      (e: unknown) => {
        return e instanceof ShapeError && e.argument === "x" && /x/.test(e.message);
      },
    );
    assert.throws(
      () => layer.step(new Float32Array(4), 1),
      (e: unknown) => e instanceof ShapeError && e.argument === "x",
    );
  });
  test("NaN in a weight → NonFiniteError", () => {
    const l = new GRU({ inputSize: 3, hiddenSize: 4 });
    l.weights.recurrent_kernel[5] = NaN;
    assert.throws(
      () => l.forward({ x: new Float32Array(6), T: 1, B: 2 }),
      (e: unknown) => e instanceof NonFiniteError && /weight/.test(e.argument),
    );
    assert.throws(() => layer.setTorchWeights({ bias_hh_l0: new Float32Array(12).fill(Infinity) }), NonFiniteError);
  });
  test("hiddenSize 0 → ValueError; dropConnect 1.0 → ValueError; zoneout 1.0 → ValueError", () => {
    const names =
      (argument: string) =>
      (e: unknown): boolean =>
        e instanceof ValueError && e.argument === argument;
    assert.throws(() => new GRU({ inputSize: 3, hiddenSize: 0 }), names("hiddenSize"));
    assert.throws(() => new GRU({ inputSize: 3, hiddenSize: 4, dropConnect: 1.0 }), names("dropConnect"));
    assert.throws(() => new GRU({ inputSize: 3, hiddenSize: 4, zoneout: 1.0 }), names("zoneout"));
  });
  test("wrong weight lengths, wrong upstream length, masks in eval mode", () => {
    assert.throws(() => layer.setTorchWeights({ weight_ih_l0: new Float32Array(11) }), ShapeError);
    const r = layer.forward({ x: new Float32Array(6), T: 1, B: 2 });
    assert.throws(() => layer.backward(r, { dOutput: new Float32Array(7) }), ShapeError);
    assert.throws(() => layer.backward(r, { dhT: new Float32Array(7) }), ShapeError);
    const evalLayer = new GRU({ inputSize: 3, hiddenSize: 4 }).eval();
    const masks = { zoneout: new Float32Array(8) };
    assert.throws(() => evalLayer.forward({ x: new Float32Array(6), T: 1, B: 2, masks }), StateError);
  });
});
