// Float32 exp, sigmoid and tanh on four lanes at once, for the cell kernels (cells.ts).
//
// exp: Cody–Waite range reduction x = n·ln2 + r (|r| ≤ ln2/2, n rounded to nearest even), a
// degree-5 polynomial for eʳ (the coefficients of the Cephes library's expf, about 1 ulp), and
// the scale 2ⁿ built in the exponent bits; x is clamped to [−87, 88] first, so 2ⁿ stays normal (by
// pmin/pmax, one x86 instruction each where min/max take several for their NaN and −0 rules, which
// a clamp between two nonzero constants does not need: NaN stays NaN either way).
// tanh: an odd Taylor polynomial below |x| = 0.25, else (1 − e)/(1 + e) with e = exp(−2|x|).
// Every step is one float32 operation (no fused multiply-add), so src/kernels/f32-math.ts, which
// performs the same operations with Math.fround, gives the same bits.

export const EXP_LO: f32 = -87.0;
export const EXP_HI: f32 = 88.0;
export const LOG2E: f32 = 1.44269504088896341;
export const LN2_HI: f32 = 0.693359375;
export const LN2_LO: f32 = -2.12194440e-4;
export const P0: f32 = 1.9875691500e-4;
export const P1: f32 = 1.3981999507e-3;
export const P2: f32 = 8.3334519073e-3;
export const P3: f32 = 4.1665795894e-2;
export const P4: f32 = 1.6666665459e-1;
export const P5: f32 = 5.0000001201e-1;
export const TANH_SMALL: f32 = 0.25;
export const T3: f32 = -0.333333333333333333; // −1/3
export const T5: f32 = 0.133333333333333333; // 2/15
export const T7: f32 = -0.053968253968253968; // −17/315
export const T9: f32 = 0.021869488536155203; // 62/2835

@inline function splat(v: f32): v128 {
  return f32x4.splat(v);
}

/** eˣ, lane-wise. */
@inline export function exp4(x0: v128): v128 {
  const x = f32x4.pmin(f32x4.pmax(x0, splat(EXP_LO)), splat(EXP_HI));
  const n = f32x4.nearest(f32x4.mul(x, splat(LOG2E)));
  let r = f32x4.sub(x, f32x4.mul(n, splat(LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, splat(LN2_LO)));
  let p = splat(P0);
  p = f32x4.add(f32x4.mul(p, r), splat(P1));
  p = f32x4.add(f32x4.mul(p, r), splat(P2));
  p = f32x4.add(f32x4.mul(p, r), splat(P3));
  p = f32x4.add(f32x4.mul(p, r), splat(P4));
  p = f32x4.add(f32x4.mul(p, r), splat(P5));
  let y = f32x4.mul(p, f32x4.mul(r, r));
  y = f32x4.add(y, r);
  y = f32x4.add(y, splat(1));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(y, scale);
}

/** 1 / (1 + e⁻ˣ), lane-wise. */
@inline export function sigmoid4(x: v128): v128 {
  return f32x4.div(splat(1), f32x4.add(splat(1), exp4(f32x4.neg(x))));
}

/** tanh x, lane-wise. */
@inline export function tanh4(x: v128): v128 {
  const ax = f32x4.abs(x);
  // small |x|: x + x³·(T3 + x²·(T5 + x²·(T7 + x²·T9)))
  const x2 = f32x4.mul(x, x);
  let p = splat(T9);
  p = f32x4.add(f32x4.mul(p, x2), splat(T7));
  p = f32x4.add(f32x4.mul(p, x2), splat(T5));
  p = f32x4.add(f32x4.mul(p, x2), splat(T3));
  const small = f32x4.add(x, f32x4.mul(f32x4.mul(x, x2), p));
  // otherwise: sign(x)·(1 − e)/(1 + e), e = exp(−2|x|)
  const e = exp4(f32x4.mul(ax, splat(-2)));
  const t = f32x4.div(f32x4.sub(splat(1), e), f32x4.add(splat(1), e));
  const large = v128.or(t, v128.and(x, i32x4.splat(0x80000000)));
  return v128.bitselect(small, large, f32x4.lt(ax, splat(TANH_SMALL)));
}
