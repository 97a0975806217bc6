// Properties of the float32 EGRU layer: events and thresholds, symmetry under batch permutation,
// determinism, linearity of backward, the accumulate contract, streaming steps, batch-first,
// zoneout in evaluation, extremes, and agreement with the float64 reference at odd sizes; each on
// every kernel set (test/kernel-sets.ts).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { heavisideEvent } from "../../packages/egru/src/kernels/activations.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { EGRU, initThresholds, type EgruState } from "../../packages/egru/src/layers/egru.js";
import { egruRefBackward, egruRefForward } from "../../packages/egru/src/reference/egru-ref.js";
import { layerForProblem, randomProblem, randomUpstream } from "../egru-cases.js";
import { assertClose, randomArray } from "../helpers.js";
import { describeOnKernelSets } from "../kernel-sets.js";

function randomLayer(
  kernels: Kernels,
  seed: number,
  I: number,
  H: number,
  extra: Partial<ConstructorParameters<typeof EGRU>[0]> = {},
): EGRU {
  return new EGRU({ inputSize: I, hiddenSize: H, seed, weightGain: 2, kernels, ...extra });
}

describeOnKernelSets("thresholds and events", (kernels) => {
  test("huge thresholds give no events and y ≡ 0 (clamp ϑ = 1, sigmoid θ = 40)", () => {
    for (const mode of ["clamp", "sigmoid"] as const) {
      const layer = randomLayer(kernels, 1, 5, 9, { thresholdMode: mode });
      layer.weights.thr.fill(mode === "clamp" ? 1 : 40);
      const x = randomArray(new Rng(2), 6 * 4 * 5, 3);
      const r = layer.forward({ x, T: 6, B: 4 });
      assert.equal(r.stats.events, 0);
      assert.ok(
        r.y.every((v) => v === 0),
        "y ≡ 0",
      );
      assert.equal(r.stats.activitySparsity, 1);
      assert.equal(r.stats.eventMacs, 6 * 4 * 5 * 27, "only the input product is left");
    }
  });

  test("H(0) = 0: c exactly at the threshold does not fire", () => {
    // update gate saturated (σ(40) = 1 in floating point), so c = z·h_{t−1} + (1 − z)·g = h_{t−1} exactly
    const layer = new EGRU({ inputSize: 1, hiddenSize: 1, thresholdMode: "clamp", kernels });
    layer.setWeights({ kernel: [0, 0, 0], recurrent_kernel: [0, 0, 0], bias: [40, 0, 0], recurrent_bias: [0, 0, 0] });
    const state = { y: new Float32Array(1), h: new Float32Array([0.25]), tr: new Float32Array(1) };
    layer.setWeights({ thr: [0.25] });
    const atThreshold = layer.step([0], 1, state);
    assert.equal(atThreshold.o[0], 0, "c == ϑ must not fire");
    assert.equal(atThreshold.state.h[0], 0.25, "no reset without an event");
    layer.setWeights({ thr: [0.2499] });
    const above = layer.step([0], 1, state);
    assert.equal(above.o[0], 1, "c just above ϑ fires");
    assert.equal(above.y[0], 0.25, "graded event: y = c");
  });

  test("o ∈ {0, 1}, y = c·o, h = c − o·ϑ, events are positive", () => {
    const layer = randomLayer(kernels, 3, 4, 11);
    const r = layer.forward({ x: randomArray(new Rng(4), 7 * 3 * 4, 2), T: 7, B: 3 });
    const theta = layer.thresholds();
    assert.ok(r.stats.events > 0 && r.stats.activitySparsity > 0, "some but not all fire");
    for (let i = 0; i < r.y.length; i++) {
      const o = r.o[i];
      assert.ok(o === 0 || o === 1);
      const c = r.h[i] + o * theta[i % 11];
      assert.ok(Math.abs(r.y[i] - c * o) < 1e-6);
      if (o === 1) assert.ok(r.y[i] > 0);
    }
  });

  test("clamp mode clamps the parameter in place", () => {
    const layer = new EGRU({ inputSize: 2, hiddenSize: 5, seed: 5, kernels });
    layer.setWeights({ thr: [1.7, -0.2, 0.5, 1, 0] });
    layer.forward({ x: [1, 2], T: 1, B: 1 });
    assert.deepEqual(Array.from(layer.weights.thr), [1, 0, 0.5, 1, 0]);
  });
});

