// EGRU over a whole sequence: forward and backward side by side (one layer, time-major).
//
// Dimension letters: T time steps, B batch, I inputs, H units; packed gate blocks [z | r | g]
// of width 3H. All arrays are flat, row-major, and of one FloatArray kind (float32 for the
// library, float64 for the finite-difference tests).
//
// Forward, per step (see docs/egru-math.md):
//   a = x_t·W + bx            q = y_{t−1}·R + br          (R: the effective, DropConnect-ed matrix)
//   z = σ(a_z + q_z)          r = σ(a_r + q_r)            g = tanh(a_g + r ⊙ q_g)
//   c = z ⊙ h_{t−1} + (1 − z) ⊙ g                          then zoneout (train mask or eval mix)
//   o = f(c − ϑ)   y = c ⊙ o   h = c − o ⊙ ϑ   tr = α·tr_{t−1} + (1 − α)·y
// with y_0 the supplied state, h_0 = 0 and tr_0 = 0.
//
// Events make most of the work skippable, and the kernels skip it (docs/egru-math.md §3.6):
//   forward   q = y_{t−1}·R reads one row of R per event (eventGemmNN) while the step's event
//             density is below the kernels' crossover, else the dense product;
//   backward  dR = Σ y_{t−1}ᵀ·dq_t accumulates only rows of units that were active
//             (eventGemmTN), and the recurrent adjoint dq_t·Rᵀ is computed only for units that
//             can pass gradient on — those that fired or lie inside the surrogate window
//             (maskedGemmNT); every skipped term is exactly zero, so results are unchanged.
// Both passes count the multiply-accumulates executed next to the dense count.
//
// Where the kernels have it (WebAssembly: egru-seq.ts), each pass's time loop is one kernel call,
// with the same bits as the step loop below, which the other kernels run.
//
// Backward assigns fresh arrays for every gradient it returns; the layer accumulates the
// parameter gradients into its own buffers.

import { zerosLike, type FloatArray } from "../core/buffer.js";
import type { EventFunction } from "./activations.js";
import { jsKernels, type Kernels } from "./backend.js";
import type { EgruTape } from "./cell-pointwise.js";
import {
  cellKeep,
  fewEnough,
  gatedParamGrads,
  nonzerosOn,
  sparseEnough,
  type MacCount,
  type SeqDims,
  type Zoneout,
} from "./gated-cell.js";
import type { EgruSeqBackwardArgs, EgruSeqRows } from "./egru-seq.js";
import { isInt8Matrix } from "./int8.js";
import { eventOrDenseNN, type Weight } from "./products.js";
import { biasRows, columnSums, receiveMaskCount, receiveMaskRows } from "./row-ops.js";
import { KernelScratch, outputArrays } from "./scratch.js";

export type { SeqDims, Zoneout } from "./gated-cell.js";
export type { EgruTape } from "./cell-pointwise.js";

/** Parameters as the kernel sees them: thresholds and R already transformed. */
export interface EgruKernelParams<A extends FloatArray> {
  W: A; // [I, 3H]
  R: A; // [H, 3H] effective recurrent matrix (after DropConnect)
  bx: A; // [3H]
  br: A; // [3H]
  thr: A; // [H] effective thresholds ϑ
}

/** The forward's parameters: W and R may also be int8 matrices (inference; products.ts). */
export interface EgruForwardParams<A extends FloatArray> extends Omit<EgruKernelParams<A>, "W" | "R"> {
  W: Weight<A>;
  R: Weight<A>;
}

export interface EgruForwardArgs<A extends FloatArray> {
  dims: SeqDims;
  params: EgruForwardParams<A>;
  x: A; // [T, B, I]
  y0: A; // [B, H] previous event output fed to the first recurrent product
  /** [B, H] internal state before step 1; zero when absent (always, for whole sequences). */
  h0?: A | null;
  /** [B, H] trace before step 1; zero when absent. Only the streaming step API sets h0, tr0. */
  tr0?: A | null;
  zoneout: Zoneout<A>;
  alpha: number; // trace decay
  event: EventFunction;
  /** The products' implementation; the portable TypeScript kernels when absent. */
  kernels?: Kernels;
  /** x holds events of an EGRU layer below (mostly zeros): the input products skip them. */
  inputEvents?: boolean;
  /**
   * Optional arrays for the forward's outputs and tape, [T, B, H] each, in the order y, h, o, tr, c,
   * z, r, g, hr (e.g. views into the kernels' memory, written in place); overwritten whole. Fresh
   * arrays when absent.
   */
  outputs?: A[] | null;
}

