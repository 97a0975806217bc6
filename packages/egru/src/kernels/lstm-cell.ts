// The LSTM cell's pointwise work for one time step — gates and states forward; their adjoints
// backward — for B rows of H units, in plain TypeScript: the Kernels' lstmCellForward /
// lstmCellBackward of the portable kernels. The WebAssembly kernels run the same operations in the
// same order (assembly/lstm.ts), so both give the same bits: the forward in float32 arithmetic
// (here too when every array is float32: lstmCellForward32; else in float64), the backward with
// every intermediate in float64 and every stored value rounded to the array's type.
//
// Per unit (docs/egru-math.md §5; PyTorch's nn.LSTM, gate blocks i, f, g, o of P [B, 4H]):
//   forward   i = σ(P_i)   f = σ(P_f)   g = tanh(P_g)   o = σ(P_o)
//             c_t = f·c_{t−1} + i·g        k = tanh(c_t)        h_t = o·k
//   backward  dh = dh_up + dh_rec;  dc = dc_rec + (1 − k²)·o·dh;  dc_{t−1} = f·dc
//             dP_i = i(1 − i)·g·dc   dP_f = f(1 − f)·c_{t−1}·dc   dP_g = (1 − g²)·i·dc   dP_o = o(1 − o)·k·dh
//             (dh_{t−1} = dP·W_hh is the caller's product after the step)

import { allFloat32, type FloatArray } from "../core/buffer.js";
import { sigmoid } from "./activations.js";
import { flushTiny, sigmoid32, tanh32 } from "./f32-math.js";

/** Saved for backward, [T, B, H] each. */
export interface LstmTape<A extends FloatArray> {
  i: A; // input gate
  f: A; // forget gate
  g: A; // cell candidate
  o: A; // output gate
  k: A; // tanh(c_t)
}

/** One forward step of B rows. Arrays are addressed as (array, offset); [B, H] unless noted. */
export interface LstmCellForwardArgs<A extends FloatArray> {
  B: number;
  H: number;
  P: A; // [B, 4H] pre-activations at pOff: both products and both biases, blocks i, f, g, o
  pOff: number;
  cPrev: A | null; // c_{t−1}; null: zeros
  cPrevOff: number;
  /** Outputs: h_t, c_t and the tape, written at outOff. */
  out: { h: A; c: A; tape: LstmTape<A> };
  outOff: number;
}

/** One backward step of B rows. */
export interface LstmCellBackwardArgs<A extends FloatArray> {
  B: number;
  H: number;
  dOut: A | null; // ∂L/∂h_t from above, at off; null: zeros
  tape: LstmTape<A>; // the forward's, at off
  off: number;
  cPrev: A | null; // c_{t−1}; null: zeros
  cPrevOff: number;
  dhRec: A; // [B, H] gradient reaching h_t from step t+1's recurrent product
  dcRec: A; // [B, H] in: gradient reaching c_t from step t+1; out (in place): the one reaching c_{t−1}
  dP: A; // [B, 4H] out at dOff: adjoint of the pre-activations
  dOff: number;
}

/**
 * Whether a forward step runs in float32 arithmetic (lstmCellForward32), as the WebAssembly
 * kernel's does: every array float32. Otherwise (float64 arrays, the reference checks) in float64,
 * stores rounded to the arrays' type.
 */
export function lstmForwardInFloat32<A extends FloatArray>(args: LstmCellForwardArgs<A>): boolean {
  const { h, c, tape } = args.out;
  return allFloat32(args.P, args.cPrev, h, c, tape.i, tape.f, tape.g, tape.o, tape.k);
}

export function lstmCellForward<A extends FloatArray>(args: LstmCellForwardArgs<A>): void {
  if (lstmForwardInFloat32(args)) {
    lstmCellForward32(args);
    return;
  }
  const { B, H, P, pOff, cPrev, cPrevOff, out, outOff } = args;
  const { h, c, tape } = out;
  const G = 4 * H;
  for (let b = 0; b < B; b++) {
    const row = pOff + b * G;
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const s = outOff + k;
      const it = sigmoid(P[row + j]);
      const ft = sigmoid(P[row + H + j]);
      const gt = Math.tanh(P[row + 2 * H + j]);
      const ot = sigmoid(P[row + 3 * H + j]);
      const ct = ft * (cPrev ? cPrev[cPrevOff + k] : 0) + it * gt;
      const kt = Math.tanh(ct);
      c[s] = ct;
      h[s] = ot * kt;
      tape.i[s] = it;
      tape.f[s] = ft;
      tape.g[s] = gt;
      tape.o[s] = ot;
      tape.k[s] = kt;
    }
  }
}

const f = Math.fround;

/**
 * The forward step in float32 arithmetic, one Math.fround per operation: the scalar twin of the
 * four-lane WebAssembly kernel (assembly/lstm.ts), giving the same bits.
 */
function lstmCellForward32<A extends FloatArray>(args: LstmCellForwardArgs<A>): void {
  const { B, H, P, pOff, cPrev, cPrevOff, out, outOff } = args;
  const { h, c, tape } = out;
  const G = 4 * H;
  for (let b = 0; b < B; b++) {
    const row = pOff + b * G;
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const s = outOff + k;
      const it = sigmoid32(P[row + j]);
      const ft = sigmoid32(P[row + H + j]);
      const gt = tanh32(P[row + 2 * H + j]);
      const ot = sigmoid32(P[row + 3 * H + j]);
      const ct = f(f(ft * (cPrev ? cPrev[cPrevOff + k] : 0)) + f(it * gt));
      const kt = tanh32(ct);
      c[s] = ct;
      h[s] = f(ot * kt);
      tape.i[s] = it;
      tape.f[s] = ft;
      tape.g[s] = gt;
      tape.o[s] = ot;
      tape.k[s] = kt;
    }
  }
}

export function lstmCellBackward<A extends FloatArray>(args: LstmCellBackwardArgs<A>): void {
  const { B, H, dOut, tape, off, cPrev, cPrevOff, dhRec, dcRec, dP, dOff } = args;
  const G = 4 * H;
  for (let b = 0; b < B; b++) {
    const row = dOff + b * G;
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const s = off + k;
      const it = tape.i[s];
      const ft = tape.f[s];
      const gt = tape.g[s];
      const ot = tape.o[s];
      const kt = tape.k[s];
      const dh = (dOut ? dOut[s] : 0) + dhRec[k];
      // h = o ⊙ tanh(c):  do = k·dh,  dc += (1 − k²)·o·dh
      const dc = dcRec[k] + (1 - kt * kt) * ot * dh;
      // c_t = f ⊙ c_{t−1} + i ⊙ g
      // adjoints below 2^−100 stored as zero, away from float32 subnormals (f32-math.ts: flushTiny)
      dcRec[k] = flushTiny(ft * dc);
      dP[row + j] = flushTiny(it * (1 - it) * gt * dc);
      dP[row + H + j] = flushTiny(ft * (1 - ft) * (cPrev ? cPrev[cPrevOff + k] : 0) * dc);
      dP[row + 2 * H + j] = flushTiny((1 - gt * gt) * it * dc);
      dP[row + 3 * H + j] = flushTiny(ot * (1 - ot) * kt * dh);
    }
  }
}
