// EvNN's clip inside the EGRU backward (gradClip; docs/egru-math.md §3.7): each backward call
// scales ITS OWN gradients of y0, W, R, bx, br and the thresholds by clamp(max/(norm + 1e-6), 0, 1),
// the norm over exactly those six as the kernel returns them (effective R and ϑ); dx is not scaled.
//   - the float64 reference with the clip rule written out here equals PyTorch's clipped steps
//     (tools/gen_clip_fixtures.py) to 1e-10, and the float32 layer equals them to float32 accuracy;
//   - the float32 layer equals the float64 reference with the clip rule at odd sizes (DropConnect,
//     zoneout, both threshold modes, evaluation), acting or not;
//   - against central differences of a smooth forward: unclipped, the gradients; clipped, the
//     gradients times the factor the differences' own norm gives;
//   - accumulation: a second call adds its clipped contribution, what the first left is not rescaled;
//     dx is the unclipped one bit for bit; a gradient group of row blocks clips like one call;
//   - bad options and group misuse are typed errors.
// Every numeric case runs on every kernel set (test/kernel-sets.ts): the clip is the layer's, after
// the kernels' backward, so it must agree on all of them.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StateError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { smoothEvent } from "../../packages/egru/src/kernels/activations.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import {
  egruRefBackward,
  egruRefForward,
  type EgruRefGrads,
  type EgruRefProblem,
} from "../../packages/egru/src/reference/egru-ref.js";
import {
  fixtureMasks,
  fixtureUpstream,
  layerForProblem,
  layerFromFixture,
  linearLoss,
  problemFromFixture,
  type EgruFixture,
  type FixtureCase,
  problemMasks,
  randomProblem,
  randomUpstream,
  type RandomProblemOptions,
  type Upstream,
} from "../egru-cases.js";
import { assertClose, centralDiff, fixtureNames, loadFixture, randomArray } from "../helpers.js";
import { describeOnKernelSets } from "../kernel-sets.js";

type Grad = "x" | "y0" | "W" | "R" | "bx" | "br" | "thr";
const GRADS: Grad[] = ["x", "y0", "W", "R", "bx", "br", "thr"];
/** The layer's parameter names for the reference's gradient names. */
const PARAM_OF = { W: "kernel", R: "recurrent_kernel", bx: "bias", br: "recurrent_bias", thr: "thr" } as const;
// the float32 tolerances of the existing fixture tests (egru.fixtures.test.ts)
const OUT = { atol: 1e-5, rtol: 1e-4 };
const GRAD = { atol: 1e-4, rtol: 1e-3 };

const sumSq = (a: ArrayLike<number>): number => Array.from(a).reduce((s, v) => s + v * v, 0);

/** The same forward with R_eff (after DropConnect) and ϑ as its parameters: its gradients are the kernel's. */
function effectiveProblem(p: EgruRefProblem, theta: Float64Array): EgruRefProblem {
  const dc = p.dropConnect;
  const R = Float64Array.from(p.R, (v, i) => (dc ? (v * dc.mask[i]) / (1 - dc.p) : v));
  return { ...p, R, dropConnect: null, thresholdMode: "clamp", thr: theta };
}

/** The clip rule, written out in float64 on the reference: factor from the effective gradients, applied to all but dx. */
function clippedReference(
  p: EgruRefProblem,
  G: Upstream,
  maxNorm: number,
): { grads: EgruRefGrads; norm: number; scale: number } {
  const fwd = egruRefForward(p);
  const g = egruRefBackward(p, fwd, G);
  const q = effectiveProblem(p, fwd.theta);
  const e = egruRefBackward(q, egruRefForward(q), G);
  const norm = Math.sqrt([e.y0, e.W, e.R, e.bx, e.br, e.thr].reduce((s, a) => s + sumSq(a), 0));
  const scale = Math.min(1, Math.max(0, maxNorm / (norm + 1e-6)));
  const grads = { ...g };
  for (const k of GRADS) if (k !== "x") grads[k] = Float64Array.from(g[k], (v) => v * scale);
  return { grads, norm, scale };
}

