// Row-list kernels: the building blocks of the event products and of the dense products with
// one to three output rows.
//
// A list is a run of entries in memory. An accumulate list holds pairs (i32 row index, f32
// coefficient), 8 bytes each; a dot list holds i32 row indices, 4 bytes each. Lists of several
// output rows are stored back to back with an i32 start table (CSR): row r owns entries
// [start[r], start[r + 1]).

// madd is fmadd: fused in the relaxed-SIMD build (common.ts), like the packed products
import { at, fmadd as madd, fmaddS } from "./common";

// ---------------------------------------------------------------------------------------------
// Accumulate: dst[0:n] += Σ_e coef_e · src[idx_e·ld + 0:n]

/** Row pointer of list entry e (pairs at ent): src + idx·ld. */
@inline function rowOf(ent: usize, e: i32, src: usize, ld: usize): usize {
  return src + <usize>load<i32>(ent + (<usize>e << 3)) * ld;
}

/** Coefficient of list entry e. */
@inline function coefOf(ent: usize, e: i32): f32 {
  return load<f32>(ent + (<usize>e << 3), 4);
}

/** d + s0·r0[j] + s1·r1[j] + s2·r2[j] + s3·r3[j], in that order (j a byte offset). */
@inline function add4(d: v128, j: usize, r0: usize, r1: usize, r2: usize, r3: usize,
  s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  d = madd(d, s0, v128.load(r0 + j));
  d = madd(d, s1, v128.load(r1 + j));
  d = madd(d, s2, v128.load(r2 + j));
  return madd(d, s3, v128.load(r3 + j));
}

/** The scalar add4 for the columns past the last whole vector. */
@inline function add4s(d: f32, j: usize, r0: usize, r1: usize, r2: usize, r3: usize,
  c0: f32, c1: f32, c2: f32, c3: f32): f32 {
  d = fmaddS(d, c0, load<f32>(r0 + j));
  d = fmaddS(d, c1, load<f32>(r1 + j));
  d = fmaddS(d, c2, load<f32>(r2 + j));
  return fmaddS(d, c3, load<f32>(r3 + j));
}

/**
 * dst[0:n] += Σ over `count` entries at `ent` of coef · (row idx of src), ld = row stride in
 * bytes. The sum for each element runs over the entries in list order, one rounded multiply and
 * one rounded add per entry, so the result does not depend on how entries are grouped below
 * (eight at a time, then four, then one: each group loads and stores dst once).
 */
