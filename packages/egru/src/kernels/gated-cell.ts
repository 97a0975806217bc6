// The reset-after GRU cell shared by the EGRU and GRU kernels: one unit's gates forward and
// backward, zoneout's mixing coefficient, and the products after the time loop.
//
// Letters: T steps, B batch, I inputs, H units; packed gate blocks [z | r | g] of width 3H.
//   z = σ(a_z + q_z)   r = σ(a_r + q_r)   g = tanh(a_g + r ⊙ q_g)   h̃ = z ⊙ h_{t−1} + (1 − z) ⊙ g
// where a = x_t·W + bx and q = s_{t−1}·R + br, s being what the recurrent product reads
// (GRU: the state h; EGRU: the events y). Derivations: docs/egru-math.md §3.3 and §4.

import { countNonzero, zerosLike, type FloatArray } from "../core/buffer.js";
import { sigmoid } from "./activations.js";
import type { Kernels } from "./backend.js";
import { flushTiny, sigmoid32, tanh32 } from "./f32-math.js";
import { columnSums } from "./row-ops.js";

export interface SeqDims {
  T: number;
  B: number;
  I: number;
  H: number;
}

/** Zoneout as applied to the new state: none, training with a 0/1 keep-mask, or the evaluation mix. */
export type Zoneout<A extends FloatArray> =
  | { kind: "none" }
  | { kind: "train"; mask: A } // [T, B, H], 1 = take the new value
  | { kind: "eval"; p: number };

/** Saved for backward, [T, B, H] each (EGRU's tape adds c). */
export interface GateTape<A extends FloatArray> {
  z: A; // update gate
  r: A; // reset gate
  g: A; // candidate
  hr: A; // q_g = (s_{t−1}·R + br)_g, the recurrent candidate term before the reset gate
}

/**
 * A step's zoneout coefficients κ, the weight of the new value: h = κ·h̃ + (1 − κ)·h_{t−1}.
 * Backward: dh̃ = κ·dh, dh_{t−1} += (1 − κ)·dh. The cell kernels take them in this form.
 */
export interface CellKeep<A extends FloatArray> {
  /** [B, H] per-unit κ at keepOff (the training mask), or null: keepConst for every unit. */
  keep: A | null;
  keepOff: number;
  /** κ where keep is null: 1 without zoneout, 1 − p in evaluation. */
  keepConst: number;
}

/**
 * What a gated cell's forward step (EGRU or GRU) reads, for B rows of H units; arrays are addressed
 * as (array, offset).
 */
export interface GatedStepInputs<A extends FloatArray> extends CellKeep<A> {
  B: number;
  H: number;
  a: A; // [B, 3H] input pre-activations (bias included) at aOff
  aOff: number;
  q: A; // [B, 3H] recurrent pre-activations (bias included) at qOff
  qOff: number;
  hPrev: A | null; // [B, H] state before the step; null: zeros
  hPrevOff: number;
}

/**
 * The zoneout coefficients of the step whose [B, H] block starts at flat index off of the
 * sequence: the training mask there (κ = m), else the constant 1 − p (evaluation) or 1 (none).
 */
export function cellKeep<A extends FloatArray>(zoneout: Zoneout<A>, off: number): CellKeep<A> {
  if (zoneout.kind === "train") return { keep: zoneout.mask, keepOff: off, keepConst: 1 };
  return { keep: null, keepOff: 0, keepConst: zoneout.kind === "eval" ? 1 - zoneout.p : 1 };
}

/** Zoneout's mix κ·h̃ + (1 − κ)·h_prev, which is h̃ itself where κ = 1. */
function zoneoutMix(kp: number, gated: number, hPrev: number): number {
  return kp === 1 ? gated : kp * gated + (1 - kp) * hPrev;
}

/**
 * One unit j of the reset-after GRU cell for one batch row. `a` and `q` hold that row's input and
 * recurrent pre-activations at aRow, qRow ([3H] each, blocks z, r, g). Writes z, r, g, q_g to the
 * tape at flat index s and returns h̃ = z·h_prev + (1 − z)·g.
 */
export function gatedCellForward<A extends FloatArray>(
  a: A,
  aRow: number,
  q: A,
  qRow: number,
  H: number,
  j: number,
  hPrev: number,
  tape: GateTape<A>,
  s: number,
): number {
  const zt = sigmoid(a[aRow + j] + q[qRow + j]);
  const rt = sigmoid(a[aRow + H + j] + q[qRow + H + j]);
  const hrt = q[qRow + 2 * H + j];
  const gt = Math.tanh(a[aRow + 2 * H + j] + rt * hrt);
  tape.z[s] = zt;
  tape.r[s] = rt;
  tape.g[s] = gt;
  tape.hr[s] = hrt;
  return zt * hPrev + (1 - zt) * gt;
}

const f = Math.fround;