/** Float32-rounded copies of the problem's arrays: what a float32 layer holds. */
function asFloat32(p: EgruRefProblem): EgruRefProblem {
  const f = (a: ArrayLike<number>): Float64Array => Float64Array.from(Float32Array.from(a));
  return { ...p, x: f(p.x), y0: f(p.y0), W: f(p.W), R: f(p.R), bx: f(p.bx), br: f(p.br), thr: f(p.thr) };
}

/** Compare a layer's returned and accumulated gradients with the expected ones. */
function assertGrads(
  layer: EGRU,
  d: { dx: ArrayLike<number>; dy0: ArrayLike<number> },
  want: Record<Grad, ArrayLike<number>>,
  tol: { atol: number; rtol: number },
  label: string,
): void {
  assertClose(d.dx, want.x, { ...tol, name: `${label}: dx` });
  assertClose(d.dy0, want.y0, { ...tol, name: `${label}: dy0` });
  for (const [k, name] of Object.entries(PARAM_OF))
    assertClose(layer.grads[name], want[k as Grad], { ...tol, name: `${label}: d${name}` });
}

// ---- PyTorch fixtures ------------------------------------------------------------------------

/** A clip fixture of tools/gen_clip_fixtures.py: one layer, two clipped backward calls. */
interface ClipFixture {
  dims: EgruFixture["dims"];
  config: EgruFixture["config"] & { maxNorm: number };
  weights: EgruFixture["weights"];
  calls: (Pick<EgruFixture, "inputs" | "masks" | "upstream" | "outputs"> & {
    norm: number;
    scale: number;
    clipped: EgruFixture["grads"];
  })[];
  accumulated: Record<"kernel" | "recurrent_kernel" | "bias" | "recurrent_bias" | "thr", number[]>;
}

const clipFixtures = fixtureNames("clip-egru-").map((name) => ({ name, f: loadFixture(name) as ClipFixture }));

/** One call of a clip fixture, as the fixture builders take it. */
const callCase = (f: ClipFixture, call: ClipFixture["calls"][number]): FixtureCase => ({
  ...f,
  inputs: call.inputs,
  masks: call.masks,
});

/** The worst |a − e| and |a − e|/|e| (over |e| ≥ 0.01) seen against the fixtures, printed at the end. */
const agreement = { abs: 0, rel: 0, scale: 0 };
function measure(a: ArrayLike<number>, e: ArrayLike<number>): void {
  for (let i = 0; i < e.length; i++) {
    const d = Math.abs(a[i] - e[i]);
    agreement.abs = Math.max(agreement.abs, d);
    if (Math.abs(e[i]) >= 0.01) agreement.rel = Math.max(agreement.rel, d / Math.abs(e[i]));
  }
}

describe("clip fixtures (PyTorch, tools/gen_clip_fixtures.py)", () => {
  test("there are clip fixtures, each with two calls whose clip acts", () => {
    assert.ok(clipFixtures.length >= 2, `${clipFixtures.length} clip fixtures`);
    for (const { name, f } of clipFixtures) {
      assert.equal(f.calls.length, 2, name);
      for (const c of f.calls) assert.ok(c.scale > 0 && c.scale < 0.9, `${name}: scale ${c.scale}`);
    }
  });

  for (const { name, f } of clipFixtures) {
    test(`${name}: the float64 reference with the clip rule written out equals PyTorch (1e-10)`, () => {
      const tol = { atol: 1e-10, rtol: 1e-10 };
      for (const [k, call] of f.calls.entries()) {
        const r = clippedReference(
          problemFromFixture(callCase(f, call)),
          fixtureUpstream(call.upstream),
          f.config.maxNorm,
        );
        assert.ok(Math.abs(r.norm - call.norm) <= 1e-10 * call.norm, `call ${k + 1}: norm ${r.norm} vs ${call.norm}`);
        assert.ok(Math.abs(r.scale - call.scale) <= 1e-12, `call ${k + 1}: scale ${r.scale} vs ${call.scale}`);
        assertClose(r.grads.x, call.clipped.x, { ...tol, name: "dx" });
        assertClose(r.grads.y0, call.clipped.y0, { ...tol, name: "dy0" });
        for (const [g, p] of Object.entries(PARAM_OF))
          assertClose(r.grads[g as Grad], call.clipped[p], { ...tol, name: `call ${k + 1}: d${p}` });
      }
    });
  }
});

