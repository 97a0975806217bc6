// Products on int8 weights: out[M, N] (+)= x[M, K] · W, W int8 [K, N] with one float32 scale per
// input unit (folded into x) or per output unit (applied once at the end). The operations and their
// order are those of src/kernels/int8.ts, so both kernel sets give the same bits (the relaxed-SIMD
// build fuses each multiply-add, one rounding instead of two: common.ts fmadd): per row of x, the
// list of its nonzeros (k, coef) in increasing k (coef = x·scale[k] per input, else x), the sum of
// coef·W[k, n] over the list from +0 (one rounded multiply and one rounded add per entry, the
// int8 values widened exactly to f32), then ·scale[n] per output, then written or added. The int8
// rows are read whole (16 values a vector) and a row's sums stay in scratch while they are built.

// madd is fmadd: fused in the relaxed-SIMD build (common.ts), where these products measured faster
import { align16, at, fmadd as madd, fmaddS } from "./common";

// Widening. Each group of four int8 goes to the top byte of four i32 lanes (one swizzle: the lanes
// hold q·2^24, signed and exact) and is converted to f32 (exactly q·2^24); the coefficient it is
// multiplied by was scaled by 2^−24 (exact), so the product is the real number coef·q, rounded once,
// the bits of the TypeScript kernel's f32(coef·q). A coefficient so small that coef·2^−24 would be
// subnormal (|coef| < 2^−102, not exact) takes the widening by sign extension instead (lowF/highF).

/** Swizzle masks: int8 lanes 4g … 4g + 3 to the top bytes of four i32 lanes (−128 = 0x80: a zero byte). */
const TOP0 = v128(-128, -128, -128, 0, -128, -128, -128, 1, -128, -128, -128, 2, -128, -128, -128, 3);
const TOP1 = v128(-128, -128, -128, 4, -128, -128, -128, 5, -128, -128, -128, 6, -128, -128, -128, 7);
const TOP2 = v128(-128, -128, -128, 8, -128, -128, -128, 9, -128, -128, -128, 10, -128, -128, -128, 11);
const TOP3 = v128(-128, -128, -128, 12, -128, -128, -128, 13, -128, -128, -128, 14, -128, -128, -128, 15);

/** f32x4 of q·2^24 for the int8 lanes picked by `top` (TOP0 … TOP3) of v. */
@inline function topF(v: v128, top: v128): v128 {
  return f32x4.convert_i32x4_s(v128.swizzle(v, top));
}

/** 2^−24, and the smallest |coef| whose coef·2^−24 is a normal float. */
const UNSCALE: f32 = 5.9604644775390625e-8;
const SMALLEST: f32 = 1.9721522630525295e-31; // 2^−102

/** f32x4 of the int8 lanes 0–3, 4–7 of the i16x8 `h` (the sign-extended halves of 16 int8). */
@inline function lowF(h: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h));
}
@inline function highF(h: v128): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h));
}

/** f32x4 of the four int8 at p. */
@inline function four(p: usize): v128 {
  return lowF(i16x8.extend_low_i8x16_s(v128.load32_zero(p)));
}

/**
 * The list of the nonzeros of x[0:K]: pairs (i32 k, f32 coef) at ent, coef = x[k]·scales[k] when
 * perInput, else x[k]. Blocks of four zeros are skipped with one vector test. Returns the count.
 */
function i8List(x: usize, K: i32, scales: usize, perInput: bool, ent: usize): i32 {
  const z = f32x4.splat(0);
  let e = 0;
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    if (!v128.any_true(f32x4.ne(v128.load(at(x, k)), z))) continue;
    for (let j = k; j < k + 4; j++) e = i8Append(x, j, scales, perInput, ent, e);
  }
  for (; k < K; k++) e = i8Append(x, k, scales, perInput, ent, e);
  return e;
}

@inline function i8Append(x: usize, k: i32, scales: usize, perInput: bool, ent: usize, e: i32): i32 {
  const v = load<f32>(at(x, k));
  if (v == 0) return e;
  const p = ent + (<usize>e << 3);
  store<i32>(p, k);
  store<f32>(p, perInput ? v * load<f32>(at(scales, k)) : v, 4);
  return e + 1;
}

/** Row pointer (bytes) of list entry e: Q + k·ld. */
@inline function rowOf(ent: usize, e: i32, Q: usize, ld: usize): usize {
  return Q + <usize>load<i32>(ent + (<usize>e << 3)) * ld;
}

@inline function coefOf(ent: usize, e: i32): f32 {
  return load<f32>(ent + (<usize>e << 3), 4);
}

/**
 * dst[0:n] (f32) += Σ over the `count` entries at `ent`, in list order, of coef · row k of Q (int8,
 * row stride ld bytes, from column 0 of the rows' view). Four entries at a time keep their sums in
 * registers per 16 columns (eight measured slower: too few registers); each element still receives
 * its terms one by one in list order, whatever the grouping.
 */
