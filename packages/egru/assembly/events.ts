// Event-driven products and the dense products with few rows, on row lists (rows.ts).
//
// A nonzero test is `x != 0`: -0 counts as zero and NaN as nonzero, as in the TypeScript
// kernels. Rows are processed in chunks whose lists fit LIST_BUDGET_BYTES; chunking, cache
// blocking and the choice between the orders of visiting never change the order of a sum.

import { align16, at, byColumn, chunkRows, REREAD_BYTES } from "./common";
import { KC } from "./gemm";
import { countNonzero } from "./train-ops";
import { accumLists, accumListsBlocked, accumListsTiled, accumRows, dotLists, scatterRows, TILE_BYTES } from "./rows";

/** Scratch layout of a list build: start table (rows + 1), cursors, entries. */
@inline function cursorsAt(scratch: usize, rows: i32): usize {
  return scratch + align16((<usize>rows + 1) << 2);
}
@inline function entriesAt(scratch: usize, rows: i32, cursors: i32): usize {
  return cursorsAt(scratch, rows) + align16(<usize>cursors << 2);
}

/** Bytes of scratch for lists of `rows` rows, `cursors` cursors and `entries` entries. */
export function listBytes(rows: i32, cursors: i32, entries: usize, entryBytes: i32): usize {
  return entriesAt(0, rows, cursors) + entries * <usize>entryBytes;
}

/**
 * Append the nonzeros of x[0:n] to the list at ent from entry e: (index, value) pairs when
 * `pairs`, else indices only. Blocks of four zeros are skipped with one vector test.
 * Returns the new entry count.
 */
function appendNonzeros(x: usize, n: i32, ent: usize, e: i32, pairs: bool): i32 {
  const z = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    if (!v128.any_true(f32x4.ne(v128.load(at(x, j)), z))) continue;
    for (let q = j; q < j + 4; q++) e = appendOne(x, q, ent, e, pairs);
  }
  for (; j < n; j++) e = appendOne(x, j, ent, e, pairs);
  return e;
}

@inline function appendOne(x: usize, j: i32, ent: usize, e: i32, pairs: bool): i32 {
  const v = load<f32>(at(x, j));
  if (v == 0) return e;
  if (pairs) {
    const p = ent + (<usize>e << 3);
    store<i32>(p, j);
    store<f32>(p, v, 4);
  } else {
    store<i32>(at(ent, e), j);
  }
  return e + 1;
}

/**
 * eventNN sums a chunk by column tiles (accumListsTiled) from this many events per row of R: packing
 * R's tiles costs about what 4 events' rows read from memory cost more than from cache
 * (bench/kernels.bench.ts, H = 1024 to 2048, B = 64).
 */
const TILED_EVENTS_PER_ROW: i32 = 4;

/**
 * q[b, :] (+)= Σ_{j : y[b,j] ≠ 0} y[b,j]·R[j, :]     y [B,H], R [H,N], q [B,N].
 * Returns the number of events (nonzeros of y).
 */
export function eventNN(B: i32, N: i32, H: i32, y: usize, R: usize, q: usize, acc: bool, scratch: usize): i32 {
  const rowsPer = chunkRows(B, H, 8);
  const ld = <usize>N << 2;
  const large = byColumn(B, H, N);
  const start = scratch;
  const ent = listEntries(scratch, B, H);
  let total = 0;
  for (let b0 = 0; b0 < B; b0 += rowsPer) {
    const rows = min(rowsPer, B - b0);
    const qc = q + <usize>b0 * ld;
    if (!acc) memory.fill(qc, 0, <usize>rows * ld);
    // the lists by column only for a large R and a chunk too sparse for the tiles (counted first:
    // the two orders need differently built lists); else by row, whose count then chooses
    const many = TILED_EVENTS_PER_ROW * H;
    const columns = large && !(rows >= 8 && countNonzero(at(y, <usize>b0 * <usize>H), rows * H) >= many);
    const events = chunkLists(y, B, H, b0, rows, columns, true, scratch);
    total += events;
    if (columns) {
      // each row of R once, added into every q row whose event it is
      for (let j = 0; j < H; j++) {
        const s = load<i32>(at(start, j));
        const count = load<i32>(at(start, j + 1)) - s;
        if (count > 0) scatterRows(R + <usize>j * ld, N, ent + (<usize>s << 3), count, qc, ld);
      }
    } else if (rows >= 8 && events >= many) {
      accumListsTiled(rows, N, start, ent, R, ld, H, qc, ld, packAt(scratch, B, H));
    } else {
      accumLists(rows, N, start, ent, R, ld, qc, ld);
    }
  }
  return total;
}