describeOnKernelSets("float32 layer with gradClip matches PyTorch's clipped steps", (kernels) => {
  for (const { name, f } of clipFixtures) {
    test(`${name}: two calls, each clipped on its own, accumulated`, () => {
      const layer = layerFromFixture(f, kernels, { gradClip: f.config.maxNorm });
      const { T, B } = f.dims;
      for (const [k, call] of f.calls.entries()) {
        const masks = fixtureMasks(callCase(f, call));
        const r = layer.forward({ x: call.inputs.x, T, B, y0: call.inputs.y0, masks });
        assertClose(r.y, call.outputs.y, { ...OUT, name: "y" });
        assert.deepEqual(Array.from(r.o), call.outputs.o, "o");
        const u = call.upstream;
        const d = layer.backward(r, { dy: u.y, dh: u.h, do: u.o, dtrace: u.trace });
        assert.ok(
          d.clipScale !== null && Math.abs(d.clipScale - call.scale) <= 1e-5 * call.scale,
          `scale ${d.clipScale}`,
        );
        assertClose(d.dx, call.clipped.x, { ...GRAD, name: `call ${k + 1}: dx (not scaled)` });
        assertClose(d.dy0, call.clipped.y0, { ...GRAD, name: `call ${k + 1}: dy0` });
        measure(d.dx, call.clipped.x);
        measure(d.dy0, call.clipped.y0);
        agreement.scale = Math.max(agreement.scale, Math.abs(d.clipScale - call.scale) / call.scale);
        // after the first call the layer holds its clipped gradients; after the second, their sum
        const want = k === 0 ? call.clipped : f.accumulated;
        for (const p of Object.values(PARAM_OF)) {
          assertClose(layer.grads[p], want[p], { ...GRAD, name: `after call ${k + 1}: d${p}` });
          measure(layer.grads[p], want[p]);
        }
        r.release();
      }
    });
  }

  test("agreement with the fixtures", () => {
    console.log(
      `# clip fixtures [${kernels.name}]: max abs error ${agreement.abs.toExponential(2)}, max rel error ` +
        `${agreement.rel.toExponential(2)} (entries ≥ 0.01), clip factor rel error ${agreement.scale.toExponential(2)}`,
    );
  });
});

// ---- float64 reference at odd sizes ---------------------------------------------------------------

describeOnKernelSets(
  "float32 layer with gradClip equals the float64 reference with the clip rule at odd sizes",
  (kernels) => {
    const cases: [string, RandomProblemOptions][] = [
      ["clamp, DropConnect, T=3 B=7 I=5 H=13", { T: 3, B: 7, I: 5, H: 13, seed: 301, dropConnect: 0.3 }],
      [
        "sigmoid, zoneout (training), T=7 B=3 I=1 H=17",
        { T: 7, B: 3, I: 1, H: 17, seed: 302, thresholdMode: "sigmoid", zoneout: { kind: "train", p: 0.3 } },
      ],
      [
        "clamp, evaluation with zoneout, T=5 B=1 I=7 H=3",
        { T: 5, B: 1, I: 7, H: 3, seed: 303, zoneout: { kind: "eval", p: 0.2 } },
      ],
      ["T=B=I=H=1", { T: 1, B: 1, I: 1, H: 1, seed: 304 }],
    ];
    for (const [label, opts] of cases) {
      // the clip acting (limit half the norm) and not (limit twice the norm)
      for (const share of [0.5, 2]) {
        test(`${label}, limit ${share} × the norm`, () => {
          const p = asFloat32(randomProblem({ ...opts, weightScale: 1.2 }));
          const G = randomUpstream(new Rng(opts.seed + 7), p.T * p.B * p.H);
          const norm = clippedReference(p, G, 1).norm;
          const want = clippedReference(p, G, share * norm);
          assert.ok(share < 1 ? want.scale < 0.6 : want.scale === 1, `scale ${want.scale}`);
          const layer = layerForProblem(p, kernels, 0.7, 1.0, { gradClip: share * norm });
          const r = layer.forward({ x: p.x, T: p.T, B: p.B, y0: p.y0, masks: problemMasks(p) });
          const ref = egruRefForward(p);
          assert.equal(
            r.o.reduce((n, v, i) => n + (v !== ref.o[i] ? 1 : 0), 0),
            0,
            "no event flips",
          );
          const d = layer.backward(r, { dy: G.y, dh: G.h, do: G.o, dtrace: G.tr });
          assert.ok(d.clipScale !== null && Math.abs(d.clipScale - want.scale) <= 1e-5 * want.scale, `${d.clipScale}`);
          assertGrads(layer, d, want.grads, { atol: 2e-4, rtol: 1e-3 }, label);
        });
      }
    }
  },
);

