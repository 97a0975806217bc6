// Pieces shared by the EGRU, GRU and LSTM layers: input checks, weight init, mask selection,
// DropConnect (an element mask, or a row mask spread over the matrix) and its chain rule,
// batch-first handling, named-weight access and the per-forward statistics record.

import { addInto, copyAs, swapAxes01, type FloatArray } from "../core/buffer.js";
import { allocateFloat32 } from "../core/buffer.js";
import { ShapeError, StateError, ValueError } from "../core/errors.js";
import { Rng } from "../core/rng.js";
import { checkFinite, checkLength, checkPositiveInt, type FiniteScan } from "../core/validate.js";
import type { Kernels } from "../kernels/backend.js";
import { nonzerosOn, type SeqDims, type Zoneout } from "../kernels/gated-cell.js";
import { stageInput, type TapeArena, type TapeLease } from "./tape-arena.js";

/** What every forward reports about one layer. */
export interface LayerStats {
  /** Fraction of output entries y equal to 0 (EGRU: silent units; GRU/LSTM: ≈ 0). */
  activitySparsity: number;
  /**
   * Backward sparsity on c (egru's): the fraction of (t, b, unit) with |c − ϑ| > 1/s on the PRE-reset
   * state c, where the surrogate is 0 and backward passes no gradient through y (EGRU only; else 0).
   */
  backwardSparsity: number;
  /**
   * Backward sparsity on h (the paper's, as EvNN's language model measures it): the fraction of
   * (t, b, unit) with |h − ϑ| > 1/s on the POST-reset state h the layer returns (EGRU only; else 0).
   */
  paperBackwardSparsity: number;
  /** Multiply-accumulates a dense GRU-style layer of this size executes: T·B·(I·G + H·G), G = gates·H. */
  denseMacs: number;
  /** Multiply-accumulates the events require: the input product plus one row of R per nonzero y_{t−1}. */
  eventMacs: number;
  /** Multiply-accumulates the kernels executed (event products below the density crossover, dense above). */
  executedMacs: number;
  /**
   * Effective MACs as the paper defines them: denseMacs × the fraction of active (nonzero) outputs,
   * denseMacs·(1 − activitySparsity). A count an ideal implementation would need, not one executed.
   */
  paperEffectiveMacs: number;
  /** Number of events (entries with o = 1); 0 for GRU and LSTM. */
  events: number;
  /** Entries counted: T·B·H. */
  entries: number;
}

/** Sequence shape passed with a flat input array. */
export interface SequenceShape {
  /** Time steps. */
  T: number;
  /** Batch size. */
  B: number;
  /** True when the arrays are [B, T, ·] instead of time-major [T, B, ·]. */
  batchFirst?: boolean;
}

/** The finiteness scan of a kernel set (its firstNonFinite), if it has one. */
export function finiteScan(kernels: Kernels | undefined): FiniteScan | undefined {
  const scan = kernels?.firstNonFinite;
  return scan ? (a, off, n) => scan.call(kernels, a, off, n) : undefined;
}

/** Check T and B, and the length and finiteness of x [T, B, I] (or [B, T, I]), on `kernels` where given. */
export function checkSequenceInput(x: ArrayLike<number>, shape: SequenceShape, I: number, kernels?: Kernels): void {
  checkPositiveInt("T", shape.T);
  checkPositiveInt("B", shape.B);
  const order = shape.batchFirst ? `B·T·I = ${shape.B}·${shape.T}·${I}` : `T·B·I = ${shape.T}·${shape.B}·${I}`;
  checkLength("x", x, shape.T * shape.B * I, order);
  checkFinite("x", x, finiteScan(kernels));
}

/** Time-major copy of a possibly batch-first [·, ·, F] array (converted to float32). */
export function toTimeMajor(a: ArrayLike<number>, shape: SequenceShape, F: number): Float32Array {
  const f = a instanceof Float32Array ? a : copyAs(new Float32Array(0), a);
  return shape.batchFirst ? swapAxes01(f, shape.B, shape.T, F) : f;
}