export function accumRows(dst: usize, n: i32, ent: usize, count: i32, src: usize, ld: usize): void {
  const nv = <usize>(n & ~3) << 2; // bytes covered by whole vectors
  const nb = <usize>n << 2;
  let e = 0;
  for (; e + 8 <= count; e += 8) {
    const r0 = rowOf(ent, e, src, ld), r1 = rowOf(ent, e + 1, src, ld), r2 = rowOf(ent, e + 2, src, ld), r3 = rowOf(ent, e + 3, src, ld);
    const r4 = rowOf(ent, e + 4, src, ld), r5 = rowOf(ent, e + 5, src, ld), r6 = rowOf(ent, e + 6, src, ld), r7 = rowOf(ent, e + 7, src, ld);
    const c0 = coefOf(ent, e), c1 = coefOf(ent, e + 1), c2 = coefOf(ent, e + 2), c3 = coefOf(ent, e + 3);
    const c4 = coefOf(ent, e + 4), c5 = coefOf(ent, e + 5), c6 = coefOf(ent, e + 6), c7 = coefOf(ent, e + 7);
    const s0 = f32x4.splat(c0), s1 = f32x4.splat(c1), s2 = f32x4.splat(c2), s3 = f32x4.splat(c3);
    const s4 = f32x4.splat(c4), s5 = f32x4.splat(c5), s6 = f32x4.splat(c6), s7 = f32x4.splat(c7);
    let j: usize = 0;
    for (; j < nv; j += 16) {
      const d = add4(v128.load(dst + j), j, r0, r1, r2, r3, s0, s1, s2, s3);
      v128.store(dst + j, add4(d, j, r4, r5, r6, r7, s4, s5, s6, s7));
    }
    for (; j < nb; j += 4) {
      const d = add4s(load<f32>(dst + j), j, r0, r1, r2, r3, c0, c1, c2, c3);
      store<f32>(dst + j, add4s(d, j, r4, r5, r6, r7, c4, c5, c6, c7));
    }
  }
  for (; e + 4 <= count; e += 4) {
    const r0 = rowOf(ent, e, src, ld), r1 = rowOf(ent, e + 1, src, ld), r2 = rowOf(ent, e + 2, src, ld), r3 = rowOf(ent, e + 3, src, ld);
    const c0 = coefOf(ent, e), c1 = coefOf(ent, e + 1), c2 = coefOf(ent, e + 2), c3 = coefOf(ent, e + 3);
    const s0 = f32x4.splat(c0), s1 = f32x4.splat(c1), s2 = f32x4.splat(c2), s3 = f32x4.splat(c3);
    let j: usize = 0;
    for (; j < nv; j += 16) v128.store(dst + j, add4(v128.load(dst + j), j, r0, r1, r2, r3, s0, s1, s2, s3));
    for (; j < nb; j += 4) store<f32>(dst + j, add4s(load<f32>(dst + j), j, r0, r1, r2, r3, c0, c1, c2, c3));
  }
  for (; e < count; e++) {
    const r0 = rowOf(ent, e, src, ld);
    const c0 = coefOf(ent, e);
    const s0 = f32x4.splat(c0);
    let j: usize = 0;
    for (; j < nv; j += 16) v128.store(dst + j, madd(v128.load(dst + j), s0, v128.load(r0 + j)));
    for (; j < nb; j += 4) store<f32>(dst + j, fmaddS(load<f32>(dst + j), c0, load<f32>(r0 + j)));
  }
}

/**
 * For each of `rows` lists (CSR table `start`, entries `ent`): dst row r (stride dstLd bytes)
 * += the list's combination of src rows (stride srcLd bytes), over n columns. Whole rows at a
 * time: the source rows stream in order and the destination row stays in cache (for many lists
 * of a large src, accumListsTiled computes the same faster).
 */
export function accumLists(rows: i32, n: i32, start: usize, ent: usize, src: usize, srcLd: usize,
  dst: usize, dstLd: usize): void {
  for (let r = 0; r < rows; r++) {
    const s = load<i32>(at(start, r));
    const count = load<i32>(at(start, r + 1)) - s;
    if (count > 0) accumRows(dst + <usize>r * dstLd, n, ent + (<usize>s << 3), count, src, srcLd);
  }
}

/**
 * What accumLists computes, by blocks of `block` columns (a multiple of 4): for each block, every
 * list's sum over that block of its src rows (accumRows on the block). The src rows' block of one
 * chunk then stays in the L2 cache while every list reads it, where whole rows would stream from
 * memory once per list that names them. Each element's sum runs over its list in order, one rounded
 * multiply and add per entry, so the bits equal accumLists'.
 */
export function accumListsBlocked(rows: i32, n: i32, start: usize, ent: usize, src: usize, srcLd: usize,
  dst: usize, dstLd: usize, block: i32): void {
  for (let c0 = 0; c0 < n; c0 += block) {
    const w = min(block, n - c0);
    const off = <usize>c0 << 2;
    for (let r = 0; r < rows; r++) {
      const s = load<i32>(at(start, r));
      const count = load<i32>(at(start, r + 1)) - s;
      if (count > 0) accumRows(dst + <usize>r * dstLd + off, w, ent + (<usize>s << 3), count, src + off, srcLd);
    }
  }
}

/** Columns of one tile of accumListsTiled: 6 vectors, 24 floats, 96 bytes (more vectors spill registers). */
export const TILE_BYTES: usize = 96;