/** eventNN's scratch: the lists, then (16-byte aligned) a tile of every row of R for accumListsTiled. */
export function eventNNScratch(B: i32, H: i32): usize {
  return packAt(0, B, H) + <usize>H * TILE_BYTES;
}
@inline function packAt(scratch: usize, B: i32, H: i32): usize {
  return align16(scratch + listScratch(B, H));
}

/**
 * Lists by row of the nonzeros of y rows [b0, b0 + rows) (stride H): CSR table in `start`,
 * entries (pairs when `pairs`, else indices) from `ent`. Returns the number of nonzeros.
 */
function rowLists(y: usize, H: i32, b0: i32, rows: i32, start: usize, ent: usize, pairs: bool): i32 {
  let e = 0;
  for (let r = 0; r < rows; r++) {
    store<i32>(at(start, r), e);
    e = appendNonzeros(at(y, <usize>(b0 + r) * <usize>H), H, ent, e, pairs);
  }
  store<i32>(at(start, rows), e);
  return e;
}

// The scratch of the lists of a [B, H] operand, by row or by column, chunk by chunk: a start
// table for max(chunk rows, H) lists, 2H cursors (columnLists), then the entries (pairs).
@inline function listTables(B: i32, H: i32): i32 {
  return max(chunkRows(B, H, 8), H);
}
@inline function listCursors(scratch: usize, B: i32, H: i32): usize {
  return cursorsAt(scratch, listTables(B, H));
}
@inline function listEntries(scratch: usize, B: i32, H: i32): usize {
  return entriesAt(scratch, listTables(B, H), 2 * H);
}
function listScratch(B: i32, H: i32): usize {
  return listBytes(listTables(B, H), 2 * H, <usize>chunkRows(B, H, 8) * <usize>H, 8);
}

/**
 * The lists of the nonzeros of rows [b0, b0 + rows) of y [B, H] in that layout: by column
 * (pairs), or by row (pairs, or indices when not `pairs`). Returns the number of nonzeros.
 */
function chunkLists(y: usize, B: i32, H: i32, b0: i32, rows: i32, columns: bool, pairs: bool, scratch: usize): i32 {
  const ent = listEntries(scratch, B, H);
  if (columns) return columnLists(y, H, b0, rows, scratch, listCursors(scratch, B, H), ent);
  return rowLists(y, H, b0, rows, scratch, ent, pairs);
}

/**
 * Lists by column of the nonzeros of y rows [b0, b0 + rows) (stride H), columns [j0, j0 + W) (all
 * H by default): for each of those columns j, the pairs (row − b0, y[row, j]) in increasing row
 * order (a stable counting sort), CSR table in `start` (W + 1, list j − j0); `cursor` is scratch
 * for 2W i32. Returns the number of nonzeros.
 */
function columnLists(y: usize, H: i32, b0: i32, rows: i32, start: usize, cursor: usize, ent: usize, j0: i32 = 0,
  W: i32 = H): i32 {
  const idx = at(cursor, W); // one row's nonzero columns
  memory.fill(start, 0, (<usize>W + 1) << 2);
  let e = 0;
  for (let r = 0; r < rows; r++) {
    const n = appendNonzeros(at(y, <usize>(b0 + r) * <usize>H + <usize>j0), W, idx, 0, false);
    for (let t = 0; t < n; t++) {
      const p = at(start, load<i32>(at(idx, t)) + 1);
      store<i32>(p, load<i32>(p) + 1);
    }
    e += n;
  }
  for (let j = 0; j < W; j++) {
    const s = load<i32>(at(start, j));
    store<i32>(at(start, j + 1), load<i32>(at(start, j + 1)) + s);
    store<i32>(at(cursor, j), s);
  }
  for (let r = 0; r < rows; r++) {
    const yr = at(y, <usize>(b0 + r) * <usize>H + <usize>j0);
    const n = appendNonzeros(yr, W, idx, 0, false);
    for (let t = 0; t < n; t++) {
      const j = load<i32>(at(idx, t));
      const c = load<i32>(at(cursor, j));
      store<i32>(at(cursor, j), c + 1);
      const p = ent + (<usize>c << 3);
      store<i32>(p, r);
      store<f32>(p, load<f32>(at(yr, j)), 4);
    }
  }
  return e;
}

/** eventTN sums a chunk whose rows of dq take more than this by blocks of columns (half an L2 cache). */
const TN_BLOCK_BYTES: usize = 1 << 20;

/**
 * dR[j, :] += Σ_{b : y[b,j] ≠ 0} y[b,j]·dq[b, :]     y [B,H], dq [B,N], dR [H,N].
 * Each dR row's list runs over b in increasing order. Returns the number of events.
 */
export function eventTN(H: i32, N: i32, B: i32, y: usize, dq: usize, dR: usize, scratch: usize): i32 {
  return eventTNUnits(H, N, B, y, dq, dR, 0, H, scratch);
}

