// The EGRU cell's pointwise work for one time step — gates, state, event, trace forward; their
// adjoints backward — for B rows of H units, in plain TypeScript. These are the Kernels'
// egruCellForward / egruCellBackward of the portable kernels; the WebAssembly kernels run the
// same operations in the same order (assembly/cells.ts), every intermediate in float64 and every
// stored value rounded to the array's type.
//
// Per unit (docs/egru-math.md §3, §4):
//   forward   z, r, g, h̃ (gated-cell.ts), c = κ·h̃ + (1 − κ)·h_{t−1}, o = f(c − ϑ), y = c·o,
//             h = c − o·ϑ, tr = α·tr_{t−1} + (1 − α)·y
//   backward  dtr = dtr_up + α·dtr_{t+1};  dy = dy_up + dy_rec + (1 − α)·dtr;  dh = dh_up + dh_rec
//             dO = do_up + c·dy − ϑ·dh;  dS = f′(c − ϑ)·dO;  dϑ −= dS + o·dh;  dc = o·dy + dS + dh
//             then the gated cell's backward for κ·dc, and dh_{t−1} = (1 − κ)·dc + z·κ·dc.

import { allFloat32, type FloatArray } from "../core/buffer.js";
import type { EventFunction } from "./activations.js";
import { flushTiny } from "./f32-math.js";
import { gatedCellBackward, gatedStepState, type CellKeep, type GatedStepInputs, type GateTape } from "./gated-cell.js";

export type { CellKeep } from "./gated-cell.js";

/** EGRU's tape, [T, B, H] each: the gates (z, r, g, q_g) and c. */
export interface EgruTape<A extends FloatArray> extends GateTape<A> {
  c: A; // pre-reset state after zoneout (c − ϑ is the event pre-activation)
}

/** One forward step of B rows: a, q [B, 3H], hPrev [B, H] (gated-cell.ts); [B, H] unless noted. */
export interface CellForwardArgs<A extends FloatArray> extends GatedStepInputs<A> {
  trPrev: A | null; // null: zeros
  trPrevOff: number;
  thr: A; // [H] effective thresholds
  alpha: number;
  event: EventFunction;
  /** Outputs y, h, o, tr and the tape, written at outOff. */
  out: { y: A; h: A; o: A; tr: A; tape: EgruTape<A> };
  outOff: number;
}

/** One backward step of B rows. */
export interface CellBackwardArgs<A extends FloatArray> extends CellKeep<A> {
  B: number;
  H: number;
  /** Upstream gradients at `off` (null: zeros). */
  up: { dy: A | null; dh: A | null; do: A | null; dtr: A | null };
  /** The forward's o and tape, at `off`. */
  o: A;
  tape: EgruTape<A>;
  off: number;
  hPrev: A | null; // null: zeros
  hPrevOff: number;
  thr: A; // [H]
  alpha: number;
  event: EventFunction;
  dyRec: A; // [B, H] from step t+1's recurrent product
  dhRec: A; // [B, H] from step t+1's leak
  dtrCarry: A; // [B, H] α·dtr_{t+1}, updated in place
  dhNext: A; // [B, H] out: gradient into h_{t−1}
  dp: A; // [B, 3H] out at dOff: adjoint of the input pre-activations
  dq: A; // [B, 3H] out at dOff: adjoint of the recurrent pre-activations
  dOff: number;
  /** [B, H] the threshold gradient by row, accumulated (the time loop sums it over the rows at the end). */
  dthrRows: A;
}

/**
 * Whether a forward step runs in float32 arithmetic (egruCellForward32): every array float32 and
 * the Heaviside event. Otherwise (float64 arrays, the smooth event of the gradient checks) it runs
 * in float64 with stores rounded to the arrays' type.
 */
export function forwardInFloat32<A extends FloatArray>(args: CellForwardArgs<A>): boolean {
  const { out } = args;
  const { tape } = out;
  return (
    args.event.kind === "heaviside" &&
    allFloat32(
      args.a,
      args.q,
      args.hPrev,
      args.trPrev,
      args.thr,
      args.keep,
      out.y,
      out.h,
      out.o,
      out.tr,
      tape.c,
      tape.z,
      tape.r,
      tape.g,
      tape.hr,
    )
  );
}

