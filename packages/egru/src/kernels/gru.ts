// GRU over a whole sequence: forward and backward side by side (one layer, time-major).
//
// Dimension letters: T time steps, B batch, I inputs, H units; packed gate blocks [z | r | g]
// of width 3H (haste's layout, the same as kernels/egru.ts). All arrays are flat, row-major, and
// of one FloatArray kind (float32 for the library, float64 for the finite-difference tests).
//
// Forward, per step (see docs/egru-math.md §4):
//   a = x_t·W + bx            q = h_{t−1}·R + br          (R: the effective, DropConnect-ed matrix)
//   z = σ(a_z + q_z)          r = σ(a_r + q_r)            g = tanh(a_g + r ⊙ q_g)
//   h̃ = z ⊙ h_{t−1} + (1 − z) ⊙ g                          then zoneout:
//   train: h_t = (h̃ − h_{t−1}) ⊙ m + h_{t−1}      eval: h_t = p·h_{t−1} + (1 − p)·h̃
// with h_0 the supplied state. The recurrent product reads h itself (EGRU reads the events y).
//
// Each step's pointwise work (gates and zoneout; their adjoints) is the kernels' gruCellForward /
// gruCellBackward (kernels/gru-cell.ts; assembly/cells.ts); the cell's gates, the zoneout
// coefficients and the after-the-loop products are shared with the EGRU kernel (kernels/gated-cell.ts).
// Where the kernels have it (WebAssembly: gru-seq.ts), each pass's time loop is one kernel call, with
// the same bits as the step loop.
//
// Backward assigns fresh arrays for every gradient it returns; the layer accumulates the
// parameter gradients into its own buffers.

import type { FloatArray } from "../core/buffer.js";
import {
  cellKeep,
  gatedParamGrads,
  type GatedParamGrads,
  type GateTape,
  type SeqDims,
  type Zoneout,
} from "./gated-cell.js";
import { jsKernels, type Kernels } from "./backend.js";
import { biasRows } from "./row-ops.js";
import { isInt8Matrix } from "./int8.js";
import { productNN, type Weight } from "./products.js";
import { KernelScratch, outputArrays } from "./scratch.js";

/** Parameters as the kernel sees them (haste layout, gate blocks z, r, g). */
export interface GruKernelParams<A extends FloatArray> {
  W: A; // [I, 3H]
  R: A; // [H, 3H] effective recurrent matrix (after DropConnect)
  bx: A; // [3H]
  br: A; // [3H]
}

/** The forward's parameters: W and R may also be int8 matrices (inference; products.ts). */
export interface GruForwardParams<A extends FloatArray> extends Omit<GruKernelParams<A>, "W" | "R"> {
  W: Weight<A>;
  R: Weight<A>;
}

export interface GruForwardArgs<A extends FloatArray> {
  dims: SeqDims;
  params: GruForwardParams<A>;
  x: A; // [T, B, I]
  h0: A; // [B, H] initial state
  zoneout: Zoneout<A>; // on h; a train mask is [T, B, H], 1 = take the new value
  /** The products' implementation; the portable TypeScript kernels when absent. */
  kernels?: Kernels;
  /** Optional arrays for h, z, r, g, hr ([T, B, H] each), overwritten whole (as EgruForwardArgs.outputs). */
  outputs?: A[] | null;
}

/** How many [T, B, H] arrays gruForward writes (GruForwardArgs.outputs). */
export const GRU_OUTPUTS = 5;

export interface GruForwardOut<A extends FloatArray> {
  h: A; // [T, B, H] states h_1 … h_T (after zoneout); the layer's output
  tape: GateTape<A>;
}

