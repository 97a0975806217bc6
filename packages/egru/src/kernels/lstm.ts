// LSTM over a whole sequence: forward and backward side by side (one layer, time-major).
//
// Dimension letters: T time steps, B batch, I inputs, H units. Unlike the GRU kernels, the LSTM
// keeps PyTorch's layout and equations exactly (docs/egru-math.md §5): weights are stored
// "output × input", [4H, ·], with row blocks ordered (i, f, g, o). All arrays are flat,
// row-major, and of one FloatArray kind (float32 for the library, float64 for tests).
//
// Forward, per step:
//   P = x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh      [B, 4H] = [P_i | P_f | P_g | P_o]
//   i = σ(P_i)   f = σ(P_f)   g = tanh(P_g)   o = σ(P_o)
//   c_t = f ⊙ c_{t−1} + i ⊙ g        k_t = tanh(c_t)        h_t = o ⊙ k_t
// with h_0, c_0 the supplied states. W_hh is the effective (DropConnect-ed) matrix.
//
// Each step's pointwise work (gates and states; their adjoints) is the kernels' lstmCellForward /
// lstmCellBackward (kernels/lstm-cell.ts; assembly/lstm.ts).
// Because the weights are stored [4H, ·], the forward products are gemmNT, the backward
// input/state products are gemmNN (dP·W) and the weight gradients gemmTN (dPᵀ·input).
// Backward assigns fresh arrays for every gradient it returns.

import { zerosLike, type FloatArray } from "../core/buffer.js";
import { jsKernels, type Kernels } from "./backend.js";
import type { SeqDims } from "./gated-cell.js";
import { biasRows, columnSums } from "./row-ops.js";
import type { LstmTape } from "./lstm-cell.js";
import { productNN, type Weight } from "./products.js";
import { KernelScratch, outputArrays } from "./scratch.js";

export type { LstmTape } from "./lstm-cell.js";

/** Parameters in PyTorch's layout, gate blocks (i, f, g, o). */
export interface LstmKernelParams<A extends FloatArray> {
  Wih: A; // [4H, I]
  Whh: A; // [4H, H] effective recurrent matrix (after DropConnect)
  bih: A; // [4H]
  bhh: A; // [4H]
}

/** The forward's parameters: Wih and Whh may also be int8 matrices, [I, 4H] and [H, 4H] (inference; products.ts). */
export interface LstmForwardParams<A extends FloatArray> extends Omit<LstmKernelParams<A>, "Wih" | "Whh"> {
  Wih: Weight<A>;
  Whh: Weight<A>;
}

export interface LstmForwardArgs<A extends FloatArray> {
  dims: SeqDims;
  params: LstmForwardParams<A>;
  x: A; // [T, B, I]
  h0: A; // [B, H]
  c0: A; // [B, H]
  /** The products' implementation; the portable TypeScript kernels when absent. */
  kernels?: Kernels;
  /** Optional arrays for h, c, i, f, g, o, k ([T, B, H] each), overwritten whole (as EgruForwardArgs.outputs). */
  outputs?: A[] | null;
}

/** How many [T, B, H] arrays lstmForward writes (LstmForwardArgs.outputs). */
export const LSTM_OUTPUTS = 7;

export interface LstmForwardOut<A extends FloatArray> {
  h: A; // [T, B, H] hidden states h_1 … h_T; the layer's output
  c: A; // [T, B, H] cell states c_1 … c_T
  tape: LstmTape<A>;
}

export function lstmForward<A extends FloatArray>(args: LstmForwardArgs<A>): LstmForwardOut<A> {
  const { dims, params, x, h0, c0 } = args;
  const kernels = args.kernels ?? jsKernels;
  const { T, B, I, H } = dims;
  const G = 4 * H;
  const { Wih, Whh, bih, bhh } = params;
  const [h, c, i, f, g, o, k] = outputArrays(x, T * B * H, LSTM_OUTPUTS, args.outputs);
  const tape: LstmTape<A> = { i, f, g, o, k };

  // Input part of the pre-activations for all steps in one product: x·W_ihᵀ + b_ih + b_hh   [T·B, 4H].
  // The working array P lives in the kernels' memory where they have one (read in place by the
  // products and the cell) and is returned to it at the end.
  const work = new KernelScratch(kernels);
  try {
    const P = work.zerosLike(x, T * B * G);
    productNN(kernels, T * B, G, I, x, 0, Wih, P, 0, false, true); // (float W_ih is [4H, I]: gemmNT)
    biasRows(kernels, P, 0, T * B, G, bih);
    biasRows(kernels, P, 0, T * B, G, bhh);

    for (let t = 0; t < T; t++) {
      const hPrev = t === 0 ? h0 : h;
      const prevOff = t === 0 ? 0 : (t - 1) * B * H;
      // P_t += h_{t−1}·W_hhᵀ   [B, 4H]
      productNN(kernels, B, G, H, hPrev, prevOff, Whh, P, t * B * G, true, true);
      kernels.lstmCellForward({
        B,
        H,
        P,
        pOff: t * B * G,
        cPrev: t === 0 ? c0 : c,
        cPrevOff: prevOff,
        out: { h, c, tape },
        outOff: t * B * H,
      });
    }
    return { h, c, tape };
  } finally {
    work.release();
  }
}