/**
 * What accumLists computes, by tiles of 24 columns: for each tile, the tile of every src row (srcRows
 * rows) is first copied to `pack` (srcRows × TILE_BYTES bytes of scratch) so that it stays in cache
 * in few pages across the lists; each list's sum for the tile then stays in registers and dst is
 * loaded and stored once per tile. Each element's sum runs over its list in order, one rounded
 * multiply and add per entry, so the bits equal accumLists'. Faster from about 32 lists on
 * (bench/kernels.bench.ts); with fewer lists, packing costs more than it saves.
 */
export function accumListsTiled(rows: i32, n: i32, start: usize, ent: usize, src: usize, srcLd: usize,
  srcRows: i32, dst: usize, dstLd: usize, pack: usize): void {
  const nv = <usize>(n & ~3) << 2; // bytes covered by whole vectors
  const nb = <usize>n << 2;
  let j: usize = 0;
  for (; j + TILE_BYTES <= nv; j += TILE_BYTES) {
    for (let i = 0; i < srcRows; i++) {
      const f = src + <usize>i * srcLd + j;
      const g = pack + <usize>i * TILE_BYTES;
      v128.store(g, v128.load(f));
      v128.store(g, v128.load(f, 16), 16);
      v128.store(g, v128.load(f, 32), 32);
      v128.store(g, v128.load(f, 48), 48);
      v128.store(g, v128.load(f, 64), 64);
      v128.store(g, v128.load(f, 80), 80);
    }
    for (let r = 0; r < rows; r++) {
      const s = load<i32>(at(start, r));
      const t = load<i32>(at(start, r + 1));
      if (t == s) continue;
      const d = dst + <usize>r * dstLd + j;
      let a0 = v128.load(d), a1 = v128.load(d, 16), a2 = v128.load(d, 32);
      let a3 = v128.load(d, 48), a4 = v128.load(d, 64), a5 = v128.load(d, 80);
      for (let e = s; e < t; e++) {
        const p = ent + (<usize>e << 3);
        const row = pack + <usize>load<i32>(p) * TILE_BYTES;
        const c = f32x4.splat(load<f32>(p, 4));
        a0 = madd(a0, c, v128.load(row));
        a1 = madd(a1, c, v128.load(row, 16));
        a2 = madd(a2, c, v128.load(row, 32));
        a3 = madd(a3, c, v128.load(row, 48));
        a4 = madd(a4, c, v128.load(row, 64));
        a5 = madd(a5, c, v128.load(row, 80));
      }
      v128.store(d, a0);
      v128.store(d, a1, 16);
      v128.store(d, a2, 32);
      v128.store(d, a3, 48);
      v128.store(d, a4, 64);
      v128.store(d, a5, 80);
    }
  }
  // the columns past the last whole tile: a vector, then a float at a time, straight from src
  for (; j < nv; j += 16) {
    for (let r = 0; r < rows; r++) {
      const d = dst + <usize>r * dstLd + j;
      let a = v128.load(d);
      for (let e = load<i32>(at(start, r)), t = load<i32>(at(start, r + 1)); e < t; e++) {
        const p = ent + (<usize>e << 3);
        a = madd(a, f32x4.splat(load<f32>(p, 4)), v128.load(src + j + <usize>load<i32>(p) * srcLd));
      }
      v128.store(d, a);
    }
  }
  for (; j < nb; j += 4) {
    for (let r = 0; r < rows; r++) {
      const d = dst + <usize>r * dstLd + j;
      let a = load<f32>(d);
      for (let e = load<i32>(at(start, r)), t = load<i32>(at(start, r + 1)); e < t; e++) {
        const p = ent + (<usize>e << 3);
        a = fmaddS(a, load<f32>(p, 4), load<f32>(src + j + <usize>load<i32>(p) * srcLd));
      }
      store<f32>(d, a);
    }
  }
}