/**
 * Units [j0, j1) of eventTN (rows j0 … j1 − 1 of dR): the same row chunks, and for each of those
 * units the same list in the same order, so splitting the units over threads gives the bits of one
 * call; each part scans only its columns of y. Returns the events among those units.
 */
export function eventTNUnits(H: i32, N: i32, B: i32, y: usize, dq: usize, dR: usize, j0: i32, j1: i32,
  scratch: usize): i32 {
  const rowsPer = chunkRows(B, H, 8);
  const ld = <usize>N << 2;
  const W = j1 - j0;
  const ent = listEntries(scratch, B, H);
  let total = 0;
  for (let b0 = 0; b0 < B; b0 += rowsPer) {
    const rows = min(rowsPer, B - b0);
    total += columnLists(y, H, b0, rows, scratch, listCursors(scratch, B, H), ent, j0, W);
    // a chunk of dq larger than the L2 cache by blocks of columns, each block read from memory once
    if (<usize>rows * ld > TN_BLOCK_BYTES) {
      const block = max(64, <i32>(TN_BLOCK_BYTES / (<usize>rows << 2)) & ~15);
      accumListsBlocked(W, N, scratch, ent, dq + <usize>b0 * ld, ld, dR + <usize>j0 * ld, ld, block);
    } else accumLists(W, N, scratch, ent, dq + <usize>b0 * ld, ld, dR + <usize>j0 * ld, ld);
  }
  return total;
}

export function eventTNScratch(B: i32, H: i32): usize {
  return listScratch(B, H);
}

/**
 * out[b, j] = mask[b,j] ≠ 0 ? Σ_k dq[b,k]·R[j,k] : 0     dq [B,N], R [H,N], mask/out [B,H].
 * Returns the number of active entries.
 */
export function maskedNT(B: i32, H: i32, N: i32, dq: usize, R: usize, mask: usize, out: usize, scratch: usize): i32 {
  // an R larger than the cache by column from 8 rows on, in chunks of rows of dq that stay in cache
  // while every row of R meets them (bench/batch-event-paths.ts: B = 64, H = 1350, 60 % of the mask
  // set, 1.86× the time by row, which reads R from memory once per batch row); a smaller R by row
  const columns = B >= 8 && <usize>H * <usize>N * 4 > REREAD_BYTES;
  const rowsPer = columns ? min(chunkRows(B, H, 8), max(8, <i32>(REREAD_BYTES / (<usize>N << 2)))) : chunkRows(B, H, 8);
  const ld = <usize>N << 2;
  const ldo = <usize>H << 2;
  const ent = listEntries(scratch, B, H);
  let total = 0;
  for (let b0 = 0; b0 < B; b0 += rowsPer) {
    const rows = min(rowsPer, B - b0);
    const oc = out + <usize>b0 * ldo;
    const dqc = dq + <usize>b0 * ld;
    memory.fill(oc, 0, <usize>rows * ldo);
    total += chunkLists(mask, B, H, b0, rows, columns, false, scratch);
    // by column: each row of R once, against the rows of dq that need it
    if (columns) dotLists(H, N, scratch, ent, 8, R, ld, dqc, ld, oc, 4, ldo, false);
    else dotLists(rows, N, scratch, ent, 4, dqc, ld, R, ld, oc, ldo, 4, false);
  }
  return total;
}

export function maskedNTScratch(B: i32, H: i32): usize {
  return listScratch(B, H);
}

/**
 * C[M,N] (+)= op(A)·B for few rows M (or a short reduction), B stored [K,N]: each row of C is a
 * combination of the K rows of B. tA: A stored [K,M] (else [M,K]). The sums run as in the packed
 * path — per block of KC rows of B from zero, each block's sum then added to C — so a row of C
 * gets the same bits whichever path computes it, for any M.
 */
export function fewRowsNN(tA: bool, M: i32, N: i32, K: i32, a: usize, b: usize, c: usize, acc: bool, scratch: usize): void {
  const ld = <usize>N << 2;
  const ent = scratch; // the list of row i of C: (k, op(A)[i, k]) for every k
  const sum = ent + align16(<usize>K << 3); // one block's sums for one row of C
  for (let i = 0; i < M; i++) {
    for (let k = 0; k < K; k++) {
      const p = ent + (<usize>k << 3);
      store<i32>(p, k);
      store<f32>(p, load<f32>(tA ? at(a, <usize>k * <usize>M + <usize>i) : at(a, <usize>i * <usize>K + <usize>k)), 4);
    }
    const ci = c + <usize>i * ld;
    if (!acc && K <= KC) {
      // one block, nothing to add it to: sum straight into the row
      memory.fill(ci, 0, ld);
      accumRows(ci, N, ent, K, b, ld);
      continue;
    }
    for (let k0 = 0; k0 < K; k0 += KC) {
      memory.fill(sum, 0, ld);
      accumRows(sum, N, ent + (<usize>k0 << 3), min(KC, K - k0), b, ld);
      if (k0 == 0 && !acc) memory.copy(ci, sum, ld);
      else addInto(ci, sum, ld);
    }
  }
}