export function gruForward<A extends FloatArray>(args: GruForwardArgs<A>): GruForwardOut<A> {
  const { dims, params, x, h0, zoneout } = args;
  const kernels = args.kernels ?? jsKernels;
  const { T, B, I, H } = dims;
  const G = 3 * H;
  const { W, R, bx, br } = params;
  const [h, z, r, g, hr] = outputArrays(x, T * B * H, GRU_OUTPUTS, args.outputs);
  const tape: GateTape<A> = { z, r, g, hr };

  // Input pre-activations for all steps in one product: a = x·W + bx   [T·B, 3H]. The working
  // arrays a and q live in the kernels' memory where they have one (the kernels then read them in
  // place) and are returned to it at the end.
  const work = new KernelScratch(kernels);
  try {
    const a = work.zerosLike(x, T * B * G);
    productNN(kernels, T * B, G, I, x, 0, W, a, 0, false);
    biasRows(kernels, a, 0, T * B, G, bx);

    // the whole time loop in one call where the kernels have it (the same bits as the loop below)
    const keep0 = cellKeep(zoneout, 0);
    if (!isInt8Matrix(R) && kernels.gruSeqForward?.({ T, B, H, a, R, br, h0, ...keep0, out: { h, tape } }))
      return { h, tape };
    const q = work.zerosLike(x, B * G); // recurrent pre-activations of one step [B, 3H]
    for (let t = 0; t < T; t++) {
      // h_{t−1}: h0, or the previous step's rows of h
      const prev = t === 0 ? h0 : h;
      const prevOff = t === 0 ? 0 : (t - 1) * B * H;
      productNN(kernels, B, G, H, prev, prevOff, R, q, 0, false); // q = h_{t−1}·R + br
      biasRows(kernels, q, 0, B, G, br);
      kernels.gruCellForward({
        B,
        H,
        a,
        aOff: t * B * G,
        q,
        qOff: 0,
        hPrev: prev,
        hPrevOff: prevOff,
        ...cellKeep(zoneout, t * B * H),
        out: { h, tape },
        outOff: t * B * H,
      });
    }
    return { h, tape };
  } finally {
    work.release();
  }
}

export interface GruBackwardArgs<A extends FloatArray> extends GruForwardArgs<A> {
  /** Float weights only: int8 layers do not train. */
  params: GruKernelParams<A>;
  fwd: GruForwardOut<A>;
  /** ∂L/∂h for every step [T, B, H] (the layer's output); absent = 0. */
  dOut?: A | null;
  /** ∂L/∂h_T [B, H], the gradient on the returned final state; absent = 0. */
  dhT?: A | null;
  /** false: the input's gradient is not needed (a bottom layer on data): dx is not computed and comes back empty. */
  inputGrad?: boolean;
}

/** Gradients, freshly allocated. dR is for the effective R. */
export interface GruGrads<A extends FloatArray> extends GatedParamGrads<A> {
  dh0: A; // [B, H]
}

export function gruBackward<A extends FloatArray>(args: GruBackwardArgs<A>): GruGrads<A> {
  const { dims, params, x, h0, zoneout, fwd } = args;
  const kernels = args.kernels ?? jsKernels;
  const dOut = args.dOut ?? null;
  const { T, B, H } = dims;
  const G = 3 * H;
  const { h, tape } = fwd;

  const work = new KernelScratch(kernels); // dp, dq and the step-to-step adjoints in the kernels' memory
  try {
    const dp = work.zerosLike(x, T * B * G); // ∂L/∂(input pre-activation a)      [T, B, 3H]
    const dq = work.zerosLike(x, T * B * G); // ∂L/∂(recurrent pre-activation q)  [T, B, 3H]
    // gradient reaching h_t from step t+1 (leak, zoneout and recurrent product); at t = T, dhT
    let dhRec = work.copyLike(x, B * H, args.dhT);
    let dhNext = work.zerosLike(x, B * H); // dhRec for step t−1, being built at step t
    // the whole time loop in one call where the kernels have it (the same bits as the loop below)
    const whole = kernels.gruSeqBackward?.({
      T,
      B,
      H,
      dOut,
      h,
      h0,
      tape,
      ...cellKeep(zoneout, 0),
      R: params.R,
      dp,
      dq,
      dhRec,
      dhNext,
    });
    for (let t = whole ? -1 : T - 1; t >= 0; t--) {
      // (no step left where the call ran)
      kernels.gruCellBackward({
        B,
        H,
        dOut,
        tape,
        off: t * B * H,
        hPrev: t === 0 ? h0 : h,
        hPrevOff: t === 0 ? 0 : (t - 1) * B * H,
        ...cellKeep(zoneout, t * B * H),
        dhRec,
        dhNext,
        dp,
        dq,
        dOff: t * B * G,
      });
      // plus the recurrent term: dh_{t−1} += dq_t · Rᵀ   [B, H]
      kernels.gemmNT(B, H, G, dq, t * B * G, params.R, 0, dhNext, 0, true);
      // every entry of dhNext was written above, so the two buffers can simply trade places
      const done = dhRec;
      dhRec = dhNext;
      dhNext = done;
    }

    const rest = gatedParamGrads(dims, x, params.W, h0, h, dp, dq, kernels, {
      seq: false,
      input: false,
      inputGrad: args.inputGrad ?? true,
    });
    return { ...rest, dh0: work.kept(dhRec) };
  } finally {
    work.release();
  }
}