/**
 * A sequence forward's input x [T, B, I] (or [B, T, I]), checked and time-major: a training forward's
 * time-major float32 input copied into the kernels' memory on a lease of `arena` (stageInput; the
 * caller releases it with the result), else x as toTimeMajor gives it (`owned`: a copy of the caller's
 * array, for the caller to recycle).
 */
export function forwardInput(
  arena: TapeArena,
  training: boolean,
  kernels: Kernels,
  input: SequenceShape & { x: ArrayLike<number> },
  I: number,
): { x: Float32Array; staged: TapeLease | null; owned: boolean } {
  const staged = input.batchFirst ? null : stageInput(arena, training, kernels, input.x, input.T * input.B * I);
  checkSequenceInput(staged?.arrays[0] ?? input.x, input, I, kernels);
  const x = staged?.arrays[0] ?? toTimeMajor(input.x, input, I);
  return { x, staged, owned: !staged && x !== input.x };
}

/** Back from time-major [T, B, F] to the caller's layout. */
export function fromTimeMajor<A extends FloatArray>(a: A, shape: SequenceShape, F: number): A {
  return shape.batchFirst && a.length > 0 ? swapAxes01(a, shape.T, shape.B, F) : a;
}

/** What every layer's backward takes besides the upstream gradients. */
export interface InputGradOption {
  /**
   * false: the input's gradient is not needed (the bottom layer of a model on data, without a
   * front-end): dx is not computed (its product skipped) and comes back empty. Default true.
   */
  inputGrad?: boolean;
}

/** Convert an optional upstream gradient to time-major float32, checking its length (and finiteness, on `kernels`). */
export function upstreamTimeMajor(
  name: string,
  a: ArrayLike<number> | null | undefined,
  shape: SequenceShape,
  F: number,
  kernels?: Kernels,
): Float32Array | null {
  if (a === undefined || a === null) return null;
  const how = shape.batchFirst ? `B·T·H = ${shape.B}·${shape.T}·${F}` : `T·B·H = ${shape.T}·${shape.B}·${F}`;
  checkLength(name, a, shape.T * shape.B * F, how);
  checkFinite(name, a, finiteScan(kernels));
  return toTimeMajor(a, shape, F);
}

/** A float32 [B, H] state argument, zeros when absent. */
export function stateArg(name: string, a: ArrayLike<number> | null | undefined, B: number, H: number): Float32Array {
  if (a === undefined || a === null) return new Float32Array(B * H);
  checkLength(name, a, B * H, `B·H = ${B}·${H}`);
  checkFinite(name, a);
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

/** Fill `out` with Xavier-normal values: std = gain·sqrt(2/(fanIn + fanOut)) (PyTorch's definition). */
export function xavierNormal(rng: Rng, out: Float32Array, fanIn: number, fanOut: number, gain: number): void {
  const std = gain * Math.sqrt(2 / (fanIn + fanOut));
  for (let i = 0; i < out.length; i++) out[i] = rng.normal(0, std);
}

/** Fill `out` uniformly in [−bound, bound) (PyTorch's default RNN init uses bound = 1/√H). */
export function uniformInit(rng: Rng, out: Float32Array, bound: number): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.uniformRange(-bound, bound);
}

/** A 0/1 keep-mask of n entries, each 1 with probability 1 − p. */
export function drawKeepMask(rng: Rng, n: number, p: number): Float32Array {
  const m = new Float32Array(n);
  rng.fillBernoulli(m, 1 - p);
  return m;
}

/** Check a caller-supplied 0/1 mask. */
export function checkMask(name: string, m: ArrayLike<number>, n: number, how: string): Float32Array {
  checkLength(name, m, n, how);
  for (let i = 0; i < n; i++) {
    if (m[i] !== 0 && m[i] !== 1) throw new ValueError(name, "entries 0 or 1", `${m[i]} at index ${i}`);
  }
  return m instanceof Float32Array ? m : Float32Array.from(m);
}