/**
 * The transpose of accumRows: for each of the `count` pairs (row index idx, coef) at `ent`,
 * dst row idx (stride ld bytes) [0:n] += coef · src[0:n]. Each destination element receives its
 * terms in list order of the calls, so calling this for source rows in increasing order sums in
 * the same order as accumRows over lists sorted by source row.
 */
export function scatterRows(src: usize, n: i32, ent: usize, count: i32, dst: usize, ld: usize): void {
  const nv = <usize>(n & ~3) << 2;
  const nb = <usize>n << 2;
  let e = 0;
  for (; e + 4 <= count; e += 4) {
    const p = ent + (<usize>e << 3);
    const d0 = dst + <usize>load<i32>(p) * ld, d1 = dst + <usize>load<i32>(p, 8) * ld;
    const d2 = dst + <usize>load<i32>(p, 16) * ld, d3 = dst + <usize>load<i32>(p, 24) * ld;
    const c0 = load<f32>(p, 4), c1 = load<f32>(p, 12), c2 = load<f32>(p, 20), c3 = load<f32>(p, 28);
    const s0 = f32x4.splat(c0), s1 = f32x4.splat(c1), s2 = f32x4.splat(c2), s3 = f32x4.splat(c3);
    let j: usize = 0;
    for (; j < nv; j += 16) {
      const r = v128.load(src + j);
      v128.store(d0 + j, madd(v128.load(d0 + j), s0, r));
      v128.store(d1 + j, madd(v128.load(d1 + j), s1, r));
      v128.store(d2 + j, madd(v128.load(d2 + j), s2, r));
      v128.store(d3 + j, madd(v128.load(d3 + j), s3, r));
    }
    for (; j < nb; j += 4) {
      const r = load<f32>(src + j);
      store<f32>(d0 + j, load<f32>(d0 + j) + c0 * r);
      store<f32>(d1 + j, load<f32>(d1 + j) + c1 * r);
      store<f32>(d2 + j, load<f32>(d2 + j) + c2 * r);
      store<f32>(d3 + j, load<f32>(d3 + j) + c3 * r);
    }
  }
  for (; e < count; e++) {
    const p = ent + (<usize>e << 3);
    const d0 = dst + <usize>load<i32>(p) * ld;
    const c0 = load<f32>(p, 4);
    const s0 = f32x4.splat(c0);
    let j: usize = 0;
    for (; j < nv; j += 16) v128.store(d0 + j, madd(v128.load(d0 + j), s0, v128.load(src + j)));
    for (; j < nb; j += 4) store<f32>(d0 + j, fmaddS(load<f32>(d0 + j), c0, load<f32>(src + j)));
  }
}

// ---------------------------------------------------------------------------------------------
// Dot products: out = Σ_k a[k]·r[k], in one fixed order for every K:
//   k in steps of 8 into two vector accumulators (lanes k mod 4), one more step of 4 into the
//   first if it fits, the two added, the lanes summed as (l0 + l2) + (l1 + l3), and the scalar
//   tail (K mod 4 products, summed in order from 0) added last.
// dot4 and dot2 compute four and two such products sharing `a` and give exactly what dot1 gives
// for each.

/** Sum of the K mod 4 trailing products starting at byte offset k. */
@inline function tail(a: usize, r: usize, k: usize, kb: usize): f32 {
  let t: f32 = 0;
  for (; k < kb; k += 4) t = fmaddS(t, load<f32>(a + k), load<f32>(r + k));
  return t;
}

/** Σ_k a[k]·r[k] over K elements (byte addresses a, r). */
export function dot1(a: usize, r: usize, K: i32): f32 {
  const kb = <usize>K << 2;
  let x0 = f32x4.splat(0), x1 = x0;
  let k: usize = 0;
  for (; k + 32 <= kb; k += 32) {
    x0 = madd(x0, v128.load(a + k), v128.load(r + k));
    x1 = madd(x1, v128.load(a + k, 16), v128.load(r + k, 16));
  }
  if (k + 16 <= kb) {
    x0 = madd(x0, v128.load(a + k), v128.load(r + k));
    k += 16;
  }
  const s = f32x4.add(x0, x1);
  const h = (f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 2)) + (f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 3));
  return h + tail(a, r, k, kb);
}