describeOnKernelSets("statistics", (kernels) => {
  test("activity sparsity, backward sparsity and MACs are counted from the outputs", () => {
    const layer = randomLayer(kernels, 7, 3, 6, { pseudoDerivativeSupport: 2 });
    const T = 5;
    const B = 2;
    const y0 = new Float32Array(B * 6);
    y0[3] = 0.7;
    const r = layer.forward({ x: randomArray(new Rng(8), T * B * 3), T, B, y0 });
    const theta = layer.thresholds();
    let zeros = 0;
    let outside = 0;
    for (let i = 0; i < r.y.length; i++) {
      if (r.y[i] === 0) zeros++;
      const c = r.h[i] + r.o[i] * theta[i % 6];
      if (Math.abs(c - theta[i % 6]) > 0.5) outside++;
    }
    assert.equal(r.stats.activitySparsity, zeros / r.y.length);
    assert.equal(r.stats.backwardSparsity, outside / r.y.length);
    assert.equal(r.stats.denseMacs, T * B * (3 * 18 + 6 * 18));
    let active = 1; // the one nonzero of y0
    for (let i = 0; i < (T - 1) * B * 6; i++) if (r.y[i] !== 0) active++;
    assert.equal(r.stats.eventMacs, T * B * 3 * 18 + active * 18);
  });
});

describeOnKernelSets("statistics as the paper defines them, beside egru's", (kernels) => {
  for (const [T, B, I, H, s] of [
    [7, 3, 5, 13, 2],
    [3, 11, 1, 7, 1],
    [1, 1, 3, 1, 0.5],
  ]) {
    const first = T === 7;
    test(`backward sparsity on the post-reset h and effective MACs, from the outputs (T=${T} B=${B} I=${I} H=${H} s=${s})`, () => {
      const layer = randomLayer(kernels, 40 + T, I, H, { pseudoDerivativeSupport: s });
      const r = layer.forward({ x: randomArray(new Rng(50 + B), T * B * I, 1.5), T, B });
      const theta = layer.thresholds();
      const n = T * B * H;
      let onH = 0;
      let onC = 0;
      let differ = 0;
      let active = 0;
      for (let i = 0; i < n; i++) {
        const th = theta[i % H];
        const outH = Math.abs(r.h[i] - th) > 1 / s;
        const outC = Math.abs(r.h[i] + r.o[i] * th - th) > 1 / s; // c = h + o·ϑ
        onH += outH ? 1 : 0;
        onC += outC ? 1 : 0;
        differ += outH !== outC ? 1 : 0;
        if (r.y[i] !== 0) active++;
      }
      assert.equal(r.stats.paperBackwardSparsity, onH / n, "the paper's, on h");
      assert.equal(r.stats.backwardSparsity, onC / n, "egru's, on c, unchanged");
      if (first) assert.ok(differ > 0, "the two count different units (h = c − ϑ where a unit fired)");
      const dense = T * B * (I * 3 * H + H * 3 * H);
      assert.equal(r.stats.denseMacs, dense);
      const effective = dense * (active / n);
      assert.ok(
        Math.abs(r.stats.paperEffectiveMacs - effective) <= 1e-9 * dense,
        `${r.stats.paperEffectiveMacs} vs ${effective}`,
      );
    });
  }
});

