// Products on int8 weights: out[M, N] (+)= x[M, K] · W, W int8 [K, N] with one float32 scale per
// input unit (folded into x) or per output unit (applied at the end), in integer arithmetic. The
// steps are those of src/kernels/int8.ts, so both kernel sets (and any split of the columns over
// threads) give the same bits; per row of x:
//   1. the list of its nonzeros (k, coef) in increasing k, coef = f32(x·scale[k]) per input, else x;
//   2. m = max |coef| and lim = min(32767, ⌊(2^31 − 1) / (127·count)⌋); each coefficient becomes the
//      integer round-half-even(coef · (lim / m)), |·| ≤ lim (float64 arithmetic);
//   3. the sums Σ integer · W[k, n] over the list, exact in int32 (|sum| ≤ count·127·lim < 2^31);
//   4. out[n] = f32(f32(f32(sum) · sx) · scale[n]) per output unit (without the last factor per
//      input unit), sx = f32(m / lim), written or added with one float32 add.
// A row whose coefficients are not all finite gives NaN in every column. The integers travel two
// rows at a time: the int8 of rows k1, k2 interleaved and widened to int16 meet the pair (x1, x2)
// in one dot product per four columns (i32x4.dot_i16x8_s), where widening each weight to float32
// had cost a swizzle and a conversion per four weights (measured 1.14x the float32 gather, now 2-3x).

import { align16 } from "./common";
import { addBiasRows } from "./pointwise";

/** The largest integer a coefficient becomes, and the int32 bound the sums stay within. */
const LIM_MAX: i32 = 32767;
const SUM_MAX: f64 = 2147483647;

/**
 * The list of the nonzeros of x[0:K]: pairs (i32 k, f32 coef) at ent, coef = x[k]·scales[k] when
 * perInput, else x[k]. Blocks of four zeros are skipped with one vector test. Returns the count.
 */
function i8List(x: usize, K: i32, scales: usize, perInput: bool, ent: usize): i32 {
  const z = f32x4.splat(0);
  let e = 0;
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    if (!v128.any_true(f32x4.ne(v128.load(x + (<usize>k << 2)), z))) continue;
    for (let j = k; j < k + 4; j++) e = i8Append(x, j, scales, perInput, ent, e);
  }
  for (; k < K; k++) e = i8Append(x, k, scales, perInput, ent, e);
  return e;
}

@inline function i8Append(x: usize, k: i32, scales: usize, perInput: bool, ent: usize, e: i32): i32 {
  const v = load<f32>(x + (<usize>k << 2));
  if (v == 0) return e;
  const p = ent + (<usize>e << 3);
  store<i32>(p, k);
  store<f32>(p, perInput ? v * load<f32>(scales + (<usize>k << 2)) : v, 4);
  return e + 1;
}

/**
 * Step 2 in place: each entry's coefficient becomes its integer. Returns sx, or NaN when a
 * coefficient is not finite (0 when the list is empty or all coefficients underflow to 0).
 */
function i8Quantise(ent: usize, count: i32): f32 {
  let m: f32 = 0;
  for (let e = 0; e < count; e++) m = max<f32>(m, abs<f32>(load<f32>(ent + (<usize>e << 3), 4)));
  if (!(m < Infinity)) return NaN;
  if (m == 0) return 0;
  const lim = min<f64>(<f64>LIM_MAX, floor<f64>(SUM_MAX / (127 * <f64>count)));
  const inv = lim / <f64>m;
  for (let e = 0; e < count; e++) {
    const p = ent + (<usize>e << 3);
    store<i32>(p, <i32>nearest<f64>(<f64>load<f32>(p, 4) * inv), 4);
  }
  return <f32>(<f64>m / lim);
}

/** Row pointer (bytes) of list entry e: Q + k·ld, and its integer. */
@inline function rowOf(ent: usize, e: i32, Q: usize, ld: usize): usize {
  return Q + <usize>load<i32>(ent + (<usize>e << 3)) * ld;
}
@inline function intOf(ent: usize, e: i32): i32 {
  return load<i32>(ent + (<usize>e << 3), 4);
}

/** The int16 pair (x1, x2) in every two lanes. */
@inline function pairOf(x1: i32, x2: i32): v128 {
  return i32x4.splat((x1 & 0xffff) | (x2 << 16));
}

/** s + (row r1's 16 int8 · x1 + row r2's · x2) for four groups of four columns (l0 … l3). */
@inline function lo8(v1: v128, v2: v128): v128 {
  return i8x16.shuffle(v1, v2, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}
@inline function hi8(v1: v128, v2: v128): v128 {
  return i8x16.shuffle(v1, v2, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}
@inline function dotLow(s: v128, w: v128, b: v128): v128 {
  return i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w), b));
}
@inline function dotHigh(s: v128, w: v128, b: v128): v128 {
  return i32x4.add(s, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w), b));
}