/**
 * The shape of a DropConnect mask on a recurrent matrix (docs/egru-math.md §2.2):
 *   "element"  one keep/drop per weight: EvNN's EGRU (F.dropout on the whole matrix), the default;
 *   "row"      one per gate output, i.e. per row of PyTorch's weight_hh_l0 [G·H, H]: every recurrent
 *              weight into one gate of one unit is kept or dropped together (AWD-LSTM's WeightDrop, as
 *              EvNN's language model wraps nn.GRU and nn.LSTM). In the GRU's stored R [H, 3H] a row is a column.
 */
export type DropConnectShape = "element" | "row";

/** The shapes a DropConnect mask can take, the default first. */
export const DROP_CONNECT_SHAPES: readonly DropConnectShape[] = ["element", "row"];

/** Throw a ValueError naming dropConnectShape unless it is one of DROP_CONNECT_SHAPES. */
export function checkDropConnectShape(v: unknown): asserts v is DropConnectShape {
  if (!DROP_CONNECT_SHAPES.includes(v as DropConnectShape))
    throw new ValueError("dropConnectShape", DROP_CONNECT_SHAPES.map((k) => `"${k}"`).join(" or "), JSON.stringify(v));
}

/** Where a recurrent matrix holds its G·H gate outputs: along its columns ([H, G·H]) or its rows ([G·H, H]). */
export type GateAxis = "columns" | "rows";

/**
 * A row mask rows [G·H] (one entry per gate output) spread over the whole recurrent matrix of H
 * inputs: [H, G·H] ("columns": entry (i, j) = rows[j]) or [G·H, H] ("rows": entry (j, i) = rows[j]).
 */
export function expandRowMask(rows: Float32Array, H: number, axis: GateAxis): Float32Array {
  const GH = rows.length;
  const out = new Float32Array(GH * H);
  if (axis === "rows") for (let j = 0; j < GH; j++) out.fill(rows[j], j * H, (j + 1) * H);
  else for (let i = 0; i < H; i++) out.set(rows, i * GH);
  return out;
}

/** DropConnect: R ⊙ mask / (1 − p), the recurrent matrix a training forward uses. */
export function dropConnect(R: Float32Array, mask: Float32Array, p: number): Float32Array {
  const out = new Float32Array(R.length);
  const scale = 1 / (1 - p);
  for (let i = 0; i < R.length; i++) out[i] = R[i] * mask[i] * scale;
  return out;
}

/** Named parameter arrays of a layer. */
export type NamedWeights = Record<string, Float32Array>;

/** Copies of every named array. */
export function copyWeights(w: NamedWeights): NamedWeights {
  const out: NamedWeights = {};
  for (const [k, v] of Object.entries(w)) out[k] = v.slice();
  return out;
}

/**
 * Copy values into the layer's arrays. Every name given must exist with the right length and
 * finite values; names not given keep their values. Unknown names are an error, not ignored.
 */
export function assignWeights(target: NamedWeights, src: Record<string, ArrayLike<number>>, layer: string): void {
  for (const [k, v] of Object.entries(src)) {
    const dst = target[k];
    if (!dst) {
      throw new ValueError(`${layer} weight "${k}"`, `one of ${Object.keys(target).join(", ")}`, `"${k}"`);
    }
    if (v.length !== dst.length) {
      throw new ShapeError(`${layer} weight "${k}"`, `length ${dst.length}`, `length ${v.length}`);
    }
    checkFinite(`${layer} weight "${k}"`, v);
  }
  for (const [k, v] of Object.entries(src)) target[k].set(v);
}

