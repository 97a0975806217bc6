// The gated cells' pointwise work for one time step (B rows of H units), forward and backward:
// the EGRU cell (gates, state, event, trace and their adjoints) and the GRU cell (gates and
// zoneout and their adjoints), which share the gates. They mirror the TypeScript kernels
// (src/kernels/cell-pointwise.ts, src/kernels/gru-cell.ts; the gates in gated-cell.ts) operation
// for operation, so both give the same bits. Forward: float32 arithmetic on four units at a time
// (exp and tanh from fastmath.ts), in two passes over a row's units (the gates z and r, then the
// rest: gatePass). Backward: scalar, every intermediate in f64 and every stored
// value rounded to f32. EGRU's event function: the Heaviside step with the triangular
// pseudo-derivative γ·max(0, 1 − s·|x|).
//
// Addresses are byte offsets; an address of 0 means "absent" (read as zeros) for the optional
// inputs. Gate blocks [z | r | g] of width 3H.

import { add, ld, ldOr0, load4, mul, st, stFlush, store4, sub } from "./cell-io";
import { sigmoid4, tanh4 } from "./fastmath";

/** 2^−100: the forward's trace below it is stored as 0 (src/kernels/f32-math.ts FLUSH_BELOW). */
const FLUSH: f32 = reinterpret<f32>(<u32>(127 - 100) << 23);

/**
 * The first of a gated cell's two passes over units [j0, j1) of the batch row whose gate blocks
 * start at element `row` of a and q [B,3H]: z = σ(a_z + q_z), r = σ(a_r + q_r) to the tape z, r [B,H]
 * (from element base + j0). gatedState4 reads them back: two short chains of dependent operations a
 * unit instead of one long one, so the processor overlaps more units (the EGRU cell at H = 1,350: 9.4
 * µs a step against 12.7); every value takes the same float32 operations, so the bits do not change.
 * Not inlined: the EGRU's and the GRU's cells share one copy (the browser bundle's size).
 */
function gatePass(a: usize, q: usize, row: i32, H: i32, base: i32, j0: i32, j1: i32, z: usize, r: usize): void {
  for (let j = j0; j < j1; j += 4) {
    const n = min(4, j1 - j);
    store4(z, base + j, sigmoid4(add(load4(a, row + j, n), load4(q, row + j, n))), n);
    store4(r, base + j, sigmoid4(add(load4(a, row + H + j, n), load4(q, row + H + j, n))), n);
  }
}

/**
 * The state a gated cell's step reaches at units j … j + n − 1 (n ≤ 4) of the batch row whose gate
 * blocks start at element `row` of a and q [B,3H], after gatePass: z and r read from the tape at
 * element k, g = tanh(a_g + r·q_g) (stored with q_g to the tape g, hr [B,H]),
 * h̃ = z·hp + (1 − z)·g, then zoneout's mix κ·h̃ + (1 − κ)·hp, which is h̃ itself where κ = 1.
 */
@inline function gatedState4(
  a: usize, q: usize, row: i32, H: i32, j: i32, n: i32, hp: v128, kp: v128, k: i32, z: usize, r: usize, g: usize,
  hr: usize,
): v128 {
  const one = f32x4.splat(1);
  const zt = load4(z, k, n);
  const rt = load4(r, k, n);
  const hrt = load4(q, row + 2 * H + j, n);
  const gt = tanh4(add(load4(a, row + 2 * H + j, n), mul(rt, hrt)));
  store4(g, k, gt, n);
  store4(hr, k, hrt, n);
  const gated = add(mul(zt, hp), mul(sub(one, zt), gt));
  const mixed = add(mul(kp, gated), mul(sub(one, kp), hp));
  return v128.bitselect(gated, mixed, f32x4.eq(kp, one));
}

/**
 * Backward of the gates at unit j, element k, for dcg = ∂L/∂h̃: writes the adjoints of the input
 * and recurrent pre-activations into dp, dq [B,3H] (gate blocks of the row at element `row`) and
 * returns the leak's share z·dcg of ∂L/∂h_{t−1}.
 */
@inline function gatedBackward(
  dcg: f64, hp: f64, k: i32, z: usize, r: usize, g: usize, hr: usize, dp: usize, dq: usize, row: i32, H: i32, j: i32,
): f64 {
  const zt = ld(z, k);
  const rt = ld(r, k);
  const gt = ld(g, k);
  const dg = (1.0 - zt) * dcg;
  const dz = (hp - gt) * dcg;
  const dpg = (1.0 - gt * gt) * dg;
  const dr = dpg * ld(hr, k);
  const dpr = rt * (1.0 - rt) * dr;
  const dpz = zt * (1.0 - zt) * dz;
  stFlush(dp, row + j, dpz);
  stFlush(dp, row + H + j, dpr);
  stFlush(dp, row + 2 * H + j, dpg);
  stFlush(dq, row + j, dpz);
  stFlush(dq, row + H + j, dpr);
  stFlush(dq, row + 2 * H + j, dpg * rt);
  return zt * dcg;
}

