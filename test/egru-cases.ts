// Builders shared by the EGRU tests: a fixture → reference problem, a fixture → float32 layer,
// random problems at given sizes, the linear test loss Σ out ⊙ G, and one seeded forward and
// backward of a layer. Layers take the kernels to compute with (the library's default when none
// are given).

import { Rng } from "../packages/egru/src/core/rng.js";
import { heavisideEvent, type EventFunction } from "../packages/egru/src/kernels/activations.js";
import type { Kernels } from "../packages/egru/src/kernels/backend.js";
import { EGRU, type EgruOptions } from "../packages/egru/src/layers/egru.js";
import type { EgruRefProblem, EgruRefForward } from "../packages/egru/src/reference/egru-ref.js";
import { dot, randomArray, randomMask } from "./helpers.js";

/** Parsed EGRU fixture (see tools/gen_fixtures.py). */
export interface EgruFixture {
  case: string;
  dims: { T: number; B: number; I: number; H: number };
  config: {
    mode: "train" | "eval";
    thresholdMode: "clamp" | "sigmoid";
    gamma: number;
    s: number;
    alpha: number;
    zoneout: number;
    dropConnect: number;
  };
  inputs: { x: number[]; y0: number[] };
  weights: Record<"kernel" | "recurrent_kernel" | "bias" | "recurrent_bias" | "thr", number[]>;
  masks: { dropConnect: number[] | null; zoneout: number[] | null };
  upstream: Record<"y" | "h" | "o" | "trace", number[]>;
  outputs: Record<"y" | "h" | "o" | "trace", number[]>;
  grads: Record<"x" | "y0" | "kernel" | "recurrent_kernel" | "bias" | "recurrent_bias" | "thr", number[]>;
  stats: { events: number; activitySparsity: number; margin: number };
}

/** What a fixture's problem and layer are built from (an EGRU fixture, or one call of a clip fixture). */
export type FixtureCase = Pick<EgruFixture, "dims" | "config" | "inputs" | "weights" | "masks">;

export function problemFromFixture(f: FixtureCase): EgruRefProblem {
  const c = f.config;
  const train = c.mode === "train";
  return {
    ...f.dims,
    x: f.inputs.x,
    y0: f.inputs.y0,
    W: f.weights.kernel,
    R: f.weights.recurrent_kernel,
    bx: f.weights.bias,
    br: f.weights.recurrent_bias,
    thr: f.weights.thr,
    thresholdMode: c.thresholdMode,
    dropConnect: train && f.masks.dropConnect ? { mask: f.masks.dropConnect, p: c.dropConnect } : null,
    zoneout:
      train && f.masks.zoneout
        ? { kind: "train", mask: f.masks.zoneout }
        : !train && c.zoneout > 0
          ? { kind: "eval", p: c.zoneout }
          : { kind: "none" },
    alpha: c.alpha,
    event: heavisideEvent(c.gamma, c.s),
  };
}

export function layerFromFixture(
  f: Omit<FixtureCase, "inputs" | "masks">,
  kernels?: Kernels,
  extra: Partial<EgruOptions> = {},
): EGRU {
  const c = f.config;
  const layer = new EGRU({
    ...extra,
    kernels,
    inputSize: f.dims.I,
    hiddenSize: f.dims.H,
    thresholdMode: c.thresholdMode,
    dampeningFactor: c.gamma,
    pseudoDerivativeSupport: c.s,
    traceDecay: c.alpha,
    dropConnect: c.dropConnect,
    zoneout: c.zoneout,
  });
  layer.setWeights(f.weights);
  layer.training = c.mode === "train";
  return layer;
}

/** The masks a training forward of the fixture's layer takes (undefined in evaluation). */
export function fixtureMasks(f: Pick<FixtureCase, "config" | "masks">):
  | {
      dropConnect?: number[];
      zoneout?: number[];
    }
  | undefined {
  if (f.config.mode !== "train") return undefined;
  return {
    ...(f.masks.dropConnect ? { dropConnect: f.masks.dropConnect } : {}),
    ...(f.masks.zoneout ? { zoneout: f.masks.zoneout } : {}),
  };
}

/** A fixture's upstream gradients in the tests' form. */
export function fixtureUpstream(u: Record<"y" | "h" | "o" | "trace", number[]>): Upstream {
  return {
    y: Float64Array.from(u.y),
    h: Float64Array.from(u.h),
    o: Float64Array.from(u.o),
    tr: Float64Array.from(u.trace),
  };
}

/** Random upstream gradients for y, h, o and the trace. */
export interface Upstream {
  y: Float64Array;
  h: Float64Array;
  o: Float64Array;
  tr: Float64Array;
}

export function randomUpstream(rng: Rng, n: number): Upstream {
  return { y: randomArray(rng, n), h: randomArray(rng, n), o: randomArray(rng, n), tr: randomArray(rng, n) };
}