/**
 * sums[0:n] (i32) += x1·row r1 + x2·row r2 + x3·row r3 + x4·row r4 (int8), 16 columns a vector
 * step; rows r3, r4 with x3 = x4 = 0 when `two` is false.
 */
function i8AccumPairs(sums: usize, n: i32, r1: usize, r2: usize, x1: i32, x2: i32, r3: usize, r4: usize, x3: i32,
  x4: i32, two: bool): void {
  const b12 = pairOf(x1, x2), b34 = pairOf(x3, x4);
  const n16 = n & ~15;
  let j = 0;
  if (two) {
    for (; j < n16; j += 16) {
      const d = sums + (<usize>j << 2);
      const o = <usize>j;
      let s0 = v128.load(d), s1 = v128.load(d, 16), s2 = v128.load(d, 32), s3 = v128.load(d, 48);
      let v1 = v128.load(r1 + o), v2 = v128.load(r2 + o);
      let l = lo8(v1, v2), h = hi8(v1, v2);
      s0 = dotLow(s0, l, b12); s1 = dotHigh(s1, l, b12); s2 = dotLow(s2, h, b12); s3 = dotHigh(s3, h, b12);
      v1 = v128.load(r3 + o); v2 = v128.load(r4 + o);
      l = lo8(v1, v2); h = hi8(v1, v2);
      s0 = dotLow(s0, l, b34); s1 = dotHigh(s1, l, b34); s2 = dotLow(s2, h, b34); s3 = dotHigh(s3, h, b34);
      v128.store(d, s0); v128.store(d, s1, 16); v128.store(d, s2, 32); v128.store(d, s3, 48);
    }
  } else {
    for (; j < n16; j += 16) {
      const d = sums + (<usize>j << 2);
      const o = <usize>j;
      const v1 = v128.load(r1 + o), v2 = v128.load(r2 + o);
      const l = lo8(v1, v2), h = hi8(v1, v2);
      v128.store(d, dotLow(v128.load(d), l, b12));
      v128.store(d, dotHigh(v128.load(d, 16), l, b12), 16);
      v128.store(d, dotLow(v128.load(d, 32), h, b12), 32);
      v128.store(d, dotHigh(v128.load(d, 48), h, b12), 48);
    }
  }
  for (; j < n; j++) {
    const d = sums + (<usize>j << 2);
    const o = <usize>j;
    let t = load<i32>(d) + x1 * <i32>load<i8>(r1 + o) + x2 * <i32>load<i8>(r2 + o);
    if (two) t += x3 * <i32>load<i8>(r3 + o) + x4 * <i32>load<i8>(r4 + o);
    store<i32>(d, t);
  }
}

/** Step 3: sums[0:n] = Σ over the list of integer · row (int8 Q, row stride ld bytes), four entries a pass. */
function i8Sums(sums: usize, n: i32, ent: usize, count: i32, Q: usize, ld: usize): void {
  memory.fill(sums, 0, <usize>n << 2);
  let e = 0;
  for (; e + 4 <= count; e += 4) {
    i8AccumPairs(sums, n, rowOf(ent, e, Q, ld), rowOf(ent, e + 1, Q, ld), intOf(ent, e), intOf(ent, e + 1),
      rowOf(ent, e + 2, Q, ld), rowOf(ent, e + 3, Q, ld), intOf(ent, e + 2), intOf(ent, e + 3), true);
  }
  const left = count - e;
  if (left == 0) return;
  const r1 = rowOf(ent, e, Q, ld);
  const r2 = left > 1 ? rowOf(ent, e + 1, Q, ld) : r1;
  const x2 = left > 1 ? intOf(ent, e + 1) : 0;
  const r3 = left > 2 ? rowOf(ent, e + 2, Q, ld) : r1;
  i8AccumPairs(sums, n, r1, r2, intOf(ent, e), x2, r3, r3, left > 2 ? intOf(ent, e + 2) : 0, 0, left > 2);
}

/** Step 4: out[0:n] (+)= f32(f32(f32(sums)·sx)·scales) (per output; per input without ·scales). */
function i8Finish(out: usize, sums: usize, n: i32, sx: f32, scales: usize, perInput: bool, acc: bool): void {
  const n4 = n & ~3;
  const s = f32x4.splat(sx);
  let j = 0;
  for (; j < n4; j += 4) {
    const o = <usize>j << 2;
    let v = f32x4.mul(f32x4.convert_i32x4_s(v128.load(sums + o)), s);
    if (!perInput) v = f32x4.mul(v, v128.load(scales + o));
    v128.store(out + o, acc ? f32x4.add(v128.load(out + o), v) : v);
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    let v = <f32>load<i32>(sums + o) * sx;
    if (!perInput) v = v * load<f32>(scales + o);
    store<f32>(out + o, acc ? load<f32>(out + o) + v : v);
  }
}