// ---------------------------------------------------------------------------------------------
// EGRU

/**
 * Forward of one step, in float32 arithmetic, four units at a time. a, q [B,3H]: input and
 * recurrent pre-activations (biases included); hPrev, trPrev [B,H] (0: zeros); thr [H]; keep
 * [B,H] zoneout coefficients (0: keepConst for all). Writes y, h, o, tr, and the tape c, z, r,
 * g, hr [B,H].
 */
export function egruCellForward(
  B: i32, H: i32, a: usize, q: usize, hPrev: usize, trPrev: usize, thr: usize, keep: usize, keepConst: f32,
  alpha: f32, y: usize, h: usize, o: usize, tr: usize, c: usize, z: usize, r: usize, g: usize, hr: usize,
): void {
  egruCellForwardUnits(B, H, 0, H, a, q, hPrev, trPrev, thr, keep, keepConst, alpha, y, h, o, tr, c, z, r, g, hr);
}

/**
 * egruCellForward for units [j0, j1) only (every row): each unit's operations are those of the
 * whole call, so splitting the units over threads gives its bits.
 */
export function egruCellForwardUnits(
  B: i32, H: i32, j0: i32, j1: i32, a: usize, q: usize, hPrev: usize, trPrev: usize, thr: usize, keep: usize,
  keepConst: f32, alpha: f32, y: usize, h: usize, o: usize, tr: usize, c: usize, z: usize, r: usize, g: usize,
  hr: usize,
): void {
  const G = 3 * H;
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const vAlpha = f32x4.splat(alpha);
  const vDecay = f32x4.splat(<f32>1 - alpha);
  const vKeep = f32x4.splat(keepConst);
  const vFlush = f32x4.splat(FLUSH);
  for (let b = 0; b < B; b++) {
    const row = b * G;
    const base = b * H;
    gatePass(a, q, row, H, base, j0, j1, z, r);
    for (let j = j0; j < j1; j += 4) {
      const n = min(4, j1 - j);
      const k = base + j;
      const kp = keep == 0 ? vKeep : load4(keep, k, n);
      const ct = gatedState4(a, q, row, H, j, n, load4(hPrev, k, n), kp, k, z, r, g, hr);
      const th = load4(thr, j, n);
      const ot = v128.and(f32x4.gt(sub(ct, th), zero), one);
      const yt = mul(ct, ot);
      store4(y, k, yt, n);
      store4(h, k, sub(ct, mul(ot, th)), n);
      store4(o, k, ot, n);
      // the trace, below 2^−100 stored as 0: a unit silent for ~830 steps would otherwise decay into the
      // float32 subnormals and stay there (0.9 · 2^−149 rounds to 2^−149), on which this cell ran 2.4×
      // slower (and products reading the trace would too)
      const trt = add(mul(vAlpha, load4(trPrev, k, n)), mul(vDecay, yt));
      store4(tr, k, v128.andnot(trt, f32x4.lt(f32x4.abs(trt), vFlush)), n);
      store4(c, k, ct, n);
    }
  }
}

/**
 * Backward of one step. Upstream dyUp, dhUp, doUp, dtrUp [B,H] (0: zeros); dyRec, dhRec [B,H]
 * the gradients reaching y_t and h_t from step t+1; dtrCarry [B,H] α·dtr_{t+1}, updated in
 * place; tape c, o, z, r, g, hr [B,H]; hPrev [B,H] (0: zeros); thr [H]; keep as in forward.
 * Writes dp, dq [B,3H] and dhNext [B,H]; accumulates the threshold gradient by row, dthrRows [B,H]
 * (summed over the rows after the time loop, so rows never meet inside it).
 */
export function egruCellBackward(
  B: i32, H: i32, dyUp: usize, dhUp: usize, doUp: usize, dtrUp: usize, dyRec: usize, dhRec: usize, dtrCarry: usize,
  c: usize, o: usize, z: usize, r: usize, g: usize, hr: usize, hPrev: usize, thr: usize, keep: usize, keepConst: f64,
  alpha: f64, gamma: f64, support: f64, dp: usize, dq: usize, dhNext: usize, dthrRows: usize,
): void {
  egruCellBackwardUnits(B, H, dyUp, dhUp, doUp, dtrUp, dyRec, dhRec, dtrCarry, c, o, z, r, g, hr, hPrev, thr, keep,
    keepConst, alpha, gamma, support, dp, dq, dhNext, dthrRows, 0, H);
}