describeOnKernelSets("symmetries and contracts", (kernels) => {
  const T = 4;
  const B = 5;
  const I = 3;
  const H = 7;
  const n = T * B * H;

  test("permuting the batch permutes outputs and gradients", () => {
    const rng = new Rng(9);
    const x = randomArray(rng, T * B * I, 2);
    const y0 = randomArray(rng, B * H, 0.5);
    const G = randomUpstream(rng, n);
    const perm = [3, 0, 4, 1, 2];
    const permute = (a: ArrayLike<number>, F: number, steps: number): Float64Array => {
      const out = new Float64Array(a.length);
      for (let t = 0; t < steps; t++)
        for (let b = 0; b < B; b++) for (let f = 0; f < F; f++) out[(t * B + b) * F + f] = a[(t * B + perm[b]) * F + f];
      return out;
    };
    const run = (xs: ArrayLike<number>, y0s: ArrayLike<number>, g: typeof G) => {
      const layer = randomLayer(kernels, 10, I, H);
      const r = layer.forward({ x: xs, T, B, y0: y0s });
      const d = layer.backward(r, { dy: g.y, dh: g.h, do: g.o, dtrace: g.tr });
      return { r, d, grads: layer.grads };
    };
    const a = run(x, y0, G);
    const pg = { y: permute(G.y, H, T), h: permute(G.h, H, T), o: permute(G.o, H, T), tr: permute(G.tr, H, T) };
    const b = run(permute(x, I, T), permute(y0, H, 1), pg);
    assert.ok(a.r.stats.events > 0);
    for (const k of ["y", "h", "o", "trace"] as const)
      assertClose(b.r[k], permute(a.r[k], H, T), { atol: 1e-6, name: k });
    assertClose(b.d.dx, permute(a.d.dx, I, T), { atol: 1e-6, rtol: 1e-5, name: "dx" });
    assertClose(b.d.dy0, permute(a.d.dy0, H, 1), { atol: 1e-6, rtol: 1e-5, name: "dy0" });
    // parameter gradients are sums over the batch: equal up to float32 summation order
    for (const k of Object.keys(a.grads)) assertClose(b.grads[k], a.grads[k], { atol: 1e-5, rtol: 1e-5, name: k });
  });

  test("the same seed gives bit-identical weights, masks, outputs and gradients", () => {
    const run = () => {
      const layer = randomLayer(kernels, 11, I, H, { dropConnect: 0.3, zoneout: 0.2 });
      const x = randomArray(new Rng(12), T * B * I);
      const r = layer.forward({ x, T, B });
      layer.backward(r, { dy: randomArray(new Rng(13), n) });
      return [r.y, r.h, r.trace, ...Object.values(layer.grads)].map((a) =>
        Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex"),
      );
    };
    assert.deepEqual(run(), run());
  });

  test("backward is linear in the upstream gradient", () => {
    const layer = randomLayer(kernels, 14, I, H);
    const r = layer.forward({ x: randomArray(new Rng(15), T * B * I, 2), T, B });
    const rng = new Rng(16);
    const G1 = randomUpstream(rng, n);
    const G2 = randomUpstream(rng, n);
    const grads = (g: typeof G1) => {
      layer.zeroGrad();
      const d = layer.backward(r, { dy: g.y, dh: g.h, do: g.o, dtrace: g.tr });
      return [d.dx, d.dy0, ...Object.values(layer.grads).map((a) => a.slice())];
    };
    const add = (a: typeof G1, b: typeof G1, s = 1): typeof G1 => ({
      y: a.y.map((v, i) => v + s * b.y[i]),
      h: a.h.map((v, i) => v + s * b.h[i]),
      o: a.o.map((v, i) => v + s * b.o[i]),
      tr: a.tr.map((v, i) => v + s * b.tr[i]),
    });
    const g1 = grads(G1);
    const g2 = grads(G2);
    const g12 = grads(add(G1, G2));
    const g2x = grads(add(G1, G1));
    g1.forEach((a, i) => {
      assertClose(
        g12[i],
        a.map((v, j) => v + g2[i][j]),
        { atol: 1e-5, rtol: 1e-4, name: `sum ${i}` },
      );
      assertClose(
        g2x[i],
        a.map((v) => 2 * v),
        { atol: 1e-6, rtol: 1e-6, name: `double ${i}` },
      );
    });
  });

  test("backward accumulates parameter gradients: twice gives double", () => {
    const layer = randomLayer(kernels, 17, I, H);
    const r = layer.forward({ x: randomArray(new Rng(18), T * B * I), T, B });
    const G = { dy: randomArray(new Rng(19), n) };
    layer.backward(r, G);
    const once = Object.fromEntries(Object.entries(layer.grads).map(([k, v]) => [k, v.slice()]));
    layer.backward(r, G);
    for (const k of Object.keys(once))
      assertClose(
        layer.grads[k],
        once[k].map((v) => 2 * v),
        { atol: 1e-6, name: k },
      );
    layer.zeroGrad();
    assert.ok(Object.values(layer.grads).every((a) => a.every((v) => v === 0)));
  });

  test("step() T times equals forward() in evaluation mode, including zoneout", () => {
    const layer = randomLayer(kernels, 20, I, H, { zoneout: 0.3, dropConnect: 0.5 }).eval();
    const x = randomArray(new Rng(21), T * B * I, 2);
    const y0 = randomArray(new Rng(22), B * H, 0.5);
    const r = layer.forward({ x, T, B, y0 });
    let state: EgruState = { y: Float32Array.from(y0), h: new Float32Array(B * H), tr: new Float32Array(B * H) };
    for (let t = 0; t < T; t++) {
      const s = layer.step(x.subarray(t * B * I, (t + 1) * B * I), B, state);
      assertClose(s.y, r.y.subarray(t * B * H, (t + 1) * B * H), { atol: 0, rtol: 0, name: `y step ${t}` });
      state = s.state;
    }
    assertClose(state.tr, r.state.tr, { atol: 0, rtol: 0, name: "trace" });
    assertClose(state.h, r.state.h, { atol: 0, rtol: 0, name: "h" });
  });

  test("batch-first input gives the transposed time-major results", () => {
    const layer = randomLayer(kernels, 23, I, H);
    layer.eval();
    const x = randomArray(new Rng(24), T * B * I);
    const xbf = new Float64Array(x.length);
    for (let t = 0; t < T; t++)
      for (let b = 0; b < B; b++) for (let i = 0; i < I; i++) xbf[(b * T + t) * I + i] = x[(t * B + b) * I + i];
    const tm = layer.forward({ x, T, B });
    const bf = layer.forward({ x: xbf, T, B, batchFirst: true });
    for (let t = 0; t < T; t++)
      for (let b = 0; b < B; b++)
        for (let j = 0; j < H; j++) assert.equal(bf.y[(b * T + t) * H + j], tm.y[(t * B + b) * H + j]);
    const dbf = layer.backward(bf, { dtrace: new Float32Array(n).fill(0.5) });
    const dtm = layer.backward(tm, { dtrace: new Float32Array(n).fill(0.5) });
    for (let t = 0; t < T; t++)
      for (let b = 0; b < B; b++)
        for (let i = 0; i < I; i++) assert.equal(dbf.dx[(b * T + t) * I + i], dtm.dx[(t * B + b) * I + i]);
  });

  test("zoneout in evaluation mixes in the new state (not the buggy h_{t−1} copy)", () => {
    const p = 0.4;
    const layer = randomLayer(kernels, 25, I, H, { zoneout: p }).eval();
    const plain = randomLayer(kernels, 25, I, H).eval();
    const x = randomArray(new Rng(26), B * I, 2);
    const h0 = randomArray(new Rng(27), B * H, 0.5);
    const z = layer.step(x, B, { y: new Float32Array(B * H), h: Float32Array.from(h0), tr: new Float32Array(B * H) });
    const c0 = plain.step(x, B, { y: new Float32Array(B * H), h: Float32Array.from(h0), tr: new Float32Array(B * H) });
    const theta = layer.thresholds();
    for (let i = 0; i < B * H; i++) {
      const cPlain = c0.state.h[i] + c0.o[i] * theta[i % H];
      const cZone = z.state.h[i] + z.o[i] * theta[i % H];
      assert.ok(Math.abs(cZone - (p * h0[i] + (1 - p) * cPlain)) < 1e-6, `unit ${i}`);
    }
  });

  test("zoneout p → 1 in training keeps the state: c_t = h_{t−1}", () => {
    const layer = randomLayer(kernels, 28, I, H, { zoneout: 0.5 });
    layer.weights.thr.fill(1); // no events: h = c
    const r = layer.forward({ x: randomArray(new Rng(29), T * B * I), T, B, masks: { zoneout: new Float32Array(n) } });
    assert.ok(
      r.h.every((v) => v === 0),
      "all-zero keep-mask: the state never leaves h_0 = 0",
    );
  });

  test("DropConnect: one mask per forward call, kept entries rescaled by 1/(1 − p)", () => {
    const layer = randomLayer(kernels, 30, I, H, { dropConnect: 0.5 });
    const x = randomArray(new Rng(31), T * B * I);
    const ones = new Float32Array(H * 3 * H).fill(1);
    const halfR = layer.getWeights();
    const ref = randomLayer(kernels, 30, I, H);
    // with the all-ones mask, DropConnect at p = 0.5 is the plain layer with R doubled
    for (let i = 0; i < halfR.recurrent_kernel.length; i++) halfR.recurrent_kernel[i] *= 2;
    ref.setWeights(halfR);
    ref.eval();
    const a = layer.forward({ x, T, B, masks: { dropConnect: ones } });
    const b = ref.forward({ x, T, B });
    assertClose(a.y, b.y, { atol: 0, name: "y" });
    // drawn masks differ between calls
    const m1 = layer.forward({ x, T, B }).y;
    const m2 = layer.forward({ x, T, B }).y;
    assert.ok(
      m1.some((v, i) => v !== m2[i]),
      "a new mask each call",
    );
  });

  test("pre-activations of ±300 stay finite and give finite gradients", () => {
    const layer = randomLayer(kernels, 32, I, H);
    const x = new Float64Array(T * B * I).map((_, i) => (i % 2 ? 300 : -300));
    const r = layer.forward({ x, T, B });
    assert.ok(r.y.every(Number.isFinite) && r.h.every(Number.isFinite));
    const d = layer.backward(r, { dy: new Float32Array(n).fill(1) });
    assert.ok(d.dx.every(Number.isFinite));
    assert.ok(Object.values(layer.grads).every((a) => a.every(Number.isFinite)));
  });
});