/** Everything the forward computes, [T, B, H] each. */
export interface EgruForwardOut<A extends FloatArray> {
  y: A; // graded events c ⊙ o
  h: A; // post-reset internal state
  o: A; // event gate
  tr: A; // output trace
  tape: EgruTape<A>;
  /** Multiply-accumulates of the input and recurrent products: executed, and dense. */
  macs: MacCount;
  /** With inputEvents: the nonzeros of x, counted once (its event products and the layer's figures read it). */
  inputNonzeros?: number;
}

/** How many [T, B, H] arrays egruForward writes (EgruForwardArgs.outputs). */
export const EGRU_OUTPUTS = 9;

export function egruForward<A extends FloatArray>(args: EgruForwardArgs<A>): EgruForwardOut<A> {
  const { dims, params, x, y0, zoneout, alpha, event } = args;
  const h0 = args.h0 ?? null;
  const tr0 = args.tr0 ?? null;
  const kernels = args.kernels ?? jsKernels;
  const { T, B, I, H } = dims;
  const G = 3 * H;
  const { W, R, bx, br, thr } = params;
  const [y, h, o, tr, c, z, r, g, hr] = outputArrays(x, T * B * H, EGRU_OUTPUTS, args.outputs);
  const tape: EgruTape<A> = { z, r, g, hr, c };

  // Input pre-activations for all steps in one product: a = x·W + bx   [T·B, 3H]. The working
  // arrays a and q live in the kernels' memory where they have one (the products then read them
  // in place) and are returned to it at the end.
  const work = new KernelScratch(kernels);
  try {
    const a = work.overwrittenLike(x, T * B * G); // (the input product overwrites it)
    const macs: MacCount = { executed: 0, dense: T * B * G * (I + H) };
    // an event input's nonzeros, counted once: the input product here and dW's in the backward choose by them
    const inputNonzeros = args.inputEvents ? nonzerosOn(kernels, x, 0, T * B * I) : undefined;
    const events = inputNonzeros !== undefined && fewEnough(kernels, inputNonzeros, T * B * I);
    macs.executed += eventOrDenseNN(kernels, events && "always", T * B, G, I, x, 0, W, a);
    biasRows(kernels, a, 0, T * B, G, bx);

    const out = { y, h, o, tr, tape };
    // the whole time loop in one call where the kernels have it (the same bits as the loop below)
    const whole =
      h0 === null && tr0 === null && !isInt8Matrix(R) && kernels.egruSeqForward
        ? kernels.egruSeqForward({ T, B, H, a, R, br, y0, thr, ...cellKeep(zoneout, 0), alpha, event, out })
        : -1;
    if (whole >= 0) {
      macs.executed += whole;
      return { y, h, o, tr, tape, macs, inputNonzeros };
    }
    const q = work.zerosLike(x, B * G); // recurrent pre-activations of one step [B, 3H]
    for (let t = 0; t < T; t++) {
      // q = y_{t−1}·R + br, by events while they are sparse enough
      const prev = t === 0 ? y0 : y;
      const prevOff = t === 0 ? 0 : (t - 1) * B * H;
      macs.executed += eventOrDenseNN(kernels, true, B, G, H, prev, prevOff, R, q);
      biasRows(kernels, q, 0, B, G, br);
      const first = t === 0;
      kernels.egruCellForward({
        B,
        H,
        a,
        aOff: t * B * G,
        q,
        qOff: 0,
        hPrev: first ? h0 : h,
        hPrevOff: first ? 0 : (t - 1) * B * H,
        trPrev: first ? tr0 : tr,
        trPrevOff: first ? 0 : (t - 1) * B * H,
        thr,
        ...cellKeep(zoneout, t * B * H),
        alpha,
        event,
        out,
        outOff: t * B * H,
      });
    }
    return { y, h, o, tr, tape, macs, inputNonzeros };
  } finally {
    work.release();
  }
}

/**
 * out[B, H] = dq[B, G] · R[H, G]ᵀ where mask[B, H] is 1 (elsewhere out is unused by the caller):
 * the masked product while the mask is sparse enough, else the dense one. Returns MACs executed.
 * `ones` is the number of ones of the mask when the caller knows it (else it is counted).
 */
