// The elementwise work of a training step around the layers, in WebAssembly so that the threaded
// kernels can split it by contiguous element ranges (src/node/threaded-kernels.ts): counting
// nonzeros (the event/dense choice), finding the first non-finite value (input checks), adding a
// layer call's gradients into the accumulated ones, and the optimizer updates. Each mirrors its
// TypeScript twin in src/kernels/train-ops.ts (addScaled: core/buffer.ts addInto) operation for
// operation: the updates compute in float64 (two lanes of f64x2 at a time, the same operations in
// the same order as the JavaScript numbers of the twin, no fused multiply-add) and store float32,
// so every build, and every split over threads, gives the twin's bits.

import { at } from "./common";

/** Number of entries of a[n] that are not zero (NaN counts, −0 does not), as `a[i] !== 0`. */
export function countNonzero(a: usize, n: i32): i32 {
  const zero = f32x4.splat(0);
  let acc = i32x4.splat(0);
  let i = 0;
  const nv = n & ~15;
  for (; i < nv; i += 16) {
    const p = at(a, i);
    // each lane of ne is −1 where the entry is nonzero: subtracting counts it
    acc = i32x4.sub(acc, f32x4.ne(v128.load(p), zero));
    acc = i32x4.sub(acc, f32x4.ne(v128.load(p, 16), zero));
    acc = i32x4.sub(acc, f32x4.ne(v128.load(p, 32), zero));
    acc = i32x4.sub(acc, f32x4.ne(v128.load(p, 48), zero));
  }
  for (; i + 4 <= n; i += 4) acc = i32x4.sub(acc, f32x4.ne(v128.load(at(a, i)), zero));
  let c = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  for (; i < n; i++) if (load<f32>(at(a, i)) != 0) c++;
  return c;
}

/** Index of the first NaN or ±Infinity in a[n], or −1 when every entry is finite (x − x is 0 exactly for finite x). */
export function firstNonFinite(a: usize, n: i32): i32 {
  const zero = f32x4.splat(0);
  let i = 0;
  const nv = n & ~15;
  for (; i < nv; i += 16) {
    const p = at(a, i);
    const x0 = v128.load(p);
    const x1 = v128.load(p, 16);
    const x2 = v128.load(p, 32);
    const x3 = v128.load(p, 48);
    const bad = v128.or(
      v128.or(f32x4.ne(f32x4.sub(x0, x0), zero), f32x4.ne(f32x4.sub(x1, x1), zero)),
      v128.or(f32x4.ne(f32x4.sub(x2, x2), zero), f32x4.ne(f32x4.sub(x3, x3), zero)),
    );
    if (v128.any_true(bad)) break; // the scalar loop below finds which
  }
  for (; i < n; i++) {
    const x = load<f32>(at(a, i));
    if (x - x != 0) return i;
  }
  return -1;
}

/** Two float32 at p as float64 lanes. */
@inline function load2(p: usize): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p));
}

/** Two float64 lanes rounded to float32, stored at p. */
@inline function store2(p: usize, x: v128): void {
  v128.store64_lane(p, f32x4.demote_f64x2_zero(x), 0);
}

/**
 * Adam / AdamW on n parameters (w, g, m, v float32 [n]), with the twin's float64 operations:
 *   gi = decoupled ? g : g + wd·w
 *   m = f32(b1·m + c1·gi)       v = f32(b2·v + (c2·gi)·gi)
 *   w = f32(w·shrink − (stepSize·m) / (√v / bc2 + eps))
 * c1 = 1 − b1, c2 = 1 − b2, bc2 = √(1 − b2^t), stepSize = lr / (1 − b1^t), shrink = 1 − lr·wd (AdamW)
 * or 1, all computed by the caller in float64.
 */
export function adamUpdate(w: usize, g: usize, m: usize, v: usize, n: i32, b1: f64, c1: f64, b2: f64, c2: f64,
  eps: f64, stepSize: f64, bc2: f64, shrink: f64, wd: f64, decoupled: bool): void {
  const B1 = f64x2.splat(b1);
  const C1 = f64x2.splat(c1);
  const B2 = f64x2.splat(b2);
  const C2 = f64x2.splat(c2);
  const EPS = f64x2.splat(eps);
  const STEP = f64x2.splat(stepSize);
  const BC2 = f64x2.splat(bc2);
  const SHRINK = f64x2.splat(shrink);
  const WD = f64x2.splat(wd);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const pw = at(w, i);
    const pm = at(m, i);
    const pv = at(v, i);
    const wi = load2(pw);
    let gi = load2(at(g, i));
    if (!decoupled) gi = f64x2.add(gi, f64x2.mul(WD, wi));
    const mi = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(B1, load2(pm)), f64x2.mul(C1, gi))));
    const vi = f64x2.promote_low_f32x4(
      f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(B2, load2(pv)), f64x2.mul(f64x2.mul(C2, gi), gi))),
    );
    store2(pm, mi);
    store2(pv, vi);
    const den = f64x2.add(f64x2.div(f64x2.sqrt(vi), BC2), EPS);
    store2(pw, f64x2.sub(f64x2.mul(wi, SHRINK), f64x2.div(f64x2.mul(STEP, mi), den)));
  }
  for (; i < n; i++) {
    const wi = <f64>load<f32>(at(w, i));
    const gi = decoupled ? <f64>load<f32>(at(g, i)) : <f64>load<f32>(at(g, i)) + wd * wi;
    const mi = <f64><f32>(b1 * <f64>load<f32>(at(m, i)) + c1 * gi);
    const vi = <f64><f32>(b2 * <f64>load<f32>(at(v, i)) + c2 * gi * gi);
    store<f32>(at(m, i), <f32>mi);
    store<f32>(at(v, i), <f32>vi);
    store<f32>(at(w, i), <f32>(wi * shrink - (stepSize * mi) / (Math.sqrt(vi) / bc2 + eps)));
  }
}