describeOnKernelSets("float32 layer equals the float64 reference at odd sizes", (kernels) => {
  const sizes = [1, 3, 7, 17, 33];
  // each size appears in every position at least once; 33 never twice in one case, to keep it quick
  const combos: [number, number, number, number][] = [
    [1, 1, 1, 1],
    [3, 7, 17, 33],
    [7, 17, 33, 1],
    [17, 33, 1, 3],
    [33, 1, 3, 7],
    [3, 3, 3, 3],
    [7, 1, 33, 17],
    [1, 33, 7, 7],
  ];
  for (const s of sizes) assert.ok(combos.some((c) => c.every((v, i) => combos.some((d) => d[i] === s) && v > 0)));
  for (const [T, B, I, H] of combos) {
    test(`T=${T} B=${B} I=${I} H=${H}`, () => {
      const p = randomProblem({ T, B, I, H, seed: 1000 + T * 7 + B * 13 + I * 17 + H, weightScale: 1.2 });
      // the reference sees the float32-rounded values the layer holds
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
      const G = randomUpstream(new Rng(T + B + I + H), T * B * H);
      const refG = egruRefBackward(q, ref, G);
      const layer = layerForProblem(q, kernels);
      layer.eval();
      const r = layer.forward({ x: q.x, T, B, y0: q.y0 });
      const flips = r.o.reduce((n, v, i) => n + (v !== ref.o[i] ? 1 : 0), 0);
      assert.equal(flips, 0, "an event flipped between float32 and float64");
      // forward: float32 rounding through ≤ 33 steps of O(1) values
      const fo = { atol: 1e-5, rtol: 1e-4 };
      assertClose(r.y, ref.y, { ...fo, name: "y" });
      assertClose(r.h, ref.h, { ...fo, name: "h" });
      assertClose(r.trace, ref.tr, { ...fo, name: "trace" });
      const d = layer.backward(r, { dy: G.y, dh: G.h, do: G.o, dtrace: G.tr });
      // gradients sum up to T·B = 231 terms of O(1–10): allow float32 summation error of that size
      const go = { atol: 2e-4, rtol: 1e-3 };
      assertClose(d.dx, refG.x, { ...go, name: "dx" });
      assertClose(d.dy0, refG.y0, { ...go, name: "dy0" });
      assertClose(layer.grads.kernel, refG.W, { ...go, name: "dkernel" });
      assertClose(layer.grads.recurrent_kernel, refG.R, { ...go, name: "drecurrent_kernel" });
      assertClose(layer.grads.bias, refG.bx, { ...go, name: "dbias" });
      assertClose(layer.grads.recurrent_bias, refG.br, { ...go, name: "drecurrent_bias" });
      assertClose(layer.grads.thr, refG.thr, { ...go, name: "dthr" });
    });
  }
});