/** Steps 2–4 for one row of x whose list (`count` entries at ent) is built; scales from column 0. */
function i8RowProduct(ent: usize, count: i32, Q: usize, ld: usize, n: i32, scales: usize, perInput: bool, out: usize,
  acc: bool, sums: usize): void {
  const sx = i8Quantise(ent, count);
  if (isNaN(sx)) {
    for (let j = 0; j < n; j++) store<f32>(out + (<usize>j << 2), NaN);
    return;
  }
  i8Sums(sums, n, ent, count, Q, ld);
  i8Finish(out, sums, n, sx, scales, perInput, acc);
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
  const sums = ent + align16(<usize>K << 3);
  let total = 0;
  for (let i = 0; i < M; i++) {
    const count = i8List(a + <usize>i * (<usize>K << 2), K, scales, perInput, ent);
    total += count;
    i8RowProduct(ent, count, Q, <usize>N, N, scales, perInput, c + <usize>i * (<usize>N << 2), acc, sums);
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
  const sums = ent + align16(<usize>K << 3);
  const count = i8List(x, K, scales, perInput, ent);
  const colScales = perInput ? scales : scales + (<usize>n0 << 2);
  i8RowProduct(ent, count, Q + <usize>n0, <usize>N, n1 - n0, colScales, perInput, q + (<usize>n0 << 2), acc, sums);
  return count;
}

/**
 * Part `part` of `parts` of the one-row product q[N] (+)= x[K] · W split by the entries of x's list
 * instead of by columns: the whole list and its integers as i8VecMatColumns makes them, then the
 * int32 sums over entries [⌊count·part/parts⌋, ⌊count·(part + 1)/parts⌋) only, into the sums [N]
 * (i32) of its scratch (i8Scratch(K, N), the layout of i8VecMatColumns). Integer sums are exact, so
 * the parts added (i8FinishParts) are the sums of one call, and the result has its bits; each part
 * streams whole rows of W. Returns sx (NaN: a coefficient not finite, the parts' sums then unset;
 * 0: no nonzeros).
 */
export function i8VecMatEvents(K: i32, N: i32, x: usize, Q: usize, scales: usize, perInput: bool, part: i32,
  parts: i32, scratch: usize): f32 {
  return i8ListPart(x, K, N, Q, scales, perInput, part, parts, scratch, scratch + align16(<usize>K << 3));
}

/**
 * Step 4 of a product split by i8VecMatEvents into two parts (their scratch at scratch1, scratch2):
 * the first part's sums [N] += the second's (exact in int32), then q[N] (+)= f32(f32(f32(sum)·sx)·scales)
 * as one call writes it (NaN everywhere when sx is NaN).
 */
export function i8FinishParts(K: i32, N: i32, scratch1: usize, scratch2: usize, sx: f32, scales: usize,
  perInput: bool, q: usize, acc: bool): void {
  const sums1 = scratch1 + align16(<usize>K << 3);
  const sums2 = scratch2 + align16(<usize>K << 3);
  if (isNaN(sx)) {
    for (let j = 0; j < N; j++) store<f32>(q + (<usize>j << 2), NaN);
    return;
  }
  addSums(sums1, sums2, N);
  i8Finish(q, sums1, N, sx, scales, perInput, acc);
}

/** sums1[0:N] += sums2[0:N] (int32, exact). */
function addSums(sums1: usize, sums2: usize, N: i32): void {
  const n4 = N & ~3;
  let j = 0;
  for (; j < n4; j += 4) {
    const o = <usize>j << 2;
    v128.store(sums1 + o, i32x4.add(v128.load(sums1 + o), v128.load(sums2 + o)));
  }
  for (; j < N; j++) {
    const o = <usize>j << 2;
    store<i32>(sums1 + o, load<i32>(sums1 + o) + load<i32>(sums2 + o));
  }
}

// ---------------------------------------------------------------------------------------------
// The int8 EGRU streaming step (B = 1) in two calls (assembly/egru-step.ts is the float one):
// i8StepPart, the integer sums of both products over a part of each list's entries (one call per
// thread, whole rows streamed), then i8StepFinish, the parts added, converted and the biases added.

/** Scratch of i8StepPart: sx of both lists, the two lists and the 3H int32 sums of both products. */
export function i8StepScratch(I: i32, H: i32): usize {
  return i8StepSumsAt(0, I, H) + (<usize>(6 * H) << 2);
}

/** Where the x·W sums start in a step's scratch (the y·R sums follow, 3H int32 on). */
@inline function i8StepSumsAt(scratch: usize, I: i32, H: i32): usize {
  return scratch + 16 + align16(<usize>I << 3) + align16(<usize>H << 3);
}

/** Part `part` of `parts` of one list's integer sums (i8VecMatEvents on a list at ent). Returns sx. */
function i8ListPart(x: usize, K: i32, N: i32, Q: usize, scales: usize, perInput: bool, part: i32, parts: i32,
  ent: usize, sums: usize): f32 {
  const count = i8List(x, K, scales, perInput, ent);
  const sx = i8Quantise(ent, count);
  if (isNaN(sx)) return sx;
  const e0 = <i32>((<i64>count * <i64>part) / <i64>parts);
  const e1 = <i32>((<i64>count * <i64>(part + 1)) / <i64>parts);
  i8Sums(sums, N, ent + (<usize>e0 << 3), e1 - e0, Q, <usize>N);
  return sx;
}

/**
 * Part `part` of `parts` of both products of an int8 EGRU step at B = 1: x [I] · W (int8 [I, 3H])
 * and y [H] · R (int8 [H, 3H]), their int32 sums into the scratch (i8StepScratch), sx of each at
 * its start. Every part lists all entries; the parts' sums add up to one call's.
 */
export function i8StepPart(I: i32, H: i32, x: usize, Wq: usize, Ws: usize, wPerInput: bool, y: usize, Rq: usize,
  Rs: usize, rPerInput: bool, part: i32, parts: i32, scratch: usize): void {
  const G = 3 * H;
  const entX = scratch + 16;
  const entY = entX + align16(<usize>I << 3);
  const sumsX = i8StepSumsAt(scratch, I, H);
  const sumsY = sumsX + (<usize>G << 2);
  store<f32>(scratch, i8ListPart(x, I, G, Wq, Ws, wPerInput, part, parts, entX, sumsX));
  store<f32>(scratch, i8ListPart(y, H, G, Rq, Rs, rPerInput, part, parts, entY, sumsY), 4);
}

/**
 * Columns [n0, n0 + n) of one product's end: the second part's sums added (exact) unless absent (0),
 * converted into out, bias added. Each column's operations do not depend on the range.
 */
function i8StepOut(sums1: usize, sums2: usize, n0: i32, n: i32, sx: f32, scales: usize, perInput: bool, bias: usize,
  out: usize): void {
  const o = <usize>n0 << 2;
  const dst = out + o;
  if (isNaN(sx)) {
    for (let j = 0; j < n; j++) store<f32>(dst + (<usize>j << 2), NaN);
  } else {
    if (sums2 != 0) addSums(sums1 + o, sums2 + o, n);
    i8Finish(dst, sums1 + o, n, sx, perInput ? scales : scales + o, perInput, false);
  }
  addBiasRows(1, n, dst, bias + o);
}

/**
 * i8StepFinish for units [j0, j1) only: their three gate columns of a and of q. Each column's
 * operations are those of the whole call, so splitting the units over threads gives its bits.
 */
export function i8StepFinishUnits(I: i32, H: i32, j0: i32, j1: i32, scratch1: usize, scratch2: usize, Ws: usize,
  wPerInput: bool, Rs: usize, rPerInput: bool, bx: usize, br: usize, a: usize, q: usize): void {
  const gap = <usize>(3 * H) << 2;
  const sumsX1 = i8StepSumsAt(scratch1, I, H);
  const sumsX2 = scratch2 == 0 ? 0 : i8StepSumsAt(scratch2, I, H);
  for (let g = 0; g < 3; g++) {
    const n0 = g * H + j0;
    i8StepOut(sumsX1, sumsX2, n0, j1 - j0, load<f32>(scratch1), Ws, wPerInput, bx, a);
    i8StepOut(sumsX1 + gap, sumsX2 == 0 ? 0 : sumsX2 + gap, n0, j1 - j0, load<f32>(scratch1, 4), Rs, rPerInput, br, q);
  }
}

/**
 * The end of an int8 EGRU step whose parts are in scratch1 and scratch2 (0: one part): a = x·W + bx,
 * q = y·R + br [3H], as the separate product and bias calls write them (i8StepFinishUnits over all).
 */
export function i8StepFinish(I: i32, H: i32, scratch1: usize, scratch2: usize, Ws: usize, wPerInput: bool, Rs: usize,
  rPerInput: bool, bx: usize, br: usize, a: usize, q: usize): void {
  i8StepFinishUnits(I, H, 0, H, scratch1, scratch2, Ws, wPerInput, Rs, rPerInput, bx, br, a, q);
}
