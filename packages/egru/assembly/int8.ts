// Products on int8 weights: out[M, N] (+)= x[M, K] · W, W int8 [K, N] with one float32 scale per
// input unit (folded into x) or per output unit (applied once at the end). The operations and their
// order are those of src/kernels/int8.ts, so both kernel sets give the same bits: per row of x, the
// list of its nonzeros (k, coef) in increasing k (coef = x·scale[k] per input, else x), the sum of
// coef·W[k, n] over the list from +0 (one rounded multiply and one rounded add per entry, the
// int8 values widened exactly to f32), then ·scale[n] per output, then written or added. The int8
// rows are read whole (16 values a vector) and a row's sums stay in scratch while they are built.

import { align16, at, madd } from "./common";

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
 * row stride ld bytes, from column 0 of the rows' view). Four entries at a time keep 16 sums in
 * registers per 16 columns; each element still receives its terms one by one in list order.
 */
function i8AccumRows(dst: usize, n: i32, ent: usize, count: i32, Q: usize, ld: usize): void {
  const n16 = n & ~15;
  const n4 = n & ~3;
  let e = 0;
  for (; e + 4 <= count; e += 4) {
    const r0 = rowOf(ent, e, Q, ld), r1 = rowOf(ent, e + 1, Q, ld), r2 = rowOf(ent, e + 2, Q, ld), r3 = rowOf(ent, e + 3, Q, ld);
    const c0 = coefOf(ent, e), c1 = coefOf(ent, e + 1), c2 = coefOf(ent, e + 2), c3 = coefOf(ent, e + 3);
    const s0 = f32x4.splat(c0), s1 = f32x4.splat(c1), s2 = f32x4.splat(c2), s3 = f32x4.splat(c3);
    let j = 0;
    for (; j < n16; j += 16) {
      const d = dst + (<usize>j << 2);
      const o = <usize>j;
      let d0 = v128.load(d), d1 = v128.load(d, 16), d2 = v128.load(d, 32), d3 = v128.load(d, 48);
      let v = v128.load(r0 + o);
      let lo = i16x8.extend_low_i8x16_s(v), hi = i16x8.extend_high_i8x16_s(v);
      d0 = madd(d0, s0, lowF(lo)); d1 = madd(d1, s0, highF(lo)); d2 = madd(d2, s0, lowF(hi)); d3 = madd(d3, s0, highF(hi));
      v = v128.load(r1 + o);
      lo = i16x8.extend_low_i8x16_s(v); hi = i16x8.extend_high_i8x16_s(v);
      d0 = madd(d0, s1, lowF(lo)); d1 = madd(d1, s1, highF(lo)); d2 = madd(d2, s1, lowF(hi)); d3 = madd(d3, s1, highF(hi));
      v = v128.load(r2 + o);
      lo = i16x8.extend_low_i8x16_s(v); hi = i16x8.extend_high_i8x16_s(v);
      d0 = madd(d0, s2, lowF(lo)); d1 = madd(d1, s2, highF(lo)); d2 = madd(d2, s2, lowF(hi)); d3 = madd(d3, s2, highF(hi));
      v = v128.load(r3 + o);
      lo = i16x8.extend_low_i8x16_s(v); hi = i16x8.extend_high_i8x16_s(v);
      d0 = madd(d0, s3, lowF(lo)); d1 = madd(d1, s3, highF(lo)); d2 = madd(d2, s3, lowF(hi)); d3 = madd(d3, s3, highF(hi));
      v128.store(d, d0); v128.store(d, d1, 16); v128.store(d, d2, 32); v128.store(d, d3, 48);
    }
    for (; j < n4; j += 4) {
      const d = dst + (<usize>j << 2);
      const o = <usize>j;
      let d0 = v128.load(d);
      d0 = madd(d0, s0, four(r0 + o));
      d0 = madd(d0, s1, four(r1 + o));
      d0 = madd(d0, s2, four(r2 + o));
      d0 = madd(d0, s3, four(r3 + o));
      v128.store(d, d0);
    }
    for (; j < n; j++) {
      const d = dst + (<usize>j << 2);
      const o = <usize>j;
      let t = load<f32>(d);
      t += c0 * <f32>load<i8>(r0 + o);
      t += c1 * <f32>load<i8>(r1 + o);
      t += c2 * <f32>load<i8>(r2 + o);
      t += c3 * <f32>load<i8>(r3 + o);
      store<f32>(d, t);
    }
  }
  for (; e < count; e++) {
    const r0 = rowOf(ent, e, Q, ld);
    const c0 = coefOf(ent, e);
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
      store<f32>(d, load<f32>(d) + c0 * <f32>load<i8>(r0 + <usize>j));
    }
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