/** [a·r0, a·r1, a·r2, a·r3] over K elements, each exactly as dot1 computes it. */
export function dot4(a: usize, r0: usize, r1: usize, r2: usize, r3: usize, K: i32): v128 {
  const kb = <usize>K << 2;
  const z = f32x4.splat(0);
  let x00 = z, x01 = z, x10 = z, x11 = z, x20 = z, x21 = z, x30 = z, x31 = z;
  let k: usize = 0;
  for (; k + 32 <= kb; k += 32) {
    const a0 = v128.load(a + k), a1 = v128.load(a + k, 16);
    x00 = madd(x00, a0, v128.load(r0 + k)); x01 = madd(x01, a1, v128.load(r0 + k, 16));
    x10 = madd(x10, a0, v128.load(r1 + k)); x11 = madd(x11, a1, v128.load(r1 + k, 16));
    x20 = madd(x20, a0, v128.load(r2 + k)); x21 = madd(x21, a1, v128.load(r2 + k, 16));
    x30 = madd(x30, a0, v128.load(r3 + k)); x31 = madd(x31, a1, v128.load(r3 + k, 16));
  }
  if (k + 16 <= kb) {
    const a0 = v128.load(a + k);
    x00 = madd(x00, a0, v128.load(r0 + k));
    x10 = madd(x10, a0, v128.load(r1 + k));
    x20 = madd(x20, a0, v128.load(r2 + k));
    x30 = madd(x30, a0, v128.load(r3 + k));
    k += 16;
  }
  const s0 = f32x4.add(x00, x01), s1 = f32x4.add(x10, x11), s2 = f32x4.add(x20, x21), s3 = f32x4.add(x30, x31);
  // lane sums (l0 + l2) + (l1 + l3) of s0..s3 at once
  const u01 = f32x4.add(f32x4.shuffle(s0, s1, 0, 4, 1, 5), f32x4.shuffle(s0, s1, 2, 6, 3, 7));
  const u23 = f32x4.add(f32x4.shuffle(s2, s3, 0, 4, 1, 5), f32x4.shuffle(s2, s3, 2, 6, 3, 7));
  const h = f32x4.add(f32x4.shuffle(u01, u23, 0, 1, 4, 5), f32x4.shuffle(u01, u23, 2, 3, 6, 7));
  if (k == kb) return f32x4.add(h, z);
  let t = z;
  t = f32x4.replace_lane(t, 0, tail(a, r0, k, kb));
  t = f32x4.replace_lane(t, 1, tail(a, r1, k, kb));
  t = f32x4.replace_lane(t, 2, tail(a, r2, k, kb));
  t = f32x4.replace_lane(t, 3, tail(a, r3, k, kb));
  return f32x4.add(h, t);
}