/**
 * gatedCellForward in float32 arithmetic, one Math.fround per operation (exp, sigmoid and tanh
 * from f32-math.ts): the scalar twin of the four-lane gates of assembly/cells.ts, the same bits.
 */
function gatedCellForward32<A extends FloatArray>(
  a: A,
  aRow: number,
  q: A,
  qRow: number,
  H: number,
  j: number,
  hPrev: number,
  tape: GateTape<A>,
  s: number,
): number {
  const zt = sigmoid32(f(a[aRow + j] + q[qRow + j]));
  const rt = sigmoid32(f(a[aRow + H + j] + q[qRow + H + j]));
  const hrt = q[qRow + 2 * H + j];
  const gt = tanh32(f(a[aRow + 2 * H + j] + f(rt * hrt)));
  tape.z[s] = zt;
  tape.r[s] = rt;
  tape.g[s] = gt;
  tape.hr[s] = hrt;
  return f(f(zt * hPrev) + f(f(1 - zt) * gt));
}

/** zoneoutMix in float32 arithmetic (κ, h̃ and h_prev float32 values). */
function zoneoutMix32(kp: number, gated: number, hPrev: number): number {
  return kp === 1 ? gated : f(f(kp * gated) + f(f(1 - kp) * hPrev));
}

/**
 * The state a gated cell's step reaches at unit j of batch row b: the gates (gatedCellForward,
 * writing the tape at outOff + b·H + j), then zoneout's mix. With f32, both in float32 arithmetic
 * (gatedCellForward32, zoneoutMix32; κ rounded to float32), as the WebAssembly cells compute them.
 */
export function gatedStepState<A extends FloatArray>(
  args: GatedStepInputs<A>,
  tape: GateTape<A>,
  outOff: number,
  b: number,
  j: number,
  f32: boolean,
): number {
  const { H, hPrev, keep } = args;
  const k = b * H + j;
  const row = b * 3 * H;
  const hp = hPrev ? hPrev[args.hPrevOff + k] : 0;
  const kp = keep ? keep[args.keepOff + k] : args.keepConst;
  if (f32) {
    const gated = gatedCellForward32(args.a, args.aOff + row, args.q, args.qOff + row, H, j, hp, tape, outOff + k);
    return zoneoutMix32(f(kp), gated, hp);
  }
  return zoneoutMix(
    kp,
    gatedCellForward(args.a, args.aOff + row, args.q, args.qOff + row, H, j, hp, tape, outOff + k),
    hp,
  );
}

/**
 * Backward of gatedCellForward: given dc = ∂L/∂h̃ for unit j of one row, writes the adjoints of the
 * input and recurrent pre-activations into dp and dq at `row` ([3H] each) and returns the leak's
 * share z·dc of ∂L/∂h_prev (the recurrent share comes later, from dq·Rᵀ).
 */
export function gatedCellBackward<A extends FloatArray>(
  dc: number,
  hPrev: number,
  tape: GateTape<A>,
  s: number,
  dp: A,
  dq: A,
  row: number,
  H: number,
  j: number,
): number {
  const zt = tape.z[s];
  const rt = tape.r[s];
  const gt = tape.g[s];
  const dg = (1 - zt) * dc;
  const dz = (hPrev - gt) * dc;
  const dpg = (1 - gt * gt) * dg;
  const dr = dpg * tape.hr[s];
  const dpr = rt * (1 - rt) * dr;
  const dpz = zt * (1 - zt) * dz;
  // adjoints below 2^−100 stored as zero, away from float32 subnormals (f32-math.ts: flushTiny)
  const fz = flushTiny(dpz);
  const fr = flushTiny(dpr);
  const fg = flushTiny(dpg);
  dp[row + j] = fz;
  dp[row + H + j] = fr;
  dp[row + 2 * H + j] = fg;
  dq[row + j] = fz;
  dq[row + H + j] = fr;
  dq[row + 2 * H + j] = flushTiny(dpg * rt);
  return zt * dc;
}

/** Input, weight and bias gradients of a packed-gate layer, freshly allocated. */
export interface GatedParamGrads<A extends FloatArray> {
  dx: A; // [T, B, I]
  dW: A; // [I, 3H]
  dR: A; // [H, 3H] for the effective R
  dbx: A; // [3H]
  dbr: A; // [3H]
  /** Multiply-accumulates these products executed, and what dense products would execute. */
  macs: MacCount;
}

/** Executed and dense multiply-accumulate counts of some work. */
export interface MacCount {
  executed: number;
  dense: number;
}