/**
 * egruCellBackward for units [j0, j1) of every row only: every element's operations are those of
 * the whole call, so splitting the units (or the rows) over threads gives its bits.
 */
export function egruCellBackwardUnits(
  B: i32, H: i32, dyUp: usize, dhUp: usize, doUp: usize, dtrUp: usize, dyRec: usize, dhRec: usize, dtrCarry: usize,
  c: usize, o: usize, z: usize, r: usize, g: usize, hr: usize, hPrev: usize, thr: usize, keep: usize, keepConst: f64,
  alpha: f64, gamma: f64, support: f64, dp: usize, dq: usize, dhNext: usize, dthrRows: usize, j0: i32, j1: i32,
): void {
  const G = 3 * H;
  for (let b = 0; b < B; b++) {
    const row = b * G;
    const base = b * H;
    for (let j = j0; j < j1; j++) {
      const k = base + j;
      const dtr = ldOr0(dtrUp, k) + ld(dtrCarry, k);
      stFlush(dtrCarry, k, alpha * dtr);
      const dy = ldOr0(dyUp, k) + ld(dyRec, k) + (1.0 - alpha) * dtr;
      const dh = ldOr0(dhUp, k) + ld(dhRec, k);
      const ct = ld(c, k);
      const th = ld(thr, j);
      const ot = ld(o, k);
      const dO = ldOr0(doUp, k) + ct * dy - th * dh;
      const v = 1.0 - support * Math.abs(ct - th);
      const df = v > 0 ? gamma * v : 0.0;
      const dS = df * dO;
      st(dthrRows, k, ld(dthrRows, k) - (dS + ot * dh));
      const dc = ot * dy + dS + dh;
      const kp = keep == 0 ? keepConst : ld(keep, k);
      // the gated cell's backward for dh̃ = κ·dc
      const leak = gatedBackward(kp * dc, ldOr0(hPrev, k), k, z, r, g, hr, dp, dq, row, H, j);
      stFlush(dhNext, k, (1.0 - kp) * dc + leak);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GRU

/**
 * Forward of one step, in float32 arithmetic, four units at a time. a, q [B,3H]: input and
 * recurrent pre-activations (biases included); hPrev [B,H] (0: zeros); keep [B,H] zoneout
 * coefficients (0: keepConst for all). Writes the state h and the tape z, r, g, hr [B,H].
 */
export function gruCellForward(
  B: i32, H: i32, a: usize, q: usize, hPrev: usize, keep: usize, keepConst: f32, h: usize, z: usize, r: usize,
  g: usize, hr: usize,
): void {
  const G = 3 * H;
  const vKeep = f32x4.splat(keepConst);
  for (let b = 0; b < B; b++) {
    const row = b * G;
    const base = b * H;
    gatePass(a, q, row, H, base, 0, H, z, r);
    for (let j = 0; j < H; j += 4) {
      const n = min(4, H - j);
      const k = base + j;
      const kp = keep == 0 ? vKeep : load4(keep, k, n);
      store4(h, k, gatedState4(a, q, row, H, j, n, load4(hPrev, k, n), kp, k, z, r, g, hr), n);
    }
  }
}

/**
 * Backward of one step. dOut [B,H] the upstream ∂L/∂h_t (0: zeros); dhRec [B,H] the gradient
 * reaching h_t from step t+1; tape z, r, g, hr [B,H]; hPrev [B,H] (0: zeros); keep as in forward.
 * Writes dp, dq [B,3H] and dhNext [B,H] (the leak's and zoneout's share of ∂L/∂h_{t−1}).
 */
export function gruCellBackward(
  B: i32, H: i32, dOut: usize, dhRec: usize, z: usize, r: usize, g: usize, hr: usize, hPrev: usize, keep: usize,
  keepConst: f64, dp: usize, dq: usize, dhNext: usize,
): void {
  const G = 3 * H;
  for (let b = 0; b < B; b++) {
    const row = b * G;
    const base = b * H;
    for (let j = 0; j < H; j++) {
      const k = base + j;
      const dh = ldOr0(dOut, k) + ld(dhRec, k);
      const kp = keep == 0 ? keepConst : ld(keep, k);
      const leak = gatedBackward(kp * dh, ldOr0(hPrev, k), k, z, r, g, hr, dp, dq, row, H, j);
      stFlush(dhNext, k, (1.0 - kp) * dh + leak);
    }
  }
}