function i8AccumRows(dst: usize, n: i32, ent: usize, count: i32, Q: usize, ld: usize): void {
  let e = 0;
  for (; e + 4 <= count; e += 4) {
    if (anyTiny(ent, e, 4)) i8AccumEach(dst, n, ent, e, 4, Q, ld);
    else i8Accum4(dst, n, ent, e, Q, ld);
  }
  i8AccumEach(dst, n, ent, e, count - e, Q, ld);
}

/** Whether any of the `m` coefficients from entry e is tiny. */
@inline function anyTiny(ent: usize, e: i32, m: i32): bool {
  for (let k = e; k < e + m; k++) if (tiny(coefOf(ent, k))) return true;
  return false;
}

/** Entries e … e + m − 1 one at a time (i8AccumOne), in order. */
function i8AccumEach(dst: usize, n: i32, ent: usize, e: i32, m: i32, Q: usize, ld: usize): void {
  for (let k = e; k < e + m; k++) i8AccumOne(dst, n, rowOf(ent, k, Q, ld), coefOf(ent, k));
}

/** d + s·(row's 16 int8 at o), four f32x4 at a time, as one entry of a group adds them. */
@inline function add16(d0: v128, v: v128, s: v128, top: v128): v128 {
  return madd(d0, s, topF(v, top));
}

/** Four entries from e (no tiny coefficient). */
function i8Accum4(dst: usize, n: i32, ent: usize, e: i32, Q: usize, ld: usize): void {
  const r0 = rowOf(ent, e, Q, ld), r1 = rowOf(ent, e + 1, Q, ld), r2 = rowOf(ent, e + 2, Q, ld), r3 = rowOf(ent, e + 3, Q, ld);
  const s0 = scaled(ent, e), s1 = scaled(ent, e + 1), s2 = scaled(ent, e + 2), s3 = scaled(ent, e + 3);
  const n16 = n & ~15;
  let j = 0;
  for (; j < n16; j += 16) {
    const d = dst + (<usize>j << 2);
    const o = <usize>j;
    let d0 = v128.load(d), d1 = v128.load(d, 16), d2 = v128.load(d, 32), d3 = v128.load(d, 48);
    let v = v128.load(r0 + o);
    d0 = add16(d0, v, s0, TOP0); d1 = add16(d1, v, s0, TOP1); d2 = add16(d2, v, s0, TOP2); d3 = add16(d3, v, s0, TOP3);
    v = v128.load(r1 + o);
    d0 = add16(d0, v, s1, TOP0); d1 = add16(d1, v, s1, TOP1); d2 = add16(d2, v, s1, TOP2); d3 = add16(d3, v, s1, TOP3);
    v = v128.load(r2 + o);
    d0 = add16(d0, v, s2, TOP0); d1 = add16(d1, v, s2, TOP1); d2 = add16(d2, v, s2, TOP2); d3 = add16(d3, v, s2, TOP3);
    v = v128.load(r3 + o);
    d0 = add16(d0, v, s3, TOP0); d1 = add16(d1, v, s3, TOP1); d2 = add16(d2, v, s3, TOP2); d3 = add16(d3, v, s3, TOP3);
    v128.store(d, d0); v128.store(d, d1, 16); v128.store(d, d2, 32); v128.store(d, d3, 48);
  }
  if (j < n) i8Tail4(dst, j, n, r0, r1, r2, r3, ent, e);
}

/** splat(coef_e · 2^−24). */
@inline function scaled(ent: usize, e: i32): v128 {
  return f32x4.splat(coefOf(ent, e) * UNSCALE);
}

/** Columns [j, n) (fewer than 16) of four entries from e with rows r0 … r3: four at a time, then one. */
function i8Tail4(dst: usize, j: i32, n: i32, r0: usize, r1: usize, r2: usize, r3: usize, ent: usize, e: i32): void {
  const s0 = scaled(ent, e), s1 = scaled(ent, e + 1), s2 = scaled(ent, e + 2), s3 = scaled(ent, e + 3);
  const n4 = n & ~3;
  for (; j < n4; j += 4) {
    const d = dst + (<usize>j << 2);
    const o = <usize>j;
    let d0 = v128.load(d);
    d0 = madd(d0, s0, topF(v128.load32_zero(r0 + o), TOP0));
    d0 = madd(d0, s1, topF(v128.load32_zero(r1 + o), TOP0));
    d0 = madd(d0, s2, topF(v128.load32_zero(r2 + o), TOP0));
    d0 = madd(d0, s3, topF(v128.load32_zero(r3 + o), TOP0));
    v128.store(d, d0);
  }
  const c0 = coefOf(ent, e), c1 = coefOf(ent, e + 1), c2 = coefOf(ent, e + 2), c3 = coefOf(ent, e + 3);
  for (; j < n; j++) {
    const d = dst + (<usize>j << 2);
    const o = <usize>j;
    let t = load<f32>(d);
    t = fmaddS(t, c0, <f32>load<i8>(r0 + o));
    t = fmaddS(t, c1, <f32>load<i8>(r1 + o));
    t = fmaddS(t, c2, <f32>load<i8>(r2 + o));
    t = fmaddS(t, c3, <f32>load<i8>(r3 + o));
    store<f32>(d, t);
  }
}

