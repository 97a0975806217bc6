// The GRU cell's pointwise work for one time step — gates, zoneout forward; their adjoints
// backward — for B rows of H units, in plain TypeScript: the Kernels' gruCellForward /
// gruCellBackward of the portable kernels. The WebAssembly kernels run the same operations in the
// same order (assembly/cells.ts), so both give the same bits: the forward in float32 arithmetic
// (here too when every array is float32: one Math.fround per operation, exp, sigmoid and tanh from
// f32-math.ts; else in float64), the backward with every intermediate in float64 and every stored
// value rounded to the array's type.
//
// Per unit (docs/egru-math.md §4; the gates are gated-cell.ts's, shared with the EGRU cell):
//   forward   z = σ(a_z + q_z)   r = σ(a_r + q_r)   g = tanh(a_g + r·q_g)   h̃ = z·h_{t−1} + (1 − z)·g
//             h_t = κ·h̃ + (1 − κ)·h_{t−1}                     (κ: zoneout coefficient, 1 without)
//   backward  dh = dh_up + dh_rec;  the gates' backward for dh̃ = κ·dh;  dh_{t−1} = (1 − κ)·dh + z·κ·dh
//             (the recurrent share dq·Rᵀ of dh_{t−1} is the caller's product after the step)

import { allFloat32, type FloatArray } from "../core/buffer.js";
import { flushTiny } from "./f32-math.js";
import { gatedCellBackward, gatedStepState, type CellKeep, type GatedStepInputs, type GateTape } from "./gated-cell.js";

/** One forward step of B rows: a, q [B, 3H], hPrev [B, H] (gated-cell.ts), and the outputs [B, H]. */
export interface GruCellForwardArgs<A extends FloatArray> extends GatedStepInputs<A> {
  /** Outputs: the state h_t and the tape (z, r, g, q_g), written at outOff. */
  out: { h: A; tape: GateTape<A> };
  outOff: number;
}

/** One backward step of B rows. */
export interface GruCellBackwardArgs<A extends FloatArray> extends CellKeep<A> {
  B: number;
  H: number;
  dOut: A | null; // ∂L/∂h_t from above, at off; null: zeros
  tape: GateTape<A>; // the forward's, at off
  off: number;
  hPrev: A | null; // h_{t−1}; null: zeros
  hPrevOff: number;
  dhRec: A; // [B, H] gradient reaching h_t from step t+1 (its leak, zoneout and recurrent product)
  dhNext: A; // [B, H] out: the leak's and zoneout's share of ∂L/∂h_{t−1}
  dp: A; // [B, 3H] out at dOff: adjoint of the input pre-activations
  dq: A; // [B, 3H] out at dOff: adjoint of the recurrent pre-activations
  dOff: number;
}

/**
 * Whether a forward step runs in float32 arithmetic, as the WebAssembly kernel's does: every array
 * float32. Otherwise (float64 arrays, the reference checks) in float64, stores rounded to the arrays' type.
 */
export function gruForwardInFloat32<A extends FloatArray>(args: GruCellForwardArgs<A>): boolean {
  const { h, tape } = args.out;
  return allFloat32(args.a, args.q, args.hPrev, args.keep, h, tape.z, tape.r, tape.g, tape.hr);
}

export function gruCellForward<A extends FloatArray>(args: GruCellForwardArgs<A>): void {
  const { B, H, out, outOff } = args;
  const { h, tape } = out;
  const f32 = gruForwardInFloat32(args);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) h[outOff + b * H + j] = gatedStepState(args, tape, outOff, b, j, f32);
  }
}

export function gruCellBackward<A extends FloatArray>(args: GruCellBackwardArgs<A>): void {
  const { B, H, dOut, tape, off, hPrev, hPrevOff, keep, keepOff, keepConst, dhRec, dhNext, dp, dq, dOff } = args;
  const G = 3 * H;
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const s = off + k;
      const dh = (dOut ? dOut[s] : 0) + dhRec[k];
      const kp = keep ? keep[keepOff + k] : keepConst;
      const hp = hPrev ? hPrev[hPrevOff + k] : 0;
      const leak = gatedCellBackward(kp * dh, hp, tape, s, dp, dq, dOff + b * G, H, j);
      dhNext[k] = flushTiny((1 - kp) * dh + leak);
    }
  }
}
