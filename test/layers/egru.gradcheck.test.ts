// Finite-difference checks of the EGRU backward, in float64.
//  1. With a smooth event function (σ(κx) and its exact derivative) the model is differentiable,
//     so the hand-written backward must equal central differences for every input and parameter.
//  2. With the real step function, the derivative exists wherever no event flips between θ ± ε;
//     there the backward with df ≡ 0 must equal central differences. Flipping coordinates are
//     skipped and counted.
// Both the naive reference and the kernel (run in float64) are checked.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { heaviside, smoothEvent, type EventFunction } from "../../packages/egru/src/kernels/activations.js";
import { egruBackward, egruForward } from "../../packages/egru/src/kernels/egru.js";
import { egruRefBackward, egruRefForward, type EgruRefProblem } from "../../packages/egru/src/reference/egru-ref.js";
import { linearLoss, randomProblem, randomUpstream, type RandomProblemOptions } from "../egru-cases.js";
import { assertClose, centralDiff } from "../helpers.js";

const EPS = 1e-6;

type ParamName = "x" | "y0" | "W" | "R" | "bx" | "br" | "thr";
const PARAMS: ParamName[] = ["x", "y0", "W", "R", "bx", "br", "thr"];

/** The problem's arrays as mutable Float64Arrays, so finite differences can perturb them. */
function mutable(p: EgruRefProblem): EgruRefProblem & Record<ParamName, Float64Array> {
  const q = { ...p } as EgruRefProblem & Record<ParamName, Float64Array>;
  for (const k of PARAMS) q[k] = Float64Array.from(p[k]);
  return q;
}

const smoothCases: [string, Omit<RandomProblemOptions, "event">][] = [
  ["clamp thresholds", { T: 4, B: 2, I: 3, H: 4, seed: 1 }],
  ["sigmoid thresholds", { T: 4, B: 2, I: 3, H: 4, seed: 2, thresholdMode: "sigmoid" }],
  ["DropConnect mask", { T: 3, B: 2, I: 2, H: 5, seed: 3, dropConnect: 0.4 }],
  ["zoneout, training mask", { T: 5, B: 2, I: 2, H: 3, seed: 4, zoneout: { kind: "train", p: 0.4 } }],
  ["zoneout, evaluation mix", { T: 5, B: 2, I: 2, H: 3, seed: 5, zoneout: { kind: "eval", p: 0.3 } }],
  ["trace decay 0.5, T = 1", { T: 1, B: 3, I: 2, H: 3, seed: 6, alpha: 0.5 }],
];

describe("smooth event function: backward equals central differences for every input and parameter", () => {
  for (const [label, opts] of smoothCases) {
    test(label, () => {
      const event = smoothEvent(3);
      const p = mutable(randomProblem({ ...opts, event }));
      const G = randomUpstream(new Rng(opts.seed + 100), p.T * p.B * p.H);
      const grads = egruRefBackward(p, egruRefForward(p), G);
      const loss = (): number => linearLoss(egruRefForward(p), G);
      for (const k of PARAMS) {
        const fd = centralDiff(loss, p[k], EPS);
        // central differences in float64 have error O(ε²·f''') + O(δ/ε) ≈ 1e-10 here
        assertClose(grads[k], fd, { atol: 1e-7, rtol: 1e-6, name: `${label}: d${k}` });
      }
    });
  }
});

describe("step function: backward equals central differences where no event flips", () => {
  // Heaviside forward; its derivative is 0 almost everywhere, so the exact backward uses df ≡ 0.
  const exactStep: EventFunction = { kind: "heaviside", f: heaviside, df: () => 0 };
  test("all parameters, counting the skipped coordinates", () => {
    const p = mutable(randomProblem({ T: 5, B: 2, I: 3, H: 5, seed: 11, event: exactStep }));
    const G = randomUpstream(new Rng(111), p.T * p.B * p.H);
    const base = egruRefForward(p);
    assert.ok(base.o.some((v) => v === 1) && base.o.some((v) => v === 0), "the case must have events and silences");
    const grads = egruRefBackward(p, base, G);
    let checked = 0;
    let skipped = 0;
    for (const k of PARAMS) {
      const arr = p[k];
      for (let i = 0; i < arr.length; i++) {
        const keep = arr[i];
        arr[i] = keep + EPS;
        const up = egruRefForward(p);
        arr[i] = keep - EPS;
        const down = egruRefForward(p);
        arr[i] = keep;
        const flips = up.o.some((v, j) => v !== base.o[j]) || down.o.some((v, j) => v !== base.o[j]);
        if (flips) {
          skipped++;
          continue;
        }
        const fd = (linearLoss(up, G) - linearLoss(down, G)) / (2 * EPS);
        const tol = 1e-7 + 1e-6 * Math.abs(fd);
        assert.ok(Math.abs(grads[k][i] - fd) <= tol, `d${k}[${i}]: backward ${grads[k][i]} vs differences ${fd}`);
        checked++;
      }
    }
    assert.ok(checked > 100, `checked ${checked} coordinates`);
    assert.ok(skipped < checked / 10, `skipped ${skipped} of ${checked + skipped}: too many flips to be meaningful`);
    // a visible count in the test output
    console.log(
      `# step-function gradient check: ${checked} coordinates checked, ${skipped} skipped (an event flipped)`,
    );
  });
});

