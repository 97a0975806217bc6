// The EGRU cell's pointwise work for one time step (B rows of H units), forward and backward:
// gates, state, event, trace and their adjoints, mirroring the float32 kernels of
// src/kernels/cell-pointwise.ts operation for operation, so both give the same bits. Forward:
// float32 arithmetic on four units at a time (exp and tanh from fastmath.ts). Backward: scalar,
// every intermediate in f64 and every stored value rounded to f32. Event function: the Heaviside
// step with the triangular pseudo-derivative γ·max(0, 1 − s·|x|).
//
// Addresses are byte offsets; an address of 0 means "absent" (read as zeros) for the optional
// inputs. Gate blocks [z | r | g] of width 3H.

import { at } from "./common";
import { sigmoid4, tanh4 } from "./fastmath";

@inline function ld(base: usize, i: i32): f64 {
  return <f64>load<f32>(at(base, <usize>i));
}

@inline function st(base: usize, i: i32, v: f64): void {
  store<f32>(at(base, <usize>i), <f32>v);
}

/** st, with |v| < 2^−100 stored as 0 (src/kernels/f32-math.ts: flushTiny, the same rule). */
@inline function stFlush(base: usize, i: i32, v: f64): void {
  store<f32>(at(base, <usize>i), <f32>(Math.abs(v) < 7.888609052210118e-31 ? 0.0 : v));
}

@inline function ldOr0(base: usize, i: i32): f64 {
  return base == 0 ? 0.0 : ld(base, i);
}

/** Lanes [i, i + n) of a float array (n ≤ 4; missing lanes 0); base 0 gives zeros. */
@inline function load4(base: usize, i: i32, n: i32): v128 {
  if (base == 0) return f32x4.splat(0);
  const p = at(base, <usize>i);
  if (n == 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (n > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (n > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Store the first n ≤ 4 lanes of v at element i. */
@inline function store4(base: usize, i: i32, v: v128, n: i32): void {
  const p = at(base, <usize>i);
  if (n == 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

@inline function mul(a: v128, b: v128): v128 {
  return f32x4.mul(a, b);
}
@inline function add(a: v128, b: v128): v128 {
  return f32x4.add(a, b);
}
@inline function sub(a: v128, b: v128): v128 {
  return f32x4.sub(a, b);
}

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
  const G = 3 * H;
  const one = f32x4.splat(1);
  const zero = f32x4.splat(0);
  const vAlpha = f32x4.splat(alpha);
  const vDecay = f32x4.splat(<f32>1 - alpha);
  const vKeep = f32x4.splat(keepConst);
  for (let b = 0; b < B; b++) {
    const row = b * G;
    const base = b * H;
    for (let j = 0; j < H; j += 4) {
      const n = min(4, H - j);
      const k = base + j;
      const zt = sigmoid4(add(load4(a, row + j, n), load4(q, row + j, n)));
      const rt = sigmoid4(add(load4(a, row + H + j, n), load4(q, row + H + j, n)));
      const hrt = load4(q, row + 2 * H + j, n);
      const gt = tanh4(add(load4(a, row + 2 * H + j, n), mul(rt, hrt)));
      store4(z, k, zt, n);
      store4(r, k, rt, n);
      store4(g, k, gt, n);
      store4(hr, k, hrt, n);
      const hp = load4(hPrev, k, n);
      const gated = add(mul(zt, hp), mul(sub(one, zt), gt));
      const kp = keep == 0 ? vKeep : load4(keep, k, n);
      const mixed = add(mul(kp, gated), mul(sub(one, kp), hp));
      const ct = v128.bitselect(gated, mixed, f32x4.eq(kp, one));
      const th = load4(thr, j, n);
      const ot = v128.and(f32x4.gt(sub(ct, th), zero), one);
      const yt = mul(ct, ot);
      store4(y, k, yt, n);
      store4(h, k, sub(ct, mul(ot, th)), n);
      store4(o, k, ot, n);
      store4(tr, k, add(mul(vAlpha, load4(trPrev, k, n)), mul(vDecay, yt)), n);
      store4(c, k, ct, n);
    }
  }
}

/**
 * Backward of one step. Upstream dyUp, dhUp, doUp, dtrUp [B,H] (0: zeros); dyRec, dhRec [B,H]
 * the gradients reaching y_t and h_t from step t+1; dtrCarry [B,H] α·dtr_{t+1}, updated in
 * place; tape c, o, z, r, g, hr [B,H]; hPrev [B,H] (0: zeros); thr [H]; keep as in forward.
 * Writes dp, dq [B,3H] and dhNext [B,H]; accumulates dthr [H].
 */
export function egruCellBackward(
  B: i32, H: i32, dyUp: usize, dhUp: usize, doUp: usize, dtrUp: usize, dyRec: usize, dhRec: usize, dtrCarry: usize,
  c: usize, o: usize, z: usize, r: usize, g: usize, hr: usize, hPrev: usize, thr: usize, keep: usize, keepConst: f64,
  alpha: f64, gamma: f64, support: f64, dp: usize, dq: usize, dhNext: usize, dthr: usize,
): void {
  const G = 3 * H;
  for (let b = 0; b < B; b++) {
    const row = b * G;
    const base = b * H;
    for (let j = 0; j < H; j++) {
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
      st(dthr, j, ld(dthr, j) - (dS + ot * dh));
      const dc = ot * dy + dS + dh;
      const kp = keep == 0 ? keepConst : ld(keep, k);
      const hp = ldOr0(hPrev, k);
      // the gated cell's backward for dh̃ = κ·dc
      const dcg = kp * dc;
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
      stFlush(dhNext, k, (1.0 - kp) * dc + zt * dcg);
    }
  }
}