test("threshold init: Beta with mean m (clamp), N(μ, √2) logits (sigmoid)", () => {
  const n = 40000;
  const beta = new Float32Array(n);
  initThresholds(new Rng(5), beta, "clamp", 0.2);
  const mean = (a: Float32Array) => a.reduce((s, v) => s + v, 0) / a.length;
  // Beta(0.75, 3): std 0.18, so the mean of 40000 draws has std 0.0009
  assert.ok(Math.abs(mean(beta) - 0.2) < 0.004, `Beta mean ${mean(beta)}`);
  assert.ok(beta.every((v) => v >= 0 && v <= 1));
  const logits = new Float32Array(n);
  initThresholds(new Rng(6), logits, "sigmoid", -1);
  const m = mean(logits);
  const variance = logits.reduce((s, v) => s + (v - m) ** 2, 0) / n;
  assert.ok(Math.abs(m + 1) < 0.03, `mean ${m}`); // std of the mean 0.007
  assert.ok(Math.abs(variance - 2) < 0.07, `variance ${variance}`); // std of the variance 0.014
});

test("the default event function is the Heaviside step with the configured surrogate", () => {
  const layer = new EGRU({ inputSize: 1, hiddenSize: 1, dampeningFactor: 2, pseudoDerivativeSupport: 4 });
  const ref = heavisideEvent(2, 4);
  for (const v of [-1, -0.2, 0, 0.1, 0.3]) {
    assert.equal(layer.event.f(v), ref.f(v));
    assert.equal(layer.event.df(v), ref.df(v));
  }
  assert.equal(layer.event.df(0), 2);
  assert.equal(layer.event.df(0.25), 0);
});