/** The linear test loss L = Σ y⊙Gy + h⊙Gh + o⊙Go + tr⊙Gtr, whose gradient backward computes. */
export function linearLoss(f: Pick<EgruRefForward, "y" | "h" | "o" | "tr">, g: Upstream): number {
  return dot(f.y, g.y) + dot(f.h, g.h) + dot(f.o, g.o) + dot(f.tr, g.tr);
}

export interface RandomProblemOptions {
  T: number;
  B: number;
  I: number;
  H: number;
  seed: number;
  thresholdMode?: "clamp" | "sigmoid";
  event?: EventFunction;
  dropConnect?: number; // training DropConnect with a random mask
  zoneout?: { kind: "train"; p: number } | { kind: "eval"; p: number };
  weightScale?: number;
  alpha?: number;
}

/** A random problem in float64 with weights large enough that a fair share of units fire. */
export function randomProblem(o: RandomProblemOptions): EgruRefProblem {
  const rng = new Rng(o.seed);
  const { T, B, I, H } = o;
  const s = o.weightScale ?? 1.5;
  const mode = o.thresholdMode ?? "clamp";
  const thr = new Float64Array(H);
  for (let j = 0; j < H; j++) thr[j] = mode === "clamp" ? rng.uniformRange(0.05, 0.6) : rng.normal(-1, 1);
  return {
    T,
    B,
    I,
    H,
    x: randomArray(rng, T * B * I),
    y0: randomArray(rng, B * H, 0.5),
    W: randomArray(rng, I * 3 * H, s * Math.sqrt(2 / (I + 3 * H))),
    R: randomArray(rng, H * 3 * H, s * Math.sqrt(2 / (4 * H))),
    bx: randomArray(rng, 3 * H, 0.1),
    br: randomArray(rng, 3 * H, 0.1),
    thr,
    thresholdMode: mode,
    dropConnect: o.dropConnect ? { mask: randomMask(rng, H * 3 * H, o.dropConnect), p: o.dropConnect } : null,
    zoneout:
      o.zoneout?.kind === "train"
        ? { kind: "train", mask: randomMask(rng, T * B * H, o.zoneout.p) }
        : o.zoneout?.kind === "eval"
          ? { kind: "eval", p: o.zoneout.p }
          : { kind: "none" },
    alpha: o.alpha ?? 0.9,
    event: o.event ?? heavisideEvent(0.7, 1.0),
  };
}

/** Sizes of a sequence into an EGRU: T steps of B rows, I inputs, H units. */
export interface EgruDims {
  T: number;
  B: number;
  I: number;
  H: number;
}

/** Seeded data of those sizes: the input x (std 1.5) from Rng(seed), the upstream dy = G from Rng(seed + 1). */
export function egruData(dims: EgruDims, seed: number): EgruDims & { x: Float64Array; G: Float64Array } {
  const { T, B, I, H } = dims;
  return { ...dims, x: randomArray(new Rng(seed), T * B * I, 1.5), G: randomArray(new Rng(seed + 1), T * B * H) };
}

/** A layer (weight gain 1.5, made with `seed` on `kernels`) run forward on data.x and backward from dy = data.G. */
export function egruForwardBackward(kernels: Kernels, data: ReturnType<typeof egruData>, seed: number) {
  const { T, B, I, H, x, G } = data;
  const layer = new EGRU({ inputSize: I, hiddenSize: H, seed, weightGain: 1.5, kernels });
  const r = layer.forward({ x, T, B });
  const d = layer.backward(r, { dy: G });
  return { layer, r, d };
}

/** A float32 layer holding the problem's weights (rounded to float32), in the problem's mode (`extra`: more options). */
export function layerForProblem(
  p: EgruRefProblem,
  kernels?: Kernels,
  gamma = 0.7,
  s = 1.0,
  extra: Partial<EgruOptions> = {},
): EGRU {
  const layer = new EGRU({
    ...extra,
    kernels,
    inputSize: p.I,
    hiddenSize: p.H,
    thresholdMode: p.thresholdMode,
    dampeningFactor: gamma,
    pseudoDerivativeSupport: s,
    traceDecay: p.alpha,
    dropConnect: p.dropConnect?.p ?? 0,
    zoneout: p.zoneout.kind === "eval" ? p.zoneout.p : p.zoneout.kind === "train" ? 0.5 : 0,
    event: p.event,
  });
  layer.setWeights({ kernel: p.W, recurrent_kernel: p.R, bias: p.bx, recurrent_bias: p.br, thr: p.thr });
  layer.training = p.zoneout.kind !== "eval";
  return layer;
}

/** The masks a training forward of the layer takes for the problem's DropConnect and zoneout (undefined in evaluation). */
export function problemMasks(
  p: EgruRefProblem,
): { dropConnect?: ArrayLike<number>; zoneout?: ArrayLike<number> } | undefined {
  if (p.zoneout.kind === "eval") return undefined;
  return {
    ...(p.dropConnect ? { dropConnect: p.dropConnect.mask } : {}),
    ...(p.zoneout.kind === "train" ? { zoneout: p.zoneout.mask } : {}),
  };
}
