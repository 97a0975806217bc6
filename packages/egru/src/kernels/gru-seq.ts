// The GRU's whole time loop as one kernel call, forward and backward (Kernels.gruSeqForward,
// gruSeqBackward; assembly/gru-seq.ts), as egru-seq.ts for the EGRU: what a call takes, when it
// applies, and the export's arguments for a block of batch rows, shared by the one-thread kernels
// (one block) and the threaded ones (a block per thread). kernels/gru.ts uses it where the kernels
// have it and it applies; otherwise it runs the step loop, whose calls give the same bits.

import { allFloat32, type FloatArray } from "../core/buffer.js";
import type { SeqOperand } from "./egru-seq.js";
import type { GateTape } from "./gated-cell.js";

/** The forward of a whole sequence, time-major. */
export interface GruSeqForwardArgs<A extends FloatArray> {
  T: number;
  B: number;
  H: number;
  a: A; // [T, B, 3H] input pre-activations, biases included
  R: A; // [H, 3H] the effective recurrent matrix
  br: A; // [3H]
  h0: A; // [B, H]
  keep: A | null; // [T, B, H] zoneout's training mask, or null: keepConst everywhere
  keepConst: number;
  /** Written whole, [T, B, H] each. */
  out: { h: A; tape: GateTape<A> };
}

/** The backward of a whole sequence, time-major. */
export interface GruSeqBackwardArgs<A extends FloatArray> {
  T: number;
  B: number;
  H: number;
  dOut: A | null; // [T, B, H] ∂L/∂h for every step (null: zeros)
  h: A; // [T, B, H] the forward's states
  h0: A; // [B, H]
  tape: GateTape<A>;
  keep: A | null;
  keepConst: number;
  R: A; // [H, 3H]
  dp: A; // [T, B, 3H] out
  dq: A; // [T, B, 3H] out
  /** [B, H]: ∂L/∂h_T on entry, ∂L/∂h0 on return. */
  dhRec: A;
  /** [B, H] work. */
  dhNext: A;
}

export function gruSeqForwardApplies<A extends FloatArray>(s: GruSeqForwardArgs<A>): boolean {
  const t = s.out.tape;
  return s.T * s.B * s.H > 0 && allFloat32(s.a, s.R, s.br, s.h0, s.keep, s.out.h, t.z, t.r, t.g, t.hr);
}

export function gruSeqBackwardApplies<A extends FloatArray>(s: GruSeqBackwardArgs<A>): boolean {
  const t = s.tape;
  return (
    s.T * s.B * s.H > 0 &&
    allFloat32(s.dOut, s.h, s.h0, t.z, t.r, t.g, t.hr, s.keep, s.R) &&
    allFloat32(s.dp, s.dq, s.dhRec, s.dhNext)
  );
}

/** The arrays of [T, B, ·] a call must find in the kernels' memory (the others may be copied). */
export function gruSeqForwardResident<A extends FloatArray>(s: GruSeqForwardArgs<A>): A[] {
  const t = s.out.tape;
  return [s.a, s.out.h, t.z, t.r, t.g, t.hr];
}

export function gruSeqBackwardResident<A extends FloatArray>(s: GruSeqBackwardArgs<A>): A[] {
  const t = s.tape;
  return [s.h, t.z, t.r, t.g, t.hr, s.dp, s.dq];
}

/** The forward's arrays in the order gruSeqForwardCall takes their addresses. */
export function gruSeqForwardOperands<A extends FloatArray>(s: GruSeqForwardArgs<A>): SeqOperand[] {
  const { T, B, H } = s;
  const n = T * B * H;
  const t = s.out.tape;
  return [
    [s.a, 3 * n, true, false, "a"],
    [s.R, 3 * H * H, true, false, "R"],
    [s.br, 3 * H, true, false, "br"],
    [s.h0, B * H, true, false, "h0"],
    [s.keep, n, true, false, "keep"],
    [s.out.h, n, false, true, "h"],
    ...(["z", "r", "g", "hr"] as const).map((k): SeqOperand => [t[k], n, false, true, `tape.${k}`]),
  ];
}

/** gruSeqForward's arguments for rows [r0, r1), given the operands' addresses, the step's q [B, 3H] and scratch. */
export function gruSeqForwardCall<A extends FloatArray>(
  s: GruSeqForwardArgs<A>,
  p: number[],
  r0: number,
  r1: number,
  q: number,
  scratch: number,
): number[] {
  const [a, R, br, h0, keep, ...outs] = p;
  return [s.T, s.B, s.H, r0, r1, a, R, br, h0, keep, s.keepConst, ...outs, q, scratch];
}

/** The backward's arrays in the order gruSeqBackwardCall takes their addresses. */
export function gruSeqBackwardOperands<A extends FloatArray>(s: GruSeqBackwardArgs<A>): SeqOperand[] {
  const { T, B, H } = s;
  const n = T * B * H;
  const t = s.tape;
  return [
    [s.dOut, n, true, false, "dOut"],
    ...(["z", "r", "g", "hr"] as const).map((k): SeqOperand => [t[k], n, true, false, `tape.${k}`]),
    [s.h, n, true, false, "h"],
    [s.h0, B * H, true, false, "h0"],
    [s.keep, n, true, false, "keep"],
    [s.R, 3 * H * H, true, false, "R"],
    [s.dp, 3 * n, false, true, "dp"],
    [s.dq, 3 * n, false, true, "dq"],
    [s.dhRec, B * H, true, true, "dhRec"],
    [s.dhNext, B * H, true, true, "dhNext"],
  ];
}

/** gruSeqBackward's arguments for rows [r0, r1), given the operands' addresses and scratch. */
export function gruSeqBackwardCall<A extends FloatArray>(
  s: GruSeqBackwardArgs<A>,
  p: number[],
  r0: number,
  r1: number,
  scratch: number,
): number[] {
  const [dOut, z, r, g, hr, h, h0, keep, R, dp, dq, dhRec, dhNext] = p;
  return [s.T, s.B, s.H, r0, r1, dOut, z, r, g, hr, h, h0, keep, s.keepConst, R, dp, dq, dhRec, dhNext, scratch];
}