/** [a·r0, a·r1, 0, 0] over K elements, each exactly as dot1 computes it (a list's remainder of 2 or 3). */
export function dot2(a: usize, r0: usize, r1: usize, K: i32): v128 {
  const kb = <usize>K << 2;
  const z = f32x4.splat(0);
  let x00 = z, x01 = z, x10 = z, x11 = z;
  let k: usize = 0;
  for (; k + 32 <= kb; k += 32) {
    const a0 = v128.load(a + k), a1 = v128.load(a + k, 16);
    x00 = madd(x00, a0, v128.load(r0 + k)); x01 = madd(x01, a1, v128.load(r0 + k, 16));
    x10 = madd(x10, a0, v128.load(r1 + k)); x11 = madd(x11, a1, v128.load(r1 + k, 16));
  }
  if (k + 16 <= kb) {
    const a0 = v128.load(a + k);
    x00 = madd(x00, a0, v128.load(r0 + k));
    x10 = madd(x10, a0, v128.load(r1 + k));
    k += 16;
  }
  const s0 = f32x4.add(x00, x01), s1 = f32x4.add(x10, x11);
  // lane sums (l0 + l2) + (l1 + l3) of s0, s1 in lanes 0, 1
  const u = f32x4.add(f32x4.shuffle(s0, s1, 0, 4, 1, 5), f32x4.shuffle(s0, s1, 2, 6, 3, 7));
  const h = f32x4.add(u, f32x4.shuffle(u, z, 2, 3, 4, 5));
  if (k == kb) return f32x4.add(h, z);
  let t = z;
  t = f32x4.replace_lane(t, 0, tail(a, r0, k, kb));
  t = f32x4.replace_lane(t, 1, tail(a, r1, k, kb));
  return f32x4.add(h, t);
}

/** out[idx·os] (+)= v, for one result (os: output stride in bytes). */
@inline function put(out: usize, os: usize, idx: i32, v: f32, acc: bool): void {
  const p = out + <usize>idx * os;
  store<f32>(p, acc ? load<f32>(p) + v : v);
}

/**
 * For the `count` entries at `ent` (stride es bytes, each starting with an i32 row index idx):
 * out[idx] (+)= a · (row idx of r), r's row stride ld bytes, over K elements; out's stride os.
 */
export function dotRows(a: usize, K: i32, ent: usize, es: usize, count: i32, r: usize, ld: usize,
  out: usize, os: usize, acc: bool): void {
  let e = 0;
  let p = ent;
  for (; e + 4 <= count; e += 4) {
    const j0 = load<i32>(p), j1 = load<i32>(p + es), j2 = load<i32>(p + 2 * es), j3 = load<i32>(p + 3 * es);
    p += 4 * es;
    const v = dot4(a, r + <usize>j0 * ld, r + <usize>j1 * ld, r + <usize>j2 * ld, r + <usize>j3 * ld, K);
    put(out, os, j0, f32x4.extract_lane(v, 0), acc);
    put(out, os, j1, f32x4.extract_lane(v, 1), acc);
    put(out, os, j2, f32x4.extract_lane(v, 2), acc);
    put(out, os, j3, f32x4.extract_lane(v, 3), acc);
  }
  if (e + 2 <= count) {
    const j0 = load<i32>(p), j1 = load<i32>(p + es);
    p += 2 * es;
    e += 2;
    const v = dot2(a, r + <usize>j0 * ld, r + <usize>j1 * ld, K);
    put(out, os, j0, f32x4.extract_lane(v, 0), acc);
    put(out, os, j1, f32x4.extract_lane(v, 1), acc);
  }
  for (; e < count; e++) {
    const j = load<i32>(p);
    p += es;
    put(out, os, j, dot1(a, r + <usize>j * ld, K), acc);
  }
}

/**
 * For each of `rows` lists (CSR `start`, entries `ent` of es bytes led by an index j): at out
 * row b (stride outLd bytes), entry j (stride os bytes): a_b · r_j (a_b: row b of a, stride
 * aLd; r_j: row j of r, stride rLd), over K elements. dot(u, v) = dot(v, u) bit for bit, so the
 * roles of a and r may be swapped (with the output strides) without changing a result.
 */
export function dotLists(rows: i32, K: i32, start: usize, ent: usize, es: usize, a: usize, aLd: usize,
  r: usize, rLd: usize, out: usize, outLd: usize, os: usize, acc: bool): void {
  for (let b = 0; b < rows; b++) {
    const s = load<i32>(at(start, b));
    const count = load<i32>(at(start, b + 1)) - s;
    if (count > 0) dotRows(a + <usize>b * aLd, K, ent + <usize>s * es, es, count, r, rLd, out + <usize>b * outLd, os, acc);
  }
}