export interface LstmBackwardArgs<A extends FloatArray> extends LstmForwardArgs<A> {
  /** Float weights only: int8 layers do not train. */
  params: LstmKernelParams<A>;
  fwd: LstmForwardOut<A>;
  /** ∂L/∂h for every step [T, B, H] (the layer's output); absent = 0. */
  dOut?: A | null;
  /** ∂L/∂h_T [B, H], the gradient on the returned final hidden state; absent = 0. */
  dhT?: A | null;
  /** ∂L/∂c_T [B, H], the gradient on the returned final cell state; absent = 0. */
  dcT?: A | null;
  /** false: the input's gradient is not needed (a bottom layer on data): dx is not computed and comes back empty. */
  inputGrad?: boolean;
}

/** Gradients, freshly allocated. dWhh is for the effective W_hh. */
export interface LstmGrads<A extends FloatArray> {
  dx: A; // [T, B, I]
  dh0: A; // [B, H]
  dc0: A; // [B, H]
  dWih: A; // [4H, I]
  dWhh: A; // [4H, H]
  dbih: A; // [4H]
  dbhh: A; // [4H]
}

export function lstmBackward<A extends FloatArray>(args: LstmBackwardArgs<A>): LstmGrads<A> {
  const { dims, params, x, h0, c0, fwd } = args;
  const kernels = args.kernels ?? jsKernels;
  const dOut = args.dOut ?? null;
  const { T, B, I, H } = dims;
  const G = 4 * H;
  const { Wih, Whh } = params;
  const { h, c, tape } = fwd;

  const work = new KernelScratch(kernels); // dP and the step-to-step adjoints in the kernels' memory
  try {
    const dP = work.zerosLike(x, T * B * G); // ∂L/∂P   [T, B, 4H]
    // adjoints of h_t and c_t arriving from step t+1 (at t = T: the final-state gradients)
    // (in the kernels' memory, read and written in place by the cell and the products)
    const dhRec = work.copyLike(x, B * H, args.dhT);
    const dcRec = work.copyLike(x, B * H, args.dcT);

    for (let t = T - 1; t >= 0; t--) {
      kernels.lstmCellBackward({
        B,
        H,
        dOut,
        tape,
        off: t * B * H,
        cPrev: t === 0 ? c0 : c,
        cPrevOff: t === 0 ? 0 : (t - 1) * B * H,
        dhRec,
        dcRec,
        dP,
        dOff: t * B * G,
      });
      // dh_{t−1} = dP_t · W_hh   [B, 4H]·[4H, H]; every entry of dhRec was read above
      kernels.gemmNN(B, H, G, dP, t * B * G, Whh, 0, dhRec, 0, false);
    }

    const wantDx = args.inputGrad ?? true;
    const dx = zerosLike(x, wantDx ? T * B * I : 0);
    if (wantDx) kernels.gemmNN(T * B, I, G, dP, 0, Wih, 0, dx, 0, false); // dx = dP · W_ih
    const dWih = zerosLike(x, G * I);
    kernels.gemmTN(G, I, T * B, dP, 0, x, 0, dWih, 0, false); // dW_ih = dPᵀ · x
    const dWhh = zerosLike(x, G * H);
    kernels.gemmTN(G, H, B, dP, 0, h0, 0, dWhh, 0, false); // step 1 reads h0
    if (T > 1) kernels.gemmTN(G, H, (T - 1) * B, dP, B * G, h, 0, dWhh, 0, true); // steps 2…T read h_1…h_{T−1}
    const dbih = zerosLike(x, G);
    columnSums(kernels, dbih, dP, 0, T * B, G);
    const dbhh = dbih.slice() as A; // both biases enter P the same way
    return { dx, dh0: work.kept(dhRec), dc0: work.kept(dcRec), dWih, dWhh, dbih, dbhh };
  } finally {
    work.release();
  }
}