// ---- finite differences -------------------------------------------------------------------------------

describeOnKernelSets("gradClip against central differences of a smooth forward", (kernels) => {
  // σ(3u) for the step, so the loss is differentiable; DropConnect and sigmoid thresholds make
  // the effective R and ϑ differ from the stored parameters
  const opts: RandomProblemOptions = {
    T: 3,
    B: 2,
    I: 3,
    H: 5,
    seed: 41,
    thresholdMode: "sigmoid",
    dropConnect: 0.4,
    event: smoothEvent(3),
  };
  const p = asFloat32(randomProblem(opts));
  const G = randomUpstream(new Rng(42), p.T * p.B * p.H);
  /** Central differences of the loss for every coordinate of every array of q. */
  const differences = (q: EgruRefProblem): Record<Grad, Float64Array> => {
    const m = { ...q } as EgruRefProblem & Record<Grad, Float64Array>;
    for (const k of GRADS) m[k] = Float64Array.from(q[k]);
    const loss = (): number => linearLoss(egruRefForward(m), G);
    return Object.fromEntries(GRADS.map((k) => [k, centralDiff(loss, m[k], 1e-6)])) as Record<Grad, Float64Array>;
  };
  const fd = differences(p);
  const fdEff = differences(effectiveProblem(p, egruRefForward(p).theta));
  const norm = Math.sqrt((["y0", "W", "R", "bx", "br", "thr"] as Grad[]).reduce((s, k) => s + sumSq(fdEff[k]), 0));

  for (const [what, limit] of [
    ["unclipped (limit above the norm): the gradients", 10 * norm],
    ["clipped: the gradients times the factor of the differences' norm", 0.3 * norm],
  ] as const) {
    test(what, () => {
      const scale = Math.min(1, limit / (norm + 1e-6));
      const want = Object.fromEntries(
        GRADS.map((k) => [k, k === "x" ? fd.x : Float64Array.from(fd[k], (v) => v * scale)]),
      ) as Record<Grad, Float64Array>;
      const layer = layerForProblem(p, kernels, 0.7, 1.0, { gradClip: limit });
      const r = layer.forward({ x: p.x, T: p.T, B: p.B, y0: p.y0, masks: problemMasks(p) });
      const d = layer.backward(r, { dy: G.y, dh: G.h, do: G.o, dtrace: G.tr });
      assert.ok(d.clipScale !== null && Math.abs(d.clipScale - scale) <= 1e-5, `factor ${d.clipScale} vs ${scale}`);
      // float32 layer against float64 differences: float32 accuracy
      assertGrads(layer, d, want, { atol: 1e-4, rtol: 1e-3 }, what);
    });
  }
});

// ---- accumulation, dx, groups ----------------------------------------------------------------------