/** Whether coef·2^−24 would not be exact (a nonzero |coef| below 2^−102). */
@inline function tiny(c: f32): bool {
  return c != 0 && abs<f32>(c) < SMALLEST;
}

/** dst[0:n] += coef · row r0 (int8): one list entry (by sign extension, exact for any coef). */
function i8AccumOne(dst: usize, n: i32, r0: usize, c0: f32): void {
  const n16 = n & ~15;
  const n4 = n & ~3;
  const s0 = f32x4.splat(c0);
  let j = 0;
  for (; j < n16; j += 16) {
    const d = dst + (<usize>j << 2);
    const v = v128.load(r0 + <usize>j);
    const lo = i16x8.extend_low_i8x16_s(v), hi = i16x8.extend_high_i8x16_s(v);
    v128.store(d, madd(v128.load(d), s0, lowF(lo)));
    v128.store(d, madd(v128.load(d, 16), s0, highF(lo)), 16);
    v128.store(d, madd(v128.load(d, 32), s0, lowF(hi)), 32);
    v128.store(d, madd(v128.load(d, 48), s0, highF(hi)), 48);
  }
  for (; j < n4; j += 4) {
    const d = dst + (<usize>j << 2);
    v128.store(d, madd(v128.load(d), s0, four(r0 + <usize>j)));
  }
  for (; j < n; j++) {
    const d = dst + (<usize>j << 2);
    store<f32>(d, fmaddS(load<f32>(d), c0, <f32>load<i8>(r0 + <usize>j)));
  }
}

/**
 * out[0:n] = sum (perInput) or sum ⊙ scales[0:n] (per output), written, or added when acc.
 */
function i8Finish(out: usize, sum: usize, n: i32, scales: usize, perInput: bool, acc: bool): void {
  const n4 = n & ~3;
  let j = 0;
  for (; j < n4; j += 4) {
    const o = <usize>j << 2;
    let v = v128.load(sum + o);
    if (!perInput) v = f32x4.mul(v, v128.load(scales + o));
    v128.store(out + o, acc ? f32x4.add(v128.load(out + o), v) : v);
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    let v = load<f32>(sum + o);
    if (!perInput) v = v * load<f32>(scales + o);
    store<f32>(out + o, acc ? load<f32>(out + o) + v : v);
  }
}

/** Scratch of i8Rows and i8VecMatColumns: the list of up to K entries and one row's n sums. */
export function i8Scratch(K: i32, n: i32): usize {
  return align16(<usize>K << 3) + (<usize>n << 2);
}

/**
 * c[M, N] (+)= a[M, K] · W, W = Q [K, N] int8 with `scales` ([K] perInput, else [N]).
 * Returns the number of nonzeros of a (the rows of Q read).
 */
export function i8Rows(M: i32, N: i32, K: i32, a: usize, Q: usize, scales: usize, perInput: bool, c: usize, acc: bool,
  scratch: usize): i32 {
  const ent = scratch;
  const sum = ent + align16(<usize>K << 3);
  const bytes = <usize>N << 2;
  let total = 0;
  for (let i = 0; i < M; i++) {
    const count = i8List(a + <usize>i * (<usize>K << 2), K, scales, perInput, ent);
    total += count;
    memory.fill(sum, 0, bytes);
    i8AccumRows(sum, N, ent, count, Q, <usize>N);
    i8Finish(c + <usize>i * bytes, sum, N, scales, perInput, acc);
  }
  return total;
}

/**
 * Columns [n0, n1) of the one-row product q[N] (+)= x[K] · W: what i8Rows computes for those
 * columns, with the same operations per element, so splitting the columns over threads gives the
 * bits of one call. Returns the number of nonzeros of x.
 */
export function i8VecMatColumns(K: i32, N: i32, x: usize, Q: usize, scales: usize, perInput: bool, q: usize, n0: i32,
  n1: i32, acc: bool, scratch: usize): i32 {
  const ent = scratch;
  const sum = ent + align16(<usize>K << 3);
  const n = n1 - n0;
  const count = i8List(x, K, scales, perInput, ent);
  memory.fill(sum, 0, <usize>n << 2);
  i8AccumRows(sum, n, ent, count, Q + <usize>n0, <usize>N);
  i8Finish(q + (<usize>n0 << 2), sum, n, perInput ? scales : scales + (<usize>n0 << 2), perInput, acc);
  return count;
}