describe("the kernel in float64 equals the naive reference to rounding", () => {
  const cases: [string, RandomProblemOptions][] = [
    ["heaviside, clamp", { T: 6, B: 3, I: 5, H: 7, seed: 21 }],
    [
      "smooth, sigmoid, DropConnect, zoneout train",
      {
        T: 4,
        B: 2,
        I: 3,
        H: 5,
        seed: 22,
        thresholdMode: "sigmoid",
        event: smoothEvent(2),
        dropConnect: 0.3,
        zoneout: { kind: "train", p: 0.3 },
      },
    ],
    ["heaviside, zoneout eval", { T: 5, B: 3, I: 1, H: 3, seed: 23, zoneout: { kind: "eval", p: 0.2 } }],
  ];
  for (const [label, opts] of cases) {
    test(label, () => {
      const p = randomProblem(opts);
      const ref = egruRefForward(p);
      const G = randomUpstream(new Rng(opts.seed + 1), p.T * p.B * p.H);
      const refG = egruRefBackward(p, ref, G);
      // the kernel takes effective R and ϑ: build them as the layer would
      const f64 = (a: ArrayLike<number>): Float64Array => Float64Array.from(a);
      const R = f64(p.R);
      if (p.dropConnect)
        for (let i = 0; i < R.length; i++) R[i] = (R[i] * p.dropConnect.mask[i]) / (1 - p.dropConnect.p);
      const zoneout = p.zoneout.kind === "train" ? { kind: "train" as const, mask: f64(p.zoneout.mask) } : p.zoneout;
      const args = {
        dims: { T: p.T, B: p.B, I: p.I, H: p.H },
        params: { W: f64(p.W), R, bx: f64(p.bx), br: f64(p.br), thr: ref.theta },
        x: f64(p.x),
        y0: f64(p.y0),
        zoneout,
        alpha: p.alpha,
        event: p.event,
      };
      const fwd = egruForward(args);
      const tight = { atol: 1e-12, rtol: 1e-11 };
      assertClose(fwd.y, ref.y, { ...tight, name: "y" });
      assertClose(fwd.h, ref.h, { ...tight, name: "h" });
      assertClose(fwd.o, ref.o, { ...tight, name: "o" });
      assertClose(fwd.tr, ref.tr, { ...tight, name: "tr" });
      const g = egruBackward({ ...args, fwd, upstream: { dy: G.y, dh: G.h, do: G.o, dtr: G.tr } });
      assertClose(g.dx, refG.x, { ...tight, name: "dx" });
      assertClose(g.dy0, refG.y0, { ...tight, name: "dy0" });
      assertClose(g.dW, refG.W, { ...tight, name: "dW" });
      assertClose(g.dbx, refG.bx, { ...tight, name: "dbx" });
      assertClose(g.dbr, refG.br, { ...tight, name: "dbr" });
      // effective-R and ϑ gradients: map back through DropConnect and the threshold transform
      const dR = Float64Array.from(g.dR);
      if (p.dropConnect)
        for (let i = 0; i < dR.length; i++) dR[i] = (dR[i] * p.dropConnect.mask[i]) / (1 - p.dropConnect.p);
      assertClose(dR, refG.R, { ...tight, name: "dR" });
      const dthr = Float64Array.from(g.dthr, (v, j) =>
        p.thresholdMode === "clamp" ? v : v * ref.theta[j] * (1 - ref.theta[j]),
      );
      assertClose(dthr, refG.thr, { ...tight, name: "dthr" });
    });
  }
});
