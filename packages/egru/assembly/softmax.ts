// Softmax over the rows of a matrix, for the softmax cross-entropy of the language models'
// decoder (V = 10,000 classes per row) and the classifiers:
//
//   x [N, V]  →  logZ[n] = log Σ_v exp x[n, v]
//                out[n, v] = scale · exp(x[n, v] − logZ[n])     (when out ≠ 0)
//
// One pass for the row's maximum m, one for e = exp(x − m) (fastmath.ts's exp4, four lanes; the
// row's sum in float64 so 10,000 terms lose nothing), one for out = e · (scale / sum). The
// scalar tail goes through the same exp4, so a row's result does not depend on where the vector
// part ends.
//
// Tiny values are zero (the rule of the backward passes' adjoints, src/kernels/f32-math.ts
// FLUSH_BELOW): e below 2^−100 is 0 (its exponent clamped at −80 first, so that no lane computes a
// subnormal), and so is an output below 2^−100 (e too small for the row's factor is zeroed before
// the product, which then never has a subnormal result). Without it, very confident rows (logits
// 70 and more apart) fill dlogits with float32 subnormals, on which x86 SIMD arithmetic runs about
// seventy times slower: the decoder's backward products of a language model took 3× as long.
// Nothing else changes: a sum of at least 1 (the maximum's term) absorbs terms below 2^−100 exactly
// in float64, so logZ and every output of 2^−100 or more keep their bits.

import { exp4 } from "./fastmath";

/** 2^−100: smaller e and outputs are stored as 0. */
const FLUSH: f32 = reinterpret<f32>(<u32>(127 - 100) << 23);
/** The lowest exponent a row's exp is taken at: e^−80 is normal (and below FLUSH, so it becomes 0). */
const EXP_FLOOR: f32 = -80.0;

/** Maximum of the V floats at row. */
@inline function rowMax(row: usize, V: i32): f32 {
  const nv = V & ~3;
  let m4 = f32x4.splat(-Infinity);
  let j = 0;
  for (; j < nv; j += 4) m4 = f32x4.max(m4, v128.load(row + (<usize>j << 2)));
  let m = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
  for (; j < V; j++) m = max(m, load<f32>(row + (<usize>j << 2)));
  return m;
}

/** e = exp(x − m) of the row into dst (when dst ≠ 0); returns Σ e in float64. */
@inline function rowExpSum(row: usize, dst: usize, V: i32, m: f32): f64 {
  const nv = V & ~3;
  const mv = f32x4.splat(m);
  const floor = f32x4.splat(EXP_FLOOR);
  const flush = f32x4.splat(FLUSH);
  let s0 = f64x2.splat(0);
  let s1 = f64x2.splat(0);
  let j = 0;
  for (; j < nv; j += 4) {
    const off = <usize>j << 2;
    const e0 = exp4(f32x4.pmax(f32x4.sub(v128.load(row + off), mv), floor));
    const e = v128.andnot(e0, f32x4.lt(e0, flush)); // (NaN stays NaN: it is not below anything)
    if (dst) v128.store(dst + off, e);
    s0 = f64x2.add(s0, f64x2.promote_low_f32x4(e));
    s1 = f64x2.add(s1, f64x2.promote_low_f32x4(f32x4.shuffle(e, e, 2, 3, 0, 1)));
  }
  let s = f64x2.extract_lane(s0, 0) + f64x2.extract_lane(s0, 1) + (f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1));
  for (; j < V; j++) {
    const off = <usize>j << 2;
    const e0 = f32x4.extract_lane(exp4(f32x4.pmax(f32x4.splat(load<f32>(row + off) - m), floor)), 0);
    const e = e0 < FLUSH ? <f32>0 : e0;
    if (dst) store<f32>(dst + off, e);
    s += <f64>e;
  }
  return s;
}

/** dst[0:V] *= f, products below 2^−100 stored as 0 (e below 2^−101 / f is zeroed before the product). */
@inline function scaleRow(dst: usize, V: i32, f: f32): void {
  const nv = V & ~3;
  const fv = f32x4.splat(f);
  const least = <f32>(<f64>FLUSH / 2 / Math.abs(<f64>f)); // |e·f| ≥ 2^−101 (a normal number) from here on
  const lv = f32x4.splat(least);
  const flush = f32x4.splat(FLUSH);
  let j = 0;
  for (; j < nv; j += 4) {
    const off = <usize>j << 2;
    const e = v128.load(dst + off);
    const p = f32x4.mul(v128.andnot(e, f32x4.lt(e, lv)), fv);
    v128.store(dst + off, v128.andnot(p, f32x4.lt(f32x4.abs(p), flush)));
  }
  for (; j < V; j++) {
    const off = <usize>j << 2;
    const e = load<f32>(dst + off);
    const p = (e < least ? <f32>0 : e) * f;
    store<f32>(dst + off, Math.abs(p) < FLUSH ? <f32>0 : p);
  }
}

/** logZ [N] and, when out ≠ 0, out [N, V] = scale · softmax(x [N, V]) row by row. */
export function softmaxRows(N: i32, V: i32, x: usize, out: usize, logZ: usize, scale: f32): void {
  const rowBytes = <usize>V << 2;
  for (let n = 0; n < N; n++) {
    const row = x + <usize>n * rowBytes;
    const dst = out ? out + <usize>n * rowBytes : 0;
    const m = rowMax(row, V);
    const s = rowExpSum(row, dst, V, m);
    store<f32>(logZ + (<usize>n << 2), <f32>(<f64>m + Math.log(s)));
    if (dst) scaleRow(dst, V, <f32>(<f64>scale / s));
  }
}