/**
 * Whether the WebAssembly backward step applies (egruCellBackward of the wasm kernels, whole or
 * split by units): every array float32 and the Heaviside event with its surrogate's γ and support.
 */
export function backwardInFloat32<A extends FloatArray>(args: CellBackwardArgs<A>): boolean {
  const { event, up, tape } = args;
  return (
    event.kind === "heaviside" &&
    event.gamma !== undefined &&
    event.support !== undefined &&
    allFloat32(up.dy, up.dh, up.do, up.dtr, args.o, tape.c, tape.z, tape.r, tape.g, tape.hr, args.hPrev) &&
    allFloat32(args.thr, args.keep, args.dyRec, args.dhRec, args.dtrCarry, args.dhNext, args.dp, args.dq, args.dthrRows)
  );
}

export function egruCellForward<A extends FloatArray>(args: CellForwardArgs<A>): void {
  if (forwardInFloat32(args)) {
    egruCellForward32(args);
    return;
  }
  const { B, H, trPrev, trPrevOff, thr, alpha, event, out, outOff } = args;
  const { y, h, o, tr, tape } = out;
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const s = outOff + k;
      const c = gatedStepState(args, tape, outOff, b, j, false);
      const th = thr[j];
      const ot = event.f(c - th);
      const yt = c * ot;
      y[s] = yt;
      h[s] = c - ot * th;
      o[s] = ot;
      // below 2^−100 stored as 0, as the float32 kernels do (docs/egru-math.md §6.1)
      tr[s] = flushTiny(alpha * (trPrev ? trPrev[trPrevOff + k] : 0) + (1 - alpha) * yt);
      tape.c[s] = c;
    }
  }
}

export function egruCellBackward<A extends FloatArray>(args: CellBackwardArgs<A>): void {
  const {
    B,
    H,
    up,
    o,
    tape,
    off,
    hPrev,
    hPrevOff,
    thr,
    keep,
    keepOff,
    keepConst,
    alpha,
    event,
    dyRec,
    dhRec,
    dtrCarry,
    dhNext,
    dp,
    dq,
    dOff,
    dthrRows,
  } = args;
  const G = 3 * H;
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const s = off + k;
      const dtr = (up.dtr ? up.dtr[s] : 0) + dtrCarry[k];
      dtrCarry[k] = flushTiny(alpha * dtr);
      const dy = (up.dy ? up.dy[s] : 0) + dyRec[k] + (1 - alpha) * dtr;
      const dh = (up.dh ? up.dh[s] : 0) + dhRec[k];
      const c = tape.c[s];
      const th = thr[j];
      const ot = o[s];
      // y = c·o and h = c − o·ϑ both depend on o:
      const dO = (up.do ? up.do[s] : 0) + c * dy - th * dh;
      const dS = event.df(c - th) * dO; // through o = f(c − ϑ)
      dthrRows[k] -= dS + ot * dh;
      const dc = ot * dy + dS + dh;
      // c = κ·h̃ + (1 − κ)·h_{t−1} under zoneout (κ = 1 without)
      const kp = keep ? keep[keepOff + k] : keepConst;
      const hp = hPrev ? hPrev[hPrevOff + k] : 0;
      const leak = gatedCellBackward(kp * dc, hp, tape, s, dp, dq, dOff + b * G, H, j);
      dhNext[k] = flushTiny((1 - kp) * dc + leak);
    }
  }
}

const f = Math.fround;

/**
 * The forward step in float32 arithmetic, one Math.fround per operation: the scalar twin of the
 * four-lane WebAssembly kernel (assembly/cells.ts), giving the same bits. Heaviside event only.
 */
function egruCellForward32<A extends FloatArray>(args: CellForwardArgs<A>): void {
  const { B, H, trPrev, trPrevOff, thr, out, outOff } = args;
  const { y, h, o, tr, tape } = out;
  const alpha = f(args.alpha);
  const decay = f(1 - alpha);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const s = outOff + k;
      const c = gatedStepState(args, tape, outOff, b, j, true);
      const th = thr[j];
      const ot = f(c - th) > 0 ? 1 : 0;
      const yt = f(c * ot);
      y[s] = yt;
      h[s] = f(c - f(ot * th));
      o[s] = ot;
      tr[s] = flushTiny(f(f(alpha * (trPrev ? trPrev[trPrevOff + k] : 0)) + f(decay * yt)));
      tape.c[s] = c;
    }
  }
}