export function maskedProduct<A extends FloatArray>(
  kernels: Kernels,
  B: number,
  H: number,
  G: number,
  dq: A,
  dqOff: number,
  R: A,
  mask: A,
  maskOff: number,
  out: A,
  ones?: number,
): number {
  if (ones !== undefined ? fewEnough(kernels, ones, B * H) : sparseEnough(kernels, mask, maskOff, B * H)) {
    return kernels.maskedGemmNT(B, H, G, dq, dqOff, R, 0, mask, maskOff, out, 0);
  }
  kernels.gemmNT(B, H, G, dq, dqOff, R, 0, out, 0, false);
  return B * H * G;
}

/** Upstream gradients ∂L/∂(y, h, o, tr), each [T, B, H]; a missing one is zero. */
export interface EgruUpstream<A extends FloatArray> {
  dy?: A | null;
  dh?: A | null;
  do?: A | null;
  dtr?: A | null;
}

export interface EgruBackwardArgs<A extends FloatArray> extends EgruForwardArgs<A> {
  /** Float weights only: int8 layers do not train. */
  params: EgruKernelParams<A>;
  fwd: EgruForwardOut<A>;
  upstream: EgruUpstream<A>;
  /**
   * [T, B, I] 0/1: the input entries whose gradient is needed (for a stacked layer, the receive
   * mask of the EGRU layer below, see receiveMask). dx is computed only there and is 0 elsewhere.
   */
  dxMask?: A | null;
  /** false: the input's gradient is not needed (a bottom layer on data): dx is not computed and comes back empty. */
  inputGrad?: boolean;
  /**
   * Zeroed arrays of n elements for the weight and bias gradients (e.g. in the kernels' memory, where
   * the products write them in place; the caller then frees them); fresh pooled arrays when absent.
   */
  gradients?: ((n: number) => A) | null;
}

/**
 * 1 where a unit's event output can pass gradient back into the unit, else 0: ∂y/∂c = o + c·df(c − ϑ)
 * is nonzero only for units that fired or lie inside the surrogate window. Writes rows
 * [from, from + n) of the [T·B, H] sequence into out from outOff (default: the same offsets).
 */
export function receiveMask<A extends FloatArray>(
  fwd: Pick<EgruForwardOut<A>, "o" | "tape">,
  thr: A,
  event: EventFunction,
  H: number,
  from: number,
  n: number,
  out: A,
  outOff = from,
): void {
  receiveMaskRows(fwd.o, fwd.tape.c, thr, event, H, from, n, out, outOff);
}

/** Gradients, freshly allocated. dR is for the effective R; dthr for the effective ϑ. */
export interface EgruGrads<A extends FloatArray> {
  /** Multiply-accumulates of the backward products: executed, and what dense products would execute. */
  macs: MacCount;
  dx: A; // [T, B, I]
  dy0: A; // [B, H]
  dW: A; // [I, 3H]
  dR: A; // [H, 3H]
  dbx: A; // [3H]
  dbr: A; // [3H]
  dthr: A; // [H]
}

