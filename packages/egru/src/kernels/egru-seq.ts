// The EGRU's whole time loop as one kernel call, forward and backward (Kernels.egruSeqForward,
// egruSeqBackward; assembly/egru-seq.ts): what a call takes, when it applies, and the argument lists
// of the WebAssembly exports for a block of batch rows, shared by the one-thread kernels (one block,
// every row) and the threaded ones (a block per thread). kernels/egru.ts uses it where the kernels
// have it and it applies; otherwise it runs the step loop, whose calls give the same bits.

import { allFloat32, type FloatArray } from "../core/buffer.js";
import type { EventFunction } from "./activations.js";
import type { EgruTape } from "./cell-pointwise.js";

/** The forward of a whole sequence from zero state (h0 = tr0 = 0), time-major. */
export interface EgruSeqForwardArgs<A extends FloatArray> {
  T: number;
  B: number;
  H: number;
  a: A; // [T, B, 3H] input pre-activations, biases included
  R: A; // [H, 3H] the effective recurrent matrix
  br: A; // [3H]
  y0: A; // [B, H]
  thr: A; // [H] effective thresholds
  keep: A | null; // [T, B, H] zoneout's training mask, or null: keepConst everywhere
  keepConst: number;
  alpha: number;
  event: EventFunction;
  /** Written whole, [T, B, H] each. */
  out: { y: A; h: A; o: A; tr: A; tape: EgruTape<A> };
}

/** The backward of a whole sequence (the forward's h0 = 0), time-major. */
export interface EgruSeqBackwardArgs<A extends FloatArray> {
  T: number;
  B: number;
  H: number;
  /** Upstream gradients [T, B, H] (null: zeros). */
  up: { dy: A | null; dh: A | null; do: A | null; dtr: A | null };
  /** The forward's o, h and tape, [T, B, H] each. */
  o: A;
  h: A;
  tape: EgruTape<A>;
  thr: A; // [H]
  keep: A | null; // as in the forward
  keepConst: number;
  alpha: number;
  event: EventFunction;
  R: A; // [H, 3H]
  dp: A; // [T, B, 3H] out: adjoint of the input pre-activations
  dq: A; // [T, B, 3H] out: adjoint of the recurrent pre-activations
  /**
   * The step loop's [B, H] arrays, zeros before the call: dyRec ends as ∂L/∂y0, dthrRows as the
   * threshold gradient by row (the caller sums its rows); dhRec, dtrCarry, dhNext, receives are work.
   */
  rows: EgruSeqRows<A>;
}

/** The [B, H] arrays of the EGRU backward's time loop (kernels/egru.ts). */
export interface EgruSeqRows<A extends FloatArray> {
  dyRec: A;
  dhRec: A;
  dtrCarry: A;
  dhNext: A;
  receives: A;
  dthrRows: A;
}

/** The order of EgruSeqRows' arrays in the export's arguments. */
const ROWS = ["dyRec", "dhRec", "dtrCarry", "dhNext", "receives", "dthrRows"] as const;

/** Whether the forward runs in WebAssembly: float32 arrays and the Heaviside event (as the cell's). */
export function seqForwardApplies<A extends FloatArray>(s: EgruSeqForwardArgs<A>): boolean {
  const { out } = s;
  const t = out.tape;
  return (
    s.event.kind === "heaviside" &&
    s.T * s.B * s.H > 0 &&
    allFloat32(s.a, s.R, s.br, s.y0, s.thr, s.keep, out.y, out.h, out.o, out.tr) &&
    allFloat32(t.c, t.z, t.r, t.g, t.hr)
  );
}

/** Whether the backward runs in WebAssembly: float32 arrays and the Heaviside event with its surrogate. */
export function seqBackwardApplies<A extends FloatArray>(s: EgruSeqBackwardArgs<A>): boolean {
  const { up, tape: t, event } = s;
  return (
    event.kind === "heaviside" &&
    event.gamma !== undefined &&
    event.support !== undefined &&
    s.T * s.B * s.H > 0 &&
    allFloat32(up.dy, up.dh, up.do, up.dtr, s.o, s.h, s.thr, s.keep, s.R, s.dp, s.dq) &&
    allFloat32(t.c, t.z, t.r, t.g, t.hr, ...ROWS.map((k) => s.rows[k]))
  );
}

/** An operand of a call: the array (null: absent), its element count, whether it is read and written. */
export type SeqOperand = [a: FloatArray | null, len: number, read: boolean, written: boolean, name: string];