/** Throw a NonFiniteError naming the first weight with NaN or ±Infinity (scanned on `kernels` where given). */
export function checkWeightsFinite(w: NamedWeights, layer: string, kernels?: Kernels): void {
  const scan = finiteScan(kernels);
  for (const [k, v] of Object.entries(w)) checkFinite(`${layer} weight "${k}"`, v, scan);
}

/** Refuse a forward result whose arrays were handed back by release(). */
export function checkNotReleased(released: boolean): void {
  if (released) throw new StateError("result", "a forward result not yet released", "one whose release() was called");
}

/** Resolve the layer's RNG from a seed or a shared Rng. */
export function layerRng(opts: { seed?: number; rng?: Rng }): Rng {
  if (opts.rng) return opts.rng;
  return new Rng(opts.seed ?? 0);
}

/** What a layer needs to pick the masks of one forward. */
export interface MaskRequest {
  training: boolean;
  rng: Rng;
  /** DropConnect probability and the recurrent matrix's length and shape, e.g. "H·3H = 4·12". */
  dropConnect: number;
  recurrentLength: number;
  recurrentHow: string;
  /**
   * A row mask instead of an element mask: the matrix's gates G (its gate outputs G·H lie along
   * `axis`). The caller's masks.dropConnect is then the row mask [G·H] (0/1, in the stored gate order).
   */
  rows?: { gates: number; axis: GateAxis } | null;
  /** Zoneout probability (0 for LSTM) and the sequence shape. */
  zoneout: number;
  T: number;
  B: number;
  H: number;
  masks?: { dropConnect?: ArrayLike<number>; zoneout?: ArrayLike<number> };
}

/**
 * The DropConnect keep-mask (null = none) and the zoneout of one forward. Training: the caller's
 * masks, else fresh draws when the rate is > 0. Evaluation: no DropConnect, zoneout as the
 * expected mix, and masks are refused (StateError).
 */
export function forwardMasks(req: MaskRequest): {
  dropConnectMask: Float32Array | null;
  zoneout: Zoneout<Float32Array>;
} {
  const { T, B, H } = req;
  const masks = req.masks ?? {};
  if (!req.training) {
    if (masks.dropConnect !== undefined || masks.zoneout !== undefined) {
      throw new StateError("masks", "no masks in evaluation mode", "masks given");
    }
    return { dropConnectMask: null, zoneout: req.zoneout > 0 ? { kind: "eval", p: req.zoneout } : { kind: "none" } };
  }
  const dropConnectMask = dropConnectKeepMask(req, masks.dropConnect);
  let zoneout: Zoneout<Float32Array> = { kind: "none" };
  if (masks.zoneout !== undefined) {
    zoneout = { kind: "train", mask: checkMask("masks.zoneout", masks.zoneout, T * B * H, `T·B·H = ${T}·${B}·${H}`) };
  } else if (req.zoneout > 0) zoneout = { kind: "train", mask: drawKeepMask(req.rng, T * B * H, req.zoneout) };
  return { dropConnectMask, zoneout };
}

/**
 * The DropConnect keep-mask of one training forward over the whole matrix (null = none): the
 * caller's, else a fresh draw when p > 0. With req.rows, one entry per gate output, spread over
 * the matrix (expandRowMask).
 */
function dropConnectKeepMask(req: MaskRequest, given: ArrayLike<number> | undefined): Float32Array | null {
  const rows = req.rows;
  const n = rows ? rows.gates * req.H : req.recurrentLength;
  const how = rows ? `G·H = ${rows.gates}·${req.H}, one per gate output` : req.recurrentHow;
  let keep: Float32Array | null = null;
  if (given !== undefined) keep = checkMask("masks.dropConnect", given, n, how);
  else if (req.dropConnect > 0) keep = drawKeepMask(req.rng, n, req.dropConnect);
  return keep && rows ? expandRowMask(keep, req.H, rows.axis) : keep;
}