/** A layer of odd size with DropConnect and sigmoid thresholds (both carry gradients after the clip). */
function clipLayer(kernels: Kernels, gradClip: number): EGRU {
  return new EGRU({
    inputSize: 5,
    hiddenSize: 11,
    seed: 8,
    weightGain: 1.5,
    thresholdMode: "sigmoid",
    dropConnect: 0.25,
    gradClip,
    kernels,
  });
}

describeOnKernelSets("the clip acts on each call's own contribution", (kernels) => {
  const T = 6;
  const B = 3;
  const n = T * B * 11;
  const rng = new Rng(12);
  const xs = [randomArray(rng, T * B * 5, 1.5), randomArray(rng, T * B * 5, 1.5)];
  const gs = [randomUpstream(rng, n), randomUpstream(rng, n)];
  const dcMask = Float32Array.from({ length: 11 * 33 }, (_, i) => (i % 4 === 1 ? 0 : 1));

  /** Backward of call k on `layer`, with the shared DropConnect mask. */
  const call = (layer: EGRU, k: number) => {
    const r = layer.forward({ x: xs[k], T, B, masks: { dropConnect: dcMask } });
    return layer.backward(r, { dy: gs[k].y, dh: gs[k].h, do: gs[k].o, dtrace: gs[k].tr });
  };

  test("a second call adds factor × its gradients; the first call's are not rescaled; dx is unscaled", () => {
    const plain = clipLayer(kernels, 0); // no clip: each call's own gradients
    const own = [0, 1].map((k) => {
      plain.zeroGrad();
      const d = call(plain, k);
      return { d, grads: Object.fromEntries(Object.entries(plain.grads).map(([name, g]) => [name, g.slice()])) };
    });
    const clipped = clipLayer(kernels, 0.5);
    const d1 = call(clipped, 0);
    const after1 = Object.fromEntries(Object.entries(clipped.grads).map(([name, g]) => [name, g.slice()]));
    const d2 = call(clipped, 1);
    const [s1, s2] = [d1.clipScale, d2.clipScale];
    assert.ok(s1 !== null && s2 !== null && s1 < 0.5 && s2 < 0.5 && s1 !== s2, `factors ${s1}, ${s2}`);
    for (const [k, d] of [d1, d2].entries()) {
      const factor: number = k === 0 ? s1 : s2;
      assert.deepEqual(d.dx, own[k].d.dx, `call ${k + 1}: dx is not scaled (bit for bit)`);
      assert.deepEqual(
        d.dy0,
        own[k].d.dy0.map((v) => Math.fround(v * factor)),
        `call ${k + 1}: dy0 = factor × dy0`,
      );
    }
    for (const [name, g] of Object.entries(clipped.grads)) {
      const first = Float64Array.from(own[0].grads[name], (v) => v * s1);
      assertClose(after1[name], first, { atol: 1e-7, rtol: 1e-6, name: `after call 1: ${name}` });
      const sum = Float64Array.from(own[1].grads[name], (v, i) => after1[name][i] + v * s2);
      assertClose(g, sum, { atol: 1e-7, rtol: 1e-6, name: `after call 2: ${name} = call 1's + factor × call 2's` });
    }
  });

  test("the clip off, or a limit above the norm, gives the unclipped gradients bit for bit", () => {
    const plain = clipLayer(kernels, 0);
    const loose = clipLayer(kernels, 1e6);
    const a = call(plain, 0);
    const b = call(loose, 0);
    assert.equal(a.clipScale, 1);
    assert.equal(b.clipScale, 1);
    assert.deepEqual([b.dx, b.dy0], [a.dx, a.dy0]);
    for (const [name, g] of Object.entries(plain.grads)) assert.deepEqual(loose.grads[name], g, name);
  });

  test("a gradient group over row blocks clips like one call on the whole batch", () => {
    const whole = clipLayer(kernels, 0.5);
    const d = call(whole, 0);
    const parts = clipLayer(kernels, 0.5);
    parts.beginGradGroup();
    const dy0: number[] = [];
    for (const [b0, b1] of [
      [0, 1],
      [1, 3],
    ]) {
      const rows = (a: ArrayLike<number>, F: number): Float64Array => {
        const out = new Float64Array(T * (b1 - b0) * F);
        for (let t = 0; t < T; t++)
          for (let b = b0; b < b1; b++)
            for (let f = 0; f < F; f++) out[(t * (b1 - b0) + b - b0) * F + f] = a[(t * B + b) * F + f];
        return out;
      };
      const r = parts.forward({ x: rows(xs[0], 5), T, B: b1 - b0, masks: { dropConnect: dcMask } });
      const g = gs[0];
      const db = parts.backward(r, { dy: rows(g.y, 11), dh: rows(g.h, 11), do: rows(g.o, 11), dtrace: rows(g.tr, 11) });
      assert.equal(db.clipScale, null, "inside a group the factor is not known yet");
      dy0.push(...db.dy0);
    }
    const f = parts.endGradGroup();
    assert.ok(
      d.clipScale !== null && d.clipScale < 0.5 && Math.abs(f - d.clipScale) <= 1e-5 * d.clipScale,
      `${f} vs ${d.clipScale}`,
    );
    // float32 sums in another order (per block, then over blocks)
    assertClose(
      dy0.map((v) => v * f),
      d.dy0,
      { atol: 1e-6, rtol: 1e-5, name: "dy0 × the group's factor" },
    );
    for (const [name, g] of Object.entries(whole.grads))
      assertClose(parts.grads[name], g, { atol: 1e-6, rtol: 1e-5, name: `grouped ${name}` });
  });
  test("a group's sums taken on a replica and merged give the bits of one group over both blocks", () => {
    const rows = (a: ArrayLike<number>, F: number, b0: number, b1: number): Float64Array => {
      const out = new Float64Array(T * (b1 - b0) * F);
      for (let t = 0; t < T; t++)
        for (let b = b0; b < b1; b++)
          for (let f = 0; f < F; f++) out[(t * (b1 - b0) + b - b0) * F + f] = a[(t * B + b) * F + f];
      return out;
    };
    const block = (layer: EGRU, b0: number, b1: number): void => {
      const g = gs[0];
      const r = layer.forward({ x: rows(xs[0], 5, b0, b1), T, B: b1 - b0, masks: { dropConnect: dcMask } });
      layer.backward(r, {
        dy: rows(g.y, 11, b0, b1),
        dh: rows(g.h, 11, b0, b1),
        do: rows(g.o, 11, b0, b1),
        dtrace: rows(g.tr, 11, b0, b1),
      });
    };
    const one = clipLayer(kernels, 0.5);
    one.beginGradGroup();
    block(one, 0, 1);
    block(one, 1, 3);
    const f1 = one.endGradGroup();
    const here = clipLayer(kernels, 0.5);
    const replica = clipLayer(kernels, 0.5);
    here.beginGradGroup();
    block(here, 0, 1);
    replica.beginGradGroup();
    block(replica, 1, 3);
    here.mergeGradGroup(replica.takeGradGroup());
    const f2 = here.endGradGroup();
    assert.ok(f1 < 0.5, `the clip acts (${f1})`);
    assert.equal(f2, f1, "the same factor");
    for (const [name, g] of Object.entries(one.grads)) assert.deepEqual(here.grads[name], g, name);
    assert.throws(() => replica.takeGradGroup(), StateError, "taken: the group is closed");
  });
});

test("gradClip must be a finite number ≥ 0; groups open and close once", () => {
  for (const bad of [-0.1, Number.NaN, Number.POSITIVE_INFINITY])
    assert.throws(() => new EGRU({ inputSize: 1, hiddenSize: 2, gradClip: bad }), ValueError, String(bad));
  const layer = new EGRU({ inputSize: 1, hiddenSize: 2, gradClip: 1 });
  assert.equal(new EGRU({ inputSize: 1, hiddenSize: 2 }).gradClip, 0, "off by default");
  assert.throws(() => layer.endGradGroup(), StateError);
  layer.beginGradGroup();
  assert.throws(() => layer.beginGradGroup(), StateError);
  assert.equal(layer.endGradGroup(), 1, "an empty group: nothing to clip");
});