/** The forward's arrays in the order egruSeqForwardCall takes their addresses. */
export function seqForwardOperands<A extends FloatArray>(s: EgruSeqForwardArgs<A>): SeqOperand[] {
  const { T, B, H, out } = s;
  const n = T * B * H;
  const t = out.tape;
  const written = (a: A, name: string): SeqOperand => [a, n, false, true, name];
  return [
    [s.a, 3 * n, true, false, "a"],
    [s.R, 3 * H * H, true, false, "R"],
    [s.br, 3 * H, true, false, "br"],
    [s.y0, B * H, true, false, "y0"],
    [s.thr, H, true, false, "thr"],
    [s.keep, n, true, false, "keep"],
    ...[out.y, out.h, out.o, out.tr].map((a, i) => written(a, ["y", "h", "o", "tr"][i])),
    ...[t.c, t.z, t.r, t.g, t.hr].map((a, i) => written(a, `tape.${["c", "z", "r", "g", "hr"][i]}`)),
  ];
}

/** egruSeqForward's arguments for rows [r0, r1), given the operands' addresses and the step's q [B, 3H] and scratch. */
export function egruSeqForwardCall<A extends FloatArray>(
  s: EgruSeqForwardArgs<A>,
  p: number[],
  crossover: number,
  r0: number,
  r1: number,
  q: number,
  scratch: number,
): number[] {
  const [a, R, br, y0, thr, keep, ...outs] = p;
  return [s.T, s.B, s.H, r0, r1, a, R, br, y0, thr, keep, s.keepConst, s.alpha, crossover, ...outs, q, scratch];
}

/** The backward's arrays in the order egruSeqBackwardCall takes their addresses. */
export function seqBackwardOperands<A extends FloatArray>(s: EgruSeqBackwardArgs<A>): SeqOperand[] {
  const { T, B, H, up } = s;
  const n = T * B * H;
  const t = s.tape;
  const read = (a: A | null, name: string): SeqOperand => [a, n, true, false, name];
  return [
    read(up.dy, "upstream.dy"),
    read(up.dh, "upstream.dh"),
    read(up.do, "upstream.do"),
    read(up.dtr, "upstream.dtr"),
    read(s.o, "o"),
    read(t.c, "tape.c"),
    read(t.z, "tape.z"),
    read(t.r, "tape.r"),
    read(t.g, "tape.g"),
    read(t.hr, "tape.hr"),
    read(s.h, "h"),
    [s.thr, H, true, false, "thr"],
    read(s.keep, "keep"),
    [s.R, 3 * H * H, true, false, "R"],
    [s.dp, 3 * n, false, true, "dp"],
    [s.dq, 3 * n, false, true, "dq"],
    ...ROWS.map((k): SeqOperand => [s.rows[k], B * H, true, true, k]),
  ];
}

/**
 * The arrays a call must find in the kernels' memory (those of [T, B, ·]; the others may be copied):
 * the forward's input pre-activations, outputs and tape, or the backward's tape and adjoints.
 */
export function seqForwardResident<A extends FloatArray>(s: EgruSeqForwardArgs<A>): A[] {
  const { out } = s;
  const t = out.tape;
  return [s.a, out.y, out.h, out.o, out.tr, t.c, t.z, t.r, t.g, t.hr];
}

export function seqBackwardResident<A extends FloatArray>(s: EgruSeqBackwardArgs<A>): A[] {
  const t = s.tape;
  return [s.o, s.h, t.c, t.z, t.r, t.g, t.hr, s.dp, s.dq];
}

/** egruSeqBackward's arguments for rows [r0, r1), given the operands' addresses and scratch. */
export function egruSeqBackwardCall<A extends FloatArray>(
  s: EgruSeqBackwardArgs<A>,
  p: number[],
  crossover: number,
  r0: number,
  r1: number,
  scratch: number,
): number[] {
  const [dy, dh, dO, dtr, o, c, z, r, g, hr, h, thr, keep, R, dp, dq, ...rows] = p;
  const { gamma = 0, support = 0 } = s.event;
  return [
    s.T,
    s.B,
    s.H,
    r0,
    r1,
    dy,
    dh,
    dO,
    dtr,
    o,
    c,
    z,
    r,
    g,
    hr,
    h,
    thr,
    keep,
    s.keepConst,
    s.alpha,
    gamma,
    support,
    R,
    crossover,
    dp,
    dq,
    ...rows,
    scratch,
  ];
}
