// Shared constants and small helpers of the WebAssembly kernels.
//
// Every kernel works on raw byte addresses into the (imported) linear memory; sizes are element
// counts. Nothing here allocates: the JavaScript side passes a scratch region sized by
// scratchBytes() in index.ts. Products are f32 multiplies followed by f32 adds (WebAssembly SIMD
// has no fused multiply-add; the relaxed-SIMD build fuses them where fmadd is used), in an order
// fixed by the sizes alone, so results are reproducible.

/** Bytes of index lists one chunk of rows may build (bounds the scratch the event kernels need). */
export const LIST_BUDGET_BYTES: usize = 4 * 1024 * 1024;

/**
 * A weight matrix larger than this is assumed to fall out of the last-level cache between batch
 * rows (on the development machine 12 MiB stayed cached, 48 MiB did not): eventNN with too few
 * events to pack its tiles then visits it row by row, once, instead of once per batch row. Either
 * order gives the same bits.
 */
export const UNCACHED_BYTES: usize = 24 << 20;

/**
 * An operand that a kernel re-reads once per list is kept to this many bytes by chunking its rows,
 * so that it stays in the per-core cache (half the 2 MiB L2 per core of the development machine).
 */
export const REREAD_BYTES: usize = 1 << 20;

/** Whether an event kernel over `rows` batch rows should visit the [H, N] matrix once. */
export function byColumn(rows: i32, H: i32, N: i32): bool {
  return rows >= 8 && <usize>H * <usize>N * 4 > UNCACHED_BYTES;
}

/** Byte address of element `i` of a float array starting at `base`. */
@inline export function at(base: usize, i: usize): usize {
  return base + (i << 2);
}

/** c + a·b, lane-wise (a multiply then an add, both rounded). */
@inline export function madd(c: v128, a: v128, b: v128): v128 {
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * c + a·b, lane-wise, in the products (gemm.ts, rows.ts, int8.ts): madd in the SIMD build; in the
 * relaxed-SIMD build (ASC_FEATURE_RELAXED_SIMD) f32x4.relaxed_madd, fused (one rounding) where the
 * host has FMA, a multiply then an add where it has not. Fused where it measured faster (the packed
 * products and the int8 ones, bench/relaxed-simd.ts); in the row-list products, where it measured
 * neither faster nor slower, so that every path of a product still sums alike (a split over threads
 * or the event product gives the packed product's bits). Each multiply-add of a product, vector or
 * scalar, goes through fmadd or fmaddS, so every column is computed alike.
 */
@inline export function fmadd(c: v128, a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return madd(c, a, b);
}

/** The scalar fmadd (c + a·b as one lane of it), for the columns and terms past the last vector. */
@inline export function fmaddS(c: f32, a: f32, b: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
  }
  return c + a * b;
}

/** Round n up to a multiple of 16 bytes. */
@inline export function align16(n: usize): usize {
  return (n + 15) & ~(<usize>15);
}

/**
 * How many of `total` rows to process per chunk so that lists of `perRow` entries of
 * `entryBytes` each stay within LIST_BUDGET_BYTES (at least one row).
 */
export function chunkRows(total: i32, perRow: i32, entryBytes: i32): i32 {
  const bytes = <usize>max(perRow, 1) * <usize>entryBytes;
  const rows = <i32>(LIST_BUDGET_BYTES / bytes);
  return max(1, min(total, rows));
}