/**
 * SGD with momentum on n parameters (w, g float32 [n]; buf float32 [n] or 0 without momentum), with
 * the twin's float64 operations:
 *   d = g + wd·w;   with a buffer: d = first ? d : mu·buf + d, buf = f32(d) (d itself stays float64)
 *   w = f32(w − lr·d)
 */
export function sgdUpdate(w: usize, g: usize, buf: usize, n: i32, lr: f64, wd: f64, mu: f64, first: bool): void {
  const LR = f64x2.splat(lr);
  const WD = f64x2.splat(wd);
  const MU = f64x2.splat(mu);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const pw = at(w, i);
    const wi = load2(pw);
    let d = f64x2.add(load2(at(g, i)), f64x2.mul(WD, wi));
    if (buf != 0) {
      const pb = at(buf, i);
      if (!first) d = f64x2.add(f64x2.mul(MU, load2(pb)), d);
      store2(pb, d);
    }
    store2(pw, f64x2.sub(wi, f64x2.mul(LR, d)));
  }
  for (; i < n; i++) {
    const wi = <f64>load<f32>(at(w, i));
    let d = <f64>load<f32>(at(g, i)) + wd * wi;
    if (buf != 0) {
      if (!first) d = mu * <f64>load<f32>(at(buf, i)) + d;
      store<f32>(at(buf, i), <f32>d);
    }
    store<f32>(at(w, i), <f32>(wi - lr * d));
  }
}

/** a[n] = f32(a + scale·b) in float64 (a gradient added into an accumulated one; the twin: addInto). */
export function addScaled(a: usize, b: usize, n: i32, scale: f64): void {
  const S = f64x2.splat(scale);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const pa = at(a, i);
    store2(pa, f64x2.add(load2(pa), f64x2.mul(S, load2(at(b, i)))));
  }
  for (; i < n; i++) store<f32>(at(a, i), <f32>(<f64>load<f32>(at(a, i)) + scale * <f64>load<f32>(at(b, i))));
}

/** Elements per chunk of the sums of squares (SQUARES_CHUNK in src/kernels/train-ops.ts). */
const SQUARES_CHUNK: i32 = 4096;

/**
 * The sum of squares of each chunk of SQUARES_CHUNK elements of a[n] (the last one shorter), in
 * float64, into out[⌈n / SQUARES_CHUNK⌉] (float64): per chunk, four running sums s0…s3 of the
 * squares of the elements 4k, 4k + 1, 4k + 2, 4k + 3 (two f64x2 lanes each), then
 * (s0 + s1) + (s2 + s3), then the last n mod 4 squares one by one. Fixed by the chunk alone, so
 * chunks on any thread give the same sums (the squares of float32 values are exact in float64).
 */
export function sumSquaresChunks(a: usize, n: i32, out: usize): void {
  for (let c0 = 0, k = 0; c0 < n; c0 += SQUARES_CHUNK, k++) {
    const len = min(SQUARES_CHUNK, n - c0);
    const p = at(a, c0);
    let lo = f64x2.splat(0);
    let hi = f64x2.splat(0);
    let i = 0;
    for (; i + 4 <= len; i += 4) {
      const x = v128.load(at(p, i));
      const x01 = f64x2.promote_low_f32x4(x);
      const x23 = f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 0, 1));
      lo = f64x2.add(lo, f64x2.mul(x01, x01));
      hi = f64x2.add(hi, f64x2.mul(x23, x23));
    }
    let s = (f64x2.extract_lane(lo, 0) + f64x2.extract_lane(lo, 1)) + (f64x2.extract_lane(hi, 0) + f64x2.extract_lane(hi, 1));
    for (; i < len; i++) {
      const x = <f64>load<f32>(at(p, i));
      s += x * x;
    }
    store<f64>(out + (<usize>k << 3), s);
  }
}

/**
 * The number of entries of x [rows, H] outside the surrogate window of their unit's threshold:
 * |x[r, j] − thr[j]| > support, in float64 (the EGRU layer's backward sparsity statistics).
 */
export function countOutside(rows: i32, H: i32, x: usize, thr: usize, support: f64): i32 {
  const S = f64x2.splat(support);
  let acc = i64x2.splat(0);
  let c: i32 = 0;
  for (let r = 0; r < rows; r++) {
    const p = at(x, <usize>r * <usize>H);
    let j = 0;
    for (; j + 2 <= H; j += 2) {
      const d = f64x2.abs(f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(at(p, j))), f64x2.promote_low_f32x4(v128.load64_zero(at(thr, j)))));
      acc = i64x2.sub(acc, f64x2.gt(d, S)); // −1 per lane outside
    }
    for (; j < H; j++) if (Math.abs(<f64>load<f32>(at(p, j)) - <f64>load<f32>(at(thr, j))) > support) c++;
  }
  return c + <i32>(i64x2.extract_lane(acc, 0) + i64x2.extract_lane(acc, 1));
}