/** dst[0:bytes] += src[0:bytes] (f32, bytes a multiple of 4). */
function addInto(dst: usize, src: usize, bytes: usize): void {
  const nv = bytes & ~(<usize>15);
  let j: usize = 0;
  for (; j < nv; j += 16) v128.store(dst + j, f32x4.add(v128.load(dst + j), v128.load(src + j)));
  for (; j < bytes; j += 4) store<f32>(dst + j, load<f32>(dst + j) + load<f32>(src + j));
}

/** C[M,N] (+)= A[M,K]·B[N,K]ᵀ for few rows M: dot products of rows. */
export function fewRowsNT(M: i32, N: i32, K: i32, a: usize, b: usize, c: usize, acc: bool, scratch: usize): void {
  const start = scratch;
  const ent = entriesAt(scratch, M, 0);
  let e = 0;
  for (let i = 0; i < M; i++) {
    store<i32>(at(start, i), e);
    for (let j = 0; j < N; j++) store<i32>(at(ent, e++), j);
  }
  store<i32>(at(start, M), e);
  const ld = <usize>K << 2;
  dotLists(M, K, start, ent, 4, a, ld, b, ld, c, <usize>N << 2, 4, acc);
}

/** Scratch of fewRowsNN. */
export function fewRowsNNScratch(N: i32, K: i32): usize {
  return align16(<usize>K << 3) + (<usize>N << 2);
}

/** Scratch of fewRowsNT. */
export function fewRowsNTScratch(M: i32, N: i32): usize {
  return listBytes(M, 0, <usize>M * <usize>N, 4);
}

/**
 * Columns [n0, n1) of a one-row product q[N] (+)= x[K]·W[K, N]: what eventNN (B = 1, events)
 * or fewRowsNN (M = 1, dense) computes for those columns, with the same operations per element,
 * so splitting the columns over threads gives the bits of one call. Returns the entries used
 * (the nonzeros of x, or K).
 */
export function vecMatColumns(events: bool, K: i32, N: i32, x: usize, W: usize, q: usize, n0: i32, n1: i32, acc: bool,
  scratch: usize): i32 {
  const count = events ? appendNonzeros(x, K, scratch, 0, true) : denseList(x, K, scratch);
  vecMatList(!events, K, N, scratch, count, W, q, n0, n1, acc, scratch + align16(<usize>K << 3));
  return count;
}

/** The list of all K entries of x (index, value), as the dense one-row product sums them. */
export function denseList(x: usize, K: i32, ent: usize): i32 {
  for (let k = 0; k < K; k++) {
    const p = ent + (<usize>k << 3);
    store<i32>(p, k);
    store<f32>(p, load<f32>(at(x, <usize>k)), 4);
  }
  return K;
}

/** The nonzeros of x[0:n) as (index, value) entries at ent; returns their number. */
export function eventList(x: usize, n: i32, ent: usize): i32 {
  return appendNonzeros(x, n, ent, 0, true);
}

/**
 * The body of vecMatColumns on a list already made (`count` entries at ent; dense: all K entries,
 * summed in blocks of KC as fewRowsNN does, else the nonzeros): columns [n0, n1) of q (+)= x·W,
 * W [K, N]; `sum` holds n1 − n0 floats of scratch.
 */
export function vecMatList(dense: bool, K: i32, N: i32, ent: usize, count: i32, W: usize, q: usize, n0: i32, n1: i32,
  acc: bool, sum: usize): void {
  const ld = <usize>N << 2;
  const n = n1 - n0;
  const bytes = <usize>n << 2;
  const src = W + (<usize>n0 << 2);
  const dst = q + (<usize>n0 << 2);
  if (!dense || (!acc && K <= KC)) {
    if (!acc) memory.fill(dst, 0, bytes);
    accumRows(dst, n, ent, count, src, ld);
    return;
  }
  for (let k0 = 0; k0 < K; k0 += KC) {
    memory.fill(sum, 0, bytes);
    accumRows(sum, n, ent + (<usize>k0 << 3), min(KC, K - k0), src, ld);
    if (k0 == 0 && !acc) memory.copy(dst, sum, bytes);
    else addInto(dst, sum, bytes);
  }
}

/** Scratch of vecMatColumns: the list of K entries and one block's sums of n columns. */
export function vecMatColumnsScratch(K: i32, n: i32): usize {
  return align16(<usize>K << 3) + (<usize>n << 2);
}
