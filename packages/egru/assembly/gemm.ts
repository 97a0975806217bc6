// Dense products C[M,N] (+)= op(A)·op(B), blocked and register-tiled.
//
// Each (kc × nc) block of op(B) is packed into panels of 8 columns (kc × 8, contiguous, zero-
// padded past N), each (mc × kc) block of op(A) into panels of 4 rows (kc × 4), and a 4×8
// micro-kernel keeps its tile of C in eight f32x4 registers over kc steps. The transposes are
// absorbed by the packing: a row-major operand read along its rows is packed by 4×4 transposes,
// one read along its columns by plain copies. Each element of C is the sum over k blocks of KC
// (in order) of the products within the block (in order of k), so the result depends only on the
// sizes. Products with fewer than 8 rows of C, or (NN, TN) a reduction shorter than 8, go
// through the row-list kernels instead (rows.ts, events.ts; thresholds in index.ts).

// madd is fmadd: fused in the relaxed-SIMD build (common.ts), where the packed products measured faster
import { at, fmadd as madd } from "./common";

export const MR: i32 = 4;
export const NR: i32 = 8;
export const KC: i32 = 256;
export const MC: i32 = 128;
export const NC: i32 = 512;

/** Scratch of the packed path: the tile buffer, an A block and a B block. */
export const PACK_BYTES: usize = 256 + <usize>(MC * KC + KC * NC) * 4;

/**
 * dst[k·W + r] = src[k·ld + r] for k < kc, r < w (W = 4 or 8 floats per packed row; rows past w
 * are zero). ld in bytes. Packs an operand that is read along its contiguous direction.
 */
function packCopy(dst: usize, src: usize, ld: usize, kc: i32, W: i32, w: i32): void {
  const step = <usize>W << 2;
  if (w == W) {
    if (W == 8) {
      for (let k = 0; k < kc; k++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        dst += step;
        src += ld;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        v128.store(dst, v128.load(src));
        dst += step;
        src += ld;
      }
    }
    return;
  }
  for (let k = 0; k < kc; k++) {
    for (let r = 0; r < W; r++) store<f32>(at(dst, r), r < w ? load<f32>(at(src, r)) : 0);
    dst += step;
    src += ld;
  }
}

/**
 * dst[k·W + r] = src[r·ld + k] for k < kc, r < w (rows past w are zero). ld in bytes. Packs an
 * operand that is read across its rows, four rows and four k at a time by 4×4 transposes.
 */
function packTrans(dst: usize, src: usize, ld: usize, kc: i32, W: i32, w: i32): void {
  const step = <usize>W << 2;
  const z = f32x4.splat(0);
  for (let g = 0; g < W; g += 4) {
    const q0 = src + <usize>g * ld, q1 = q0 + ld, q2 = q1 + ld, q3 = q2 + ld;
    const n = w - g; // valid rows in this group (may be ≤ 0)
    let d = dst + (<usize>g << 2);
    let k = 0;
    let kb: usize = 0;
    for (; k + 4 <= kc; k += 4) {
      const r0 = n > 0 ? v128.load(q0 + kb) : z;
      const r1 = n > 1 ? v128.load(q1 + kb) : z;
      const r2 = n > 2 ? v128.load(q2 + kb) : z;
      const r3 = n > 3 ? v128.load(q3 + kb) : z;
      const t0 = f32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = f32x4.shuffle(r0, r1, 2, 6, 3, 7);
      const t2 = f32x4.shuffle(r2, r3, 0, 4, 1, 5), t3 = f32x4.shuffle(r2, r3, 2, 6, 3, 7);
      v128.store(d, f32x4.shuffle(t0, t2, 0, 1, 4, 5));
      v128.store(d + step, f32x4.shuffle(t0, t2, 2, 3, 6, 7));
      v128.store(d + 2 * step, f32x4.shuffle(t1, t3, 0, 1, 4, 5));
      v128.store(d + 3 * step, f32x4.shuffle(t1, t3, 2, 3, 6, 7));
      d += 4 * step;
      kb += 16;
    }
    for (; k < kc; k++) {
      store<f32>(d, n > 0 ? load<f32>(q0 + kb) : 0);
      store<f32>(d, n > 1 ? load<f32>(q1 + kb) : 0, 4);
      store<f32>(d, n > 2 ? load<f32>(q2 + kb) : 0, 8);
      store<f32>(d, n > 3 ? load<f32>(q3 + kb) : 0, 12);
      d += step;
      kb += 4;
    }
  }
}