/** Which operands of the products after the loop are event sequences (mostly exact zeros). */
export interface SparseOperands {
  /** The sequence the recurrent product reads is sparse (EGRU's y): dR only over its nonzeros. */
  seq: boolean;
  /** The input is sparse (the events of an EGRU layer below): dW only over its nonzeros. */
  input: boolean;
  /** With `input`: x's nonzeros where the caller counted them (the forward did), else they are counted. */
  inputNonzeros?: number;
  /** [T, B, I] 0/1, the input entries whose gradient is needed; null: all of them. */
  dxMask?: FloatArray | null;
  /** false: the input's gradient is not needed (a bottom layer on data): dx is not computed and comes back empty. */
  inputGrad?: boolean;
  /** Zeroed arrays for dW, dR, dbx and dbr (e.g. in the kernels' memory); pooled ones of x's kind when absent. */
  gradients?: ((n: number) => FloatArray) | null;
}

/** Whether n entries of a from off are sparse enough (density ≤ the kernels' crossover) for an event product. */
export function sparseEnough(kernels: Kernels, a: FloatArray, off: number, n: number): boolean {
  return fewEnough(kernels, nonzerosOn(kernels, a, off, n), n);
}

/** Whether `nonzeros` of n entries, counted already, are sparse enough for an event product (sparseEnough's rule). */
export function fewEnough(kernels: Kernels, nonzeros: number, n: number): boolean {
  return nonzeros <= kernels.eventCrossover * n;
}

/** Nonzero entries of a[off, off + n), counted by the kernels' countNonzero where they have one. */
export function nonzerosOn(kernels: Kernels, a: FloatArray, off: number, n: number): number {
  return kernels.countNonzero ? kernels.countNonzero(a, off, n) : countNonzero(a, off, n);
}

/**
 * After the time loop: dx = dp·Wᵀ, dW = xᵀ·dp, dR = Σ_t s_{t−1}ᵀ·dq_t, dbx = Σ dp, dbr = Σ dq, where
 * s is the sequence the recurrent product reads ([T, B, H]; s_0 = init [B, H]) and dp, dq are
 * [T, B, 3H]. GRU: s = h, init = h0. EGRU: s = y, init = y0, and dR only accumulates the rows of
 * presynaptic units that were active (a zero row of s contributes exactly nothing) — while they are
 * sparse enough for the event product to pay; likewise dW over an event input.
 */
export function gatedParamGrads<A extends FloatArray>(
  dims: SeqDims,
  x: A,
  W: A,
  init: A,
  seq: A,
  dp: A,
  dq: A,
  kernels: Kernels,
  sparse: SparseOperands,
): GatedParamGrads<A> {
  const { T, B, I, H } = dims;
  const G = 3 * H;
  const wantDx = sparse.inputGrad ?? true;
  // (a dense backward that needs no input gradient skips dx too)
  const dense = T * B * G * ((wantDx ? 2 : 1) * I + H);
  let executed = 0;
  const dx = zerosLike(x, wantDx ? T * B * I : 0); // dx = dp · Wᵀ
  const mask = sparse.dxMask ?? null;
  if (!wantDx) {
    // nothing to compute
  } else if (mask && sparseEnough(kernels, mask, 0, mask.length)) {
    executed += kernels.maskedGemmNT(T * B, I, G, dp, 0, W, 0, mask, 0, dx, 0);
  } else {
    kernels.gemmNT(T * B, I, G, dp, 0, W, 0, dx, 0, false);
    executed += T * B * G * I;
    if (mask) for (let i = 0; i < dx.length; i++) if (mask[i] === 0) dx[i] = 0; // same contract either way
  }
  const grad = (n: number): A => (sparse.gradients ? (sparse.gradients(n) as A) : zerosLike(x, n));
  const dW = grad(I * G);
  const inputEvents =
    sparse.input && fewEnough(kernels, sparse.inputNonzeros ?? nonzerosOn(kernels, x, 0, T * B * I), T * B * I);
  if (inputEvents) {
    executed += kernels.eventGemmTN(I, G, T * B, x, 0, dp, 0, dW, 0); // dW = xᵀ · dp
  } else {
    kernels.gemmTN(I, G, T * B, x, 0, dp, 0, dW, 0, false);
    executed += T * B * G * I;
  }
  const dR = grad(H * G);
  if (sparse.seq && sparseEnough(kernels, seq, 0, (T - 1) * B * H)) {
    executed += kernels.eventGemmTN(H, G, B, init, 0, dq, 0, dR, 0); // step 1 reads init
    if (T > 1) executed += kernels.eventGemmTN(H, G, (T - 1) * B, seq, 0, dq, B * G, dR, 0);
  } else {
    kernels.gemmTN(H, G, B, init, 0, dq, 0, dR, 0, false);
    if (T > 1) kernels.gemmTN(H, G, (T - 1) * B, seq, 0, dq, B * G, dR, 0, true); // steps 2…T read s_1…s_{T−1}
    executed += T * B * G * H;
  }
  const dbx = grad(G);
  columnSums(kernels, dbx, dp, 0, T * B, G);
  const dbr = grad(G);
  columnSums(kernels, dbr, dq, 0, T * B, G);
  return { dx, dW, dR, dbx, dbr, macs: { executed, dense } };
}