export function egruBackward<A extends FloatArray>(args: EgruBackwardArgs<A>): EgruGrads<A> {
  const { dims, params, x, y0, zoneout, alpha, event, fwd, upstream } = args;
  const h0 = args.h0 ?? null;
  const kernels = args.kernels ?? jsKernels;
  const { T, B, H } = dims;
  const G = 3 * H;
  const { W, R, thr } = params;
  const { y, h, o, tape } = fwd;
  const up = {
    dy: upstream.dy ?? null,
    dh: upstream.dh ?? null,
    do: upstream.do ?? null,
    dtr: upstream.dtr ?? null,
  };

  const work = new KernelScratch(kernels); // dp, dq and the time loop's [B, H] arrays in the kernels' memory
  try {
    // every step's cell backward writes all of its rows of dp and dq
    const dp = work.overwrittenLike(x, T * B * G); // ∂L/∂(input pre-activation a)      [T, B, 3H]
    const dq = work.overwrittenLike(x, T * B * G); // ∂L/∂(recurrent pre-activation q)  [T, B, 3H]
    // the step-to-step adjoints [B, H] (the cell reads and writes them in place), the mask of the units
    // of step t−1 that can pass gradient on through y, and the threshold gradient by row
    const rows: EgruSeqRows<A> = {
      dyRec: work.zerosLike(x, B * H), // gradient reaching y_t from step t+1's recurrent product
      dhRec: work.zerosLike(x, B * H), // gradient reaching h_t from step t+1's leak (and zoneout)
      dtrCarry: work.zerosLike(x, B * H), // α·dtr_{t+1}, the trace's own recursion
      dhNext: work.zerosLike(x, B * H), // dhRec for step t−1, being built at step t
      receives: work.zerosLike(x, B * H),
      dthrRows: work.zerosLike(x, B * H),
    };
    // the whole time loop in one call where the kernels have it (the same bits as backwardSteps)
    const keep = cellKeep(zoneout, 0);
    const whole =
      h0 === null && kernels.egruSeqBackward
        ? kernels.egruSeqBackward({ T, B, H, up, o, h, tape, thr, ...keep, alpha, event, R, dp, dq, rows })
        : -1;
    const recurrentMacs = whole >= 0 ? whole : backwardSteps(args, up, kernels, dp, dq, rows);
    // the threshold gradient: each row's sum over time, then the rows' in order
    const dthr = zerosLike(x, H);
    columnSums(kernels, dthr, rows.dthrRows, 0, B, H);
    // dx, dW, dR (= Σ y_{t−1}ᵀ·dq_t over active units only), dbx, dbr
    const rest = gatedParamGrads(dims, x, W, y0, y, dp, dq, kernels, {
      seq: true,
      input: args.inputEvents ?? false,
      inputNonzeros: args.inputEvents ? fwd.inputNonzeros : undefined,
      dxMask: args.dxMask ?? null,
      inputGrad: args.inputGrad ?? true,
      gradients: args.gradients ?? null,
    });
    const macs: MacCount = {
      executed: rest.macs.executed + recurrentMacs,
      dense: rest.macs.dense + T * B * H * G,
    };
    return { ...rest, macs, dy0: work.kept(rows.dyRec), dthr };
  } finally {
    work.release();
  }
}

/**
 * egruBackward's time loop, one kernel call after another (t = T − 1 … 0): writes dp, dq and the
 * [B, H] arrays of `rows` (dyRec ends as ∂L/∂y0); returns the back-products' MACs.
 */
function backwardSteps<A extends FloatArray>(
  args: EgruBackwardArgs<A>,
  up: EgruSeqBackwardArgs<A>["up"],
  kernels: Kernels,
  dp: A,
  dq: A,
  rows: EgruSeqRows<A>,
): number {
  const { dims, params, zoneout, alpha, event, fwd } = args;
  const h0 = args.h0 ?? null;
  const { T, B, H } = dims;
  const G = 3 * H;
  const { R, thr } = params;
  const { h, o, tape } = fwd;
  const { dyRec, dtrCarry, receives, dthrRows } = rows;
  let { dhRec, dhNext } = rows;
  let recurrentMacs = 0;
  for (let t = T - 1; t >= 0; t--) {
    const off = t * B * H;
    kernels.egruCellBackward({
      B,
      H,
      up,
      o,
      tape,
      off,
      hPrev: t === 0 ? h0 : h,
      hPrevOff: t === 0 ? 0 : off - B * H,
      thr,
      ...cellKeep(zoneout, off),
      alpha,
      event,
      dyRec,
      dhRec,
      dtrCarry,
      dhNext,
      dp,
      dq,
      dOff: t * B * G,
      dthrRows,
    });
    // Gradient into y_{t−1} through this step's recurrent product: dq_t · Rᵀ   [B, H]. Step t−1's
    // y only passes gradient on where ∂y/∂c = o + c·df(c − ϑ) ≠ 0: units that fired or lie inside
    // the surrogate window. Elsewhere the product is skipped (its value would be multiplied by 0).
    // At t = 0 it is the gradient of the y0 argument, computed in full.
    if (t === 0) {
      kernels.gemmNT(B, H, G, dq, 0, R, 0, dyRec, 0, false);
      recurrentMacs += B * H * G;
    } else {
      const ones = receiveMaskCount(kernels, o, tape.c, thr, event, H, off - B * H, B * H, receives, 0);
      recurrentMacs += maskedProduct(kernels, B, H, G, dq, t * B * G, R, receives, 0, dyRec, ones);
    }
    // every entry of dhNext was written above, so the two buffers can simply trade places
    const done = dhRec;
    dhRec = dhNext;
    dhNext = done;
  }
  return recurrentMacs;
}