/**
 * grad += factor·g, a call's gradient into the accumulated one: by the kernels' addScaled where both
 * arrays live in their memory (the same float64 operations, split over threads), else in TypeScript.
 */
export function addGradient(kernels: Kernels, grad: FloatArray, g: FloatArray, factor = 1): void {
  if (kernels.addScaled && kernels.inMemory?.(grad) && kernels.inMemory(g)) kernels.addScaled(grad, g, factor);
  else addInto(grad, g, factor);
}

/**
 * grad += factor·(dEff ⊙ mask / (1 − p)) under DropConnect (the chain rule through R_eff), else
 * grad += factor·dEff (addGradient); factor 1 by default (the EGRU's clip inside backward passes its own).
 */
export function accumulateThroughDropConnect(
  kernels: Kernels,
  grad: Float32Array,
  dEff: Float32Array,
  mask: Float32Array | null,
  p: number,
  factor = 1,
): void {
  if (!mask) {
    addGradient(kernels, grad, dEff, factor);
    return;
  }
  const scale = 1 / (1 - p);
  // each term rounded to float32 before it is added, so that terms summed into zeros elsewhere (a
  // replica's gradient group, merged later) give the same bits as terms added here one by one
  for (let i = 0; i < grad.length; i++) grad[i] += Math.fround(factor * (dEff[i] * mask[i] * scale));
}

/** Statistics of a dense baseline forward: every MAC is executed, there are no events. */
export function denseStats(output: Float32Array, dims: SeqDims, gates: number, kernels: Kernels): LayerStats {
  const { T, B, I, H } = dims;
  const G = gates * H;
  const zeros = output.length - nonzerosOn(kernels, output, 0, output.length);
  const macs = T * B * (I * G + H * G);
  const activitySparsity = zeros / output.length;
  return {
    activitySparsity,
    backwardSparsity: 0,
    paperBackwardSparsity: 0,
    denseMacs: macs,
    eventMacs: macs,
    executedMacs: macs,
    paperEffectiveMacs: macs * (1 - activitySparsity),
    events: 0,
    entries: T * B * H,
  };
}

/** Named parameters of the given lengths, every entry uniform in [−1/√H, 1/√H) as PyTorch inits them. */
export function uniformWeights(rng: Rng, shapes: Record<string, number>, H: number): NamedWeights {
  const weights: NamedWeights = {};
  for (const [k, n] of Object.entries(shapes)) {
    weights[k] = allocateFloat32(n, `weights ${k} (${n} values)`);
    uniformInit(rng, weights[k], 1 / Math.sqrt(H));
  }
  return weights;
}

/**
 * A copy of a per-step operand (the recurrent matrix) kept in the kernels' own memory, so the T
 * per-step products of a forward or backward read it in place instead of copying it each step.
 * One buffer per layer, reused across calls; each upload gets a tag, and a backward whose forward
 * was followed by another forward finds its tag gone and uploads its own matrix again.
 */
export class ResidentCopy {
  private buf: Float32Array | null = null;
  private owner: Kernels | null = null;
  private tag = 0;

  /** Copy src in (when the kernels have memory of their own); returns what to pass and the tag. */
  upload(kernels: Kernels, src: Float32Array): { view: Float32Array; tag: number } {
    if (!kernels.alloc) return { view: src, tag: 0 };
    if (!this.buf || this.owner !== kernels || this.buf.length !== src.length) {
      if (this.buf && this.owner?.free) this.owner.free(this.buf);
      this.buf = kernels.alloc(src.length);
      this.owner = kernels;
    }
    this.buf.set(src);
    this.tag++;
    return { view: this.buf, tag: this.tag };
  }

  /** The resident copy made with `tag` if it is still there, else a fresh upload of src. */
  ensure(kernels: Kernels, src: Float32Array, tag: number): Float32Array {
    if (tag !== 0 && tag === this.tag && this.owner === kernels && this.buf) return this.buf;
    return this.upload(kernels, src).view;
  }
}
