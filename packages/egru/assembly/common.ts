// Shared constants and small helpers of the WebAssembly kernels.
//
// Every kernel works on raw byte addresses into the (imported) linear memory; sizes are element
// counts. Nothing here allocates: the JavaScript side passes a scratch region sized by
// scratchBytes() in index.ts. Products are f32 multiplies followed by f32 adds (WebAssembly has
// no fused multiply-add), in an order fixed by the sizes alone, so results are reproducible.

/** Bytes of index lists one chunk of rows may build (bounds the scratch the event kernels need). */
export const LIST_BUDGET_BYTES: usize = 4 * 1024 * 1024;

/**
 * A weight matrix larger than this is assumed to fall out of the last-level cache between batch
 * rows (on the development machine 12 MiB stayed cached, 48 MiB did not): the event kernels then
 * visit it row by row, once, instead of once per batch row. Either order gives the same bits.
 */
export const UNCACHED_BYTES: usize = 24 << 20;

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