/**
 * C tile [rows ≤ 4, cols ≤ 8] at pc (row stride ld bytes) (+)= packed A panel (kc × 4) ·
 * packed B panel (kc × 8). `over` overwrites instead of adding; partial tiles go through tmp.
 */
function micro(kc: i32, pa: usize, pb: usize, pc: usize, ld: usize, rows: i32, cols: i32, over: bool, tmp: usize): void {
  const z = f32x4.splat(0);
  let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb), b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = madd(c00, a, b0); c01 = madd(c01, a, b1);
    a = v128.load32_splat(pa, 4);
    c10 = madd(c10, a, b0); c11 = madd(c11, a, b1);
    a = v128.load32_splat(pa, 8);
    c20 = madd(c20, a, b0); c21 = madd(c21, a, b1);
    a = v128.load32_splat(pa, 12);
    c30 = madd(c30, a, b0); c31 = madd(c31, a, b1);
    pa += 16;
    pb += 32;
  }
  if (rows == MR && cols == NR) {
    if (over) {
      v128.store(pc, c00); v128.store(pc, c01, 16); pc += ld;
      v128.store(pc, c10); v128.store(pc, c11, 16); pc += ld;
      v128.store(pc, c20); v128.store(pc, c21, 16); pc += ld;
      v128.store(pc, c30); v128.store(pc, c31, 16);
    } else {
      v128.store(pc, f32x4.add(v128.load(pc), c00)); v128.store(pc, f32x4.add(v128.load(pc, 16), c01), 16); pc += ld;
      v128.store(pc, f32x4.add(v128.load(pc), c10)); v128.store(pc, f32x4.add(v128.load(pc, 16), c11), 16); pc += ld;
      v128.store(pc, f32x4.add(v128.load(pc), c20)); v128.store(pc, f32x4.add(v128.load(pc, 16), c21), 16); pc += ld;
      v128.store(pc, f32x4.add(v128.load(pc), c30)); v128.store(pc, f32x4.add(v128.load(pc, 16), c31), 16);
    }
    return;
  }
  v128.store(tmp, c00); v128.store(tmp, c01, 16);
  v128.store(tmp, c10, 32); v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64); v128.store(tmp, c21, 80);
  v128.store(tmp, c30, 96); v128.store(tmp, c31, 112);
  for (let i = 0; i < rows; i++) {
    const row = pc + <usize>i * ld;
    const t = tmp + (<usize>i << 5);
    for (let j = 0; j < cols; j++) {
      const p = at(row, j);
      const v = load<f32>(at(t, j));
      store<f32>(p, over ? v : load<f32>(p) + v);
    }
  }
}

/**
 * C[M,N] (+)= op(A)·op(B) through packed panels. tA: A is stored [K,M] (else [M,K]); tB: B is
 * stored [N,K] (else [K,N]). Addresses in bytes; scratch holds PACK_BYTES. ldn (elements, 0: N) is
 * the row stride of C and of a B stored [K,N]: a block of columns of a wider product.
 */
export function gemmPacked(tA: bool, tB: bool, M: i32, N: i32, K: i32, a: usize, b: usize, c: usize,
  acc: bool, scratch: usize, ldn: i32 = 0): void {
  const tmp = scratch;
  const pA = scratch + 256;
  const pB = pA + (<usize>(MC * KC) << 2);
  const ld = ldn > 0 ? ldn : N;
  const ldc = <usize>ld << 2;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      for (let jr = 0; jr < nc; jr += NR) {
        const dst = pB + (<usize>(jr * kc) << 2);
        const j = jc + jr;
        const w = min(NR, nc - jr);
        if (tB) packTrans(dst, at(b, <usize>j * <usize>K + <usize>pc), <usize>K << 2, kc, NR, w);
        else packCopy(dst, at(b, <usize>pc * <usize>ld + <usize>j), ldc, kc, NR, w);
      }
      const over = pc == 0 && !acc;
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        for (let ir = 0; ir < mc; ir += MR) {
          const dst = pA + (<usize>(ir * kc) << 2);
          const i = ic + ir;
          if (tA) packCopy(dst, at(a, <usize>pc * <usize>M + <usize>i), <usize>M << 2, kc, MR, min(MR, mc - ir));
          else packTrans(dst, at(a, <usize>i * <usize>K + <usize>pc), <usize>K << 2, kc, MR, min(MR, mc - ir));
        }
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const pbj = pB + (<usize>(jr * kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const pcij = at(c, <usize>(ic + ir) * <usize>ld + <usize>(jc + jr));
            micro(kc, pA + (<usize>(ir * kc) << 2), pbj, pcij, ldc, min(MR, mc - ir), cols, over, tmp);
          }
        }
      }
    }
  }
}
