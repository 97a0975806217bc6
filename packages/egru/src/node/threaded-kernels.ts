// The WebAssembly kernels on several threads: large calls are split into blocks of output rows
// (or columns, or units), one block per thread, run by the worker pool against the shared memory
// (Node only).
//
// Which splits keep the numbers exactly those of one thread (every output element is computed by
// one thread with the same sequence of operations): gemmNN by rows, and by columns when it has one
// row (as eventGemmNN with one batch row: the streaming inference step); gemmNT by rows when every
// block has at least 8 rows (below that the kernel takes another path); eventGemmNN and
// maskedGemmNT by batch rows; the int8 products (gemmNNi8, eventGemmNNi8) by rows, and by columns
// with one row. The weight gradients gemmTN and eventGemmTN reduce over the batch rows, so they are
// split by output columns (gemmTN) or output rows, the units of y (eventGemmTN, each part listing
// only its units' events), instead (each element keeps its sum's order). The cells' pointwise steps
// by batch rows, the EGRU backward by units. The bias rows and the receive mask by rows, the bias gradients' column sums by columns.
// The fused EGRU streaming step (egruStep, B = 1) by columns of its two products (float weights) or
// by the entries of their operands (int8, exact integer sums); the cell then on the calling thread,
// or with int8 weights from 512 units the parts' finish and the cell by units. The EGRU's whole
// time loop (egruSeqForward, egruSeqBackward) by blocks of at least 8 batch rows, one dispatch a
// pass (rows never meet inside it; a batch under 16 rows keeps its loop on one thread, or step by
// step where each step's product is large enough to split).
// Small calls stay on one thread (dispatch costs a few microseconds).
// Arrays that are not views into the kernels' memory are copied in (and outputs back) once per call.

import { ShapeError, StateError } from "../core/errors.js";
import { allFloat32, type FloatArray } from "../core/buffer.js";
import type { Kernels, ReceiveMaskArgs } from "../kernels/backend.js";
import { backwardInFloat32, forwardInFloat32 } from "../kernels/cell-pointwise.js";
import { gruForwardInFloat32 } from "../kernels/gru-cell.js";
import { checkProductShape, type Int8Product } from "../kernels/int8.js";
import { lstmForwardInFloat32 } from "../kernels/lstm-cell.js";
import {
  egruStepColumnsCall,
  i8StepEndCall,
  i8StepFinishCall,
  i8StepPartCall,
  int8StepWeights,
  type EgruStepArgs,
} from "../kernels/egru-step.js";
import {
  egruSeqBackwardCall,
  egruSeqForwardCall,
  seqBackwardApplies,
  seqBackwardOperands,
  seqBackwardResident,
  seqForwardApplies,
  seqForwardOperands,
  seqForwardResident,
  type SeqOperand,
} from "../kernels/egru-seq.js";
import {
  gruSeqBackwardApplies,
  gruSeqBackwardCall,
  gruSeqBackwardOperands,
  gruSeqBackwardResident,
  gruSeqForwardApplies,
  gruSeqForwardCall,
  gruSeqForwardOperands,
  gruSeqForwardResident,
} from "../kernels/gru-seq.js";
import { SQUARES_CHUNK } from "../kernels/train-ops.js";
import { addInOrder, receiveMaskApplies, SOFTMAX_CHUNK, type WasmKernels } from "../wasm/wasm-kernels.js";
import { WasmPool, type WasmTask } from "./wasm-pool.js";

/** Scratch kinds of the kernel module's scratchBytes (assembly/index.ts). */
const KIND_GEMM = 0;
const KIND_EVENT_NN = 1;
const KIND_EVENT_TN = 2;
const KIND_MASKED = 3;
const KIND_VEC_COLUMNS = 4;
const KIND_I8 = 5;
/** Rows per block are a multiple of this (and gemmNT blocks at least this). */
const ROW_ALIGN = 8;

export interface ThreadedKernels extends Kernels {
  readonly threads: number;
  /** The one-thread kernels these split calls of (e.g. for replicas of a model, each on one thread). */
  readonly base: WasmKernels;
  /** Stop the worker threads. */
  close(): Promise<void>;
}

export interface ThreadOptions {
  /** Multiply-accumulates below which a call stays on one thread. Default 2^20. */
  minWork?: number;
  /** The same for one-row products split by columns (memory-bound, so worth it sooner). Default 2^17. */
  minColumnWork?: number;
  /** Elements (batch rows × units, or rows × columns) below which pointwise work stays on one thread. Default 2^13. */
  minPointwise?: number;
  /**
   * Units from which the end of the int8 streaming step (egruStep, B = 1: its two parts' finish and
   * the cell) is split by units too, in a second dispatch. Default 512 (bench/fused-step.ts, the
   * language-model stack, two threads: 0.318-0.331 ms a step against 0.328-0.347 with the end on the
   * calling thread; with float32 weights, whose products end in the same dispatch, splitting the cell
   * alone gained nothing, 0.649-0.688 against 0.653-0.675 ms).
   */
  minStepEnd?: number;
}

/** One array operand of a split call: the array (null: absent), its offset and extent, copied in and/or out. */
type Operand = [a: FloatArray | null, off: number, len: number, copyIn: boolean, copyOut: boolean, name: string];

/** Blocks of `rows` rows for up to `threads` threads, each a multiple of ROW_ALIGN but the last. */
export function rowBlocks(rows: number, threads: number): [number, number][] {
  const per = Math.ceil(rows / threads / ROW_ALIGN) * ROW_ALIGN;
  const out: [number, number][] = [];
  for (let r = 0; r < rows; r += per) out.push([r, Math.min(per, rows - r)]);
  return out;
}

/**
 * Blocks of batch rows for the EGRU's time loop on threads (egruSeqForward, egruSeqBackward), one per
 * thread, each of at least ROW_ALIGN rows (a last smaller one joins the block before): below that
 * gemmNT takes another path, with other bits. A single block: the loop stays on one thread.
 */
export function seqBlocks(B: number, threads: number): [number, number][] {
  const per = Math.max(ROW_ALIGN, Math.ceil(B / threads));
  const out: [number, number][] = [];
  for (let r = 0; r < B; r += per) out.push([r, Math.min(per, B - r)]);
  const last = out[out.length - 1];
  if (out.length > 1 && last[1] < ROW_ALIGN) {
    out.pop();
    out[out.length - 1][1] += last[1];
  }
  return out;
}

/** Blocks of batch rows, one per thread (event kernels treat every row alike, so no alignment). */
function batchBlocks(B: number, threads: number): [number, number][] {
  const per = Math.ceil(B / threads);
  const out: [number, number][] = [];
  for (let b = 0; b < B; b += per) out.push([b, Math.min(per, B - b)]);
  return out;
}

/** [start, count] blocks of n items for up to `threads` threads, each a multiple of `tile` but the last. */
export function tileBlocks(n: number, threads: number, tile: number): [number, number][] {
  const per = Math.ceil(n / threads / tile) * tile;
  const out: [number, number][] = [];
  for (let i = 0; i < n; i += per) out.push([i, Math.min(per, n - i)]);
  return out;
}

/** Blocks of `cols` columns for up to `threads` threads, each a multiple of 4 columns but the last. */
export function columnBlocks(cols: number, threads: number): [number, number][] {
  return tileBlocks(cols, threads, 4);
}

/** The operands of an optimizer update: n elements each (null: absent), the gradient (second) only read. */
function updateOperands(n: number, arrays: (Float32Array | null)[], names: string[]): Operand[] {
  return arrays.map((a, i): Operand => [a, 0, n, true, i !== 1, names[i]]);
}

/** Wrap WebAssembly kernels (with a shared memory) so that large calls use `threads` threads. */
export function createThreadedKernels(base: WasmKernels, threads: number, opts: ThreadOptions = {}): ThreadedKernels {
  if (!base.wasm.shared || threads <= 1) {
    return Object.assign(Object.create(base) as Kernels, {
      threads: 1,
      base,
      close: async () => {},
    }) as ThreadedKernels;
  }
  const ex = base.wasm.exports;
  const pool = WasmPool.create(
    {
      threads,
      module: base.wasm.module,
      memory: base.wasm.memory,
      exports: [
        "gemmNN",
        "gemmNT",
        "eventGemmNN",
        "maskedGemmNT",
        "vecMatColumns",
        "gemmNNi8",
        "i8VecMatColumns",
        "i8VecMatEvents",
        "softmaxRows",
        "transposeRowsBlock",
        "gemmTNColumns",
        "eventGemmTNUnits",
        "egruCellForward",
        "i8StepEndUnits",
        "egruCellBackwardUnits",
        "egruSeqForward",
        "egruSeqBackward",
        "gruSeqForward",
        "gruSeqBackward",
        "egruStepColumns",
        "i8StepPart",
        "gruCellForward",
        "gruCellBackward",
        "lstmCellForward",
        "lstmCellBackward",
        "addBiasRows",
        "sumRowsColumns",
        "egruReceiveMask",
        "countNonzero",
        "firstNonFinite",
        "adamUpdate",
        "sgdUpdate",
        "addScaled",
        "sumSquaresChunks",
        "countOutside",
      ],
    },
    ex as unknown as Record<string, (...a: number[]) => unknown>,
  );
  const minWork = opts.minWork ?? 1 << 20;
  const minColumnWork = opts.minColumnWork ?? 1 << 17;
  const minPointwise = opts.minPointwise ?? 1 << 13;
  const minStepEnd = opts.minStepEnd ?? 512;

  /** A view of a[off, off + n) inside the memory: the array itself, or a copy (copied back by done()). */
  interface Placed {
    ptr: number;
    done(): void;
  }
  const place = (
    name: string,
    a: FloatArray | Int8Array,
    off: number,
    n: number,
    copyIn: boolean,
    copyOut: boolean,
  ): Placed => {
    if (off < 0 || a.length < off + n)
      throw new ShapeError(name, `at least ${off + n} elements (offset ${off} + ${n})`, `${a.length}`);
    if (base.inMemory(a)) return { ptr: a.byteOffset + off * a.BYTES_PER_ELEMENT, done: () => {} };
    if (a instanceof Int8Array) {
      const v = base.allocInt8(n); // (int8 values are only read)
      if (copyIn) v.set(a.subarray(off, off + n));
      return { ptr: v.byteOffset, done: () => base.free(v) };
    }
    const v = base.alloc(n, !copyIn); // (zeroing what the copy overwrites whole cost as much as the copy)
    if (copyIn) v.set(a.subarray(off, off + n));
    return {
      ptr: v.byteOffset,
      done: () => {
        if (copyOut) a.set(v, off);
        base.free(v);
      },
    };
  };
  // One scratch region per thread, kept between calls and grown when a call needs more (fresh
  // zeroed scratch for every call cost as much as a small product).
  const scratches: (Float32Array | null)[] = new Array(threads).fill(null);
  const scratchAt = (i: number, bytes: number): number => {
    const need = Math.ceil(bytes / 4) + 16;
    let s = scratches[i];
    if (!s || s.length < need) {
      if (s) base.free(s);
      s = scratches[i] = base.alloc(Math.max(need, Math.ceil((s?.length ?? 0) * 1.5)));
    }
    return (s.byteOffset + 63) & ~63;
  };

  /** Run one task per block; `task(r0, rows, scratchPtr)` builds the call of a block. Returns the tasks' results. */
  const runBlocks = (
    blocks: [number, number][],
    bytes: (rows: number) => number,
    task: (r0: number, rows: number, s: number) => WasmTask,
  ): number[] => pool.run(blocks.map(([r0, rows], i) => task(r0, rows, scratchAt(i, bytes(rows)))));

  /**
   * Place every operand (address 0 for an absent one), run `fn` once per block with the arguments
   * `args(ptrs, r0, rows)` builds, copy outputs back. Returns the tasks' results.
   */
  const splitCall = (
    fn: string,
    blocks: [number, number][],
    operands: Operand[],
    args: (p: number[], r0: number, rows: number) => number[],
  ): number[] => {
    const placed: Placed[] = [];
    try {
      for (const [a, off, len, copyIn, copyOut, name] of operands)
        placed.push(a === null ? { ptr: 0, done: () => {} } : place(name, a, off, len, copyIn, copyOut));
      const p = placed.map((x) => x.ptr);
      return runBlocks(
        blocks,
        () => 0,
        (r0, rows) => ({ fn, args: args(p, r0, rows) }),
      );
    } finally {
      for (let i = placed.length - 1; i >= 0; i--) placed[i].done();
    }
  };
  /**
   * A time loop by blocks of rows (egruSeq*, gruSeq*; egru-seq.ts): its operands placed (address 0
   * for an absent one) and, with qFloats > 0, a step's q that each block writes its rows of; export
   * `fn` run once a block with args(ptrs, r0, r1, q, scratch), outputs copied back. The blocks'
   * results, or null where the memory has no room for the copies (nothing ran: the caller makes the
   * step loop's calls, whose copies are a step's).
   */
  const seqByRows = (
    blocks: [number, number][],
    operands: SeqOperand[],
    qFloats: number,
    fn: string,
    scratchBytes: (rows: number) => number,
    args: (p: number[], r0: number, r1: number, q: number, scratch: number) => number[],
  ): number[] | null => {
    const placed: Placed[] = [];
    let q: Float32Array | null = null;
    try {
      try {
        for (const [a, len, read, written, name] of operands)
          placed.push(a === null ? { ptr: 0, done: () => {} } : place(name, a, 0, len, read, written));
      } catch (e) {
        if (e instanceof StateError) return null;
        throw e;
      }
      const p = placed.map((x) => x.ptr);
      const at = qFloats > 0 ? (q = base.alloc(qFloats, false)).byteOffset : 0;
      return runBlocks(
        blocks,
        (rows) => scratchBytes(rows) >>> 0,
        (r0, rows, sc) => ({ fn, args: args(p, r0, r0 + rows, at, sc) }),
      );
    } finally {
      if (q) base.free(q);
      for (let i = placed.length - 1; i >= 0; i--) placed[i].done();
    }
  };
  /** The address of row r0 of an operand at p with `per` elements per row (0 stays 0: absent). */
  const row = (p: number, r0: number, per: number): number => (p === 0 ? 0 : p + r0 * per * 4);

  /** C[M,N] (+)= A[M,K]·op(B) with the rows of A and C split into the given blocks. */
  const rowSplitGemm = (
    fn: "gemmNN" | "gemmNT",
    blocks: [number, number][],
    M: number,
    N: number,
    K: number,
    A: FloatArray,
    aOff: number,
    B: FloatArray,
    bOff: number,
    C: FloatArray,
    cOff: number,
    accumulate: boolean,
  ): void => {
    const a = place("A", A, aOff, M * K, true, false);
    const b = place("B", B, bOff, K * N, true, false);
    const c = place("C", C, cOff, M * N, accumulate, true);
    try {
      runBlocks(
        blocks,
        (rows) => ex.scratchBytes(KIND_GEMM, rows, N, K),
        (r0, rows, s) => ({
          fn,
          args: [rows, N, K, a.ptr + r0 * K * 4, b.ptr, c.ptr + r0 * N * 4, accumulate ? 1 : 0, s],
        }),
      );
    } finally {
      c.done();
      b.done();
      a.done();
    }
  };

  /**
   * A one-row product q[N] (+)= x[K]·W[K, N] (dense, or over the nonzeros of x) with the columns
   * split over the threads: a streaming inference step is one such product per layer, bound by
   * reading W, which two threads read faster than one.
   */
  const columnSplit = (
    events: boolean,
    K: number,
    N: number,
    x: FloatArray,
    xOff: number,
    W: FloatArray,
    wOff: number,
    q: FloatArray,
    qOff: number,
    accumulate: boolean,
  ): void => {
    const xx = place("x", x, xOff, K, true, false);
    const ww = place("W", W, wOff, K * N, true, false);
    const qq = place("q", q, qOff, N, accumulate, true);
    try {
      runBlocks(
        columnBlocks(N, threads),
        (cols) => ex.scratchBytes(KIND_VEC_COLUMNS, K, cols, 0),
        (n0, cols, s) => ({
          fn: "vecMatColumns",
          args: [events ? 1 : 0, K, N, xx.ptr, ww.ptr, qq.ptr, n0, n0 + cols, accumulate ? 1 : 0, s],
        }),
      );
    } finally {
      qq.done();
      ww.done();
      xx.done();
    }
  };

  /**
   * C[M,N] (+)= A[M,K]·W on int8 weights: one row split by its entries on two threads
   * (i8VecMatEvents, exact int32 partial sums), else by columns (i8VecMatColumns), more rows
   * split by rows (each row's sums are its own). Returns the MACs executed (nonzeros of A · N).
   */
  const int8Product: Int8Product = (M, N, K, A, aOff, W, C, cOff, accumulate) => {
    checkProductShape(W, K, N);
    const nonzeros = countNonzero(A, aOff, M * K);
    const columns = M === 1 && nonzeros * N >= minColumnWork && N >= 8;
    if (!allFloat32(A, C) || (!columns && (nonzeros * N < minWork || M < 2)))
      return base.eventGemmNNi8(M, N, K, A, aOff, W, C, cOff, accumulate);
    const perInput = W.axis === "input" ? 1 : 0;
    const a = place("A", A, aOff, M * K, true, false);
    const q = place("W.values", W.values, 0, K * N, true, false);
    const s = place("W.scales", W.scales, 0, W.scales.length, true, false);
    const c = place("C", C, cOff, M * N, accumulate, true);
    const acc = accumulate ? 1 : 0;
    try {
      if (columns && threads === 2 && nonzeros >= 8) {
        // two threads: each half of the row's entries, whole rows of W streamed, int32 partial sums
        // (exact, so the same bits as one call) added and converted by the calling thread
        const scratches: number[] = [];
        const sx = runBlocks(
          [
            [0, 1],
            [1, 1],
          ],
          () => ex.scratchBytes(KIND_I8, K, N, 0),
          (part, _, scratch) => {
            scratches.push(scratch);
            return { fn: "i8VecMatEvents", args: [K, N, a.ptr, q.ptr, s.ptr, perInput, part, 2, scratch] };
          },
        );
        ex.i8FinishParts(K, N, scratches[0], scratches[1], sx[0], s.ptr, perInput, c.ptr, acc);
      } else if (columns)
        runBlocks(
          columnBlocks(N, threads),
          (cols) => ex.scratchBytes(KIND_I8, K, cols, 0),
          (n0, cols, scratch) => ({
            fn: "i8VecMatColumns",
            args: [K, N, a.ptr, q.ptr, s.ptr, perInput, c.ptr, n0, n0 + cols, acc, scratch],
          }),
        );
      else
        runBlocks(
          batchBlocks(M, threads),
          () => ex.scratchBytes(KIND_I8, K, N, 0),
          (r0, rows, scratch) => ({
            fn: "gemmNNi8",
            args: [rows, N, K, a.ptr + r0 * K * 4, q.ptr, s.ptr, perInput, c.ptr + r0 * N * 4, acc, scratch],
          }),
        );
    } finally {
      c.done();
      s.done();
      q.done();
      a.done();
    }
    return nonzeros * N;
  };

  /** Nonzeros of a[off, off + n): split by element ranges where a is in the memory (else one thread, copied in). */
  const countNonzero = (a: FloatArray, off: number, n: number): number => {
    if (!allFloat32(a) || !base.inMemory(a) || n < minPointwise) return base.countNonzero(a, off, n);
    const counts = splitCall(
      "countNonzero",
      columnBlocks(n, threads),
      [[a, off, n, true, false, "a"]],
      (p, i0, len) => [row(p[0], i0, 1), len],
    );
    return counts.reduce((x, y) => x + y, 0);
  };

  // Kernels derived from these with another event crossover (Object.create, as the dense path's
  // eventCrossover 0): the calls that read it read the caller's, and delegate to a base that has it.
  const bases = new Map<number, WasmKernels>([[base.eventCrossover, base]]);
  const baseWith = (crossover: number): WasmKernels => {
    let b = bases.get(crossover);
    if (!b)
      bases.set(crossover, (b = Object.assign(Object.create(base) as WasmKernels, { eventCrossover: crossover })));
    return b;
  };

  const k: ThreadedKernels = {
    name: `${base.name}×${threads}`,
    eventCrossover: base.eventCrossover,
    threads,
    base,
    alloc: (n, zeroed) => base.alloc(n, zeroed),
    inMemory: (a) => base.inMemory(a),
    allocInt8: (n) => base.allocInt8(n),
    free: (a) => base.free(a),

    gemmTN(M, N, K, A, aOff, B, bOff, C, cOff, accumulate) {
      // the packed path only (M, K ≥ 8): the row-list one for fewer rows is not split
      if (!allFloat32(A, B, C) || M * N * K < minWork || M < 8 || K < 8 || N < 8)
        return base.gemmTN(M, N, K, A, aOff, B, bOff, C, cOff, accumulate);
      const acc = accumulate ? 1 : 0;
      const a = place("A", A, aOff, K * M, true, false);
      const b = place("B", B, bOff, K * N, true, false);
      const c = place("C", C, cOff, M * N, accumulate, true);
      try {
        runBlocks(
          columnBlocks(N, threads),
          () => ex.scratchBytes(KIND_GEMM, M, N, K),
          (n0, cols, sc) => ({ fn: "gemmTNColumns", args: [M, N, K, a.ptr, b.ptr, c.ptr, n0, n0 + cols, acc, sc] }),
        );
      } finally {
        c.done();
        b.done();
        a.done();
      }
    },

    eventGemmTN(H, N, B, y, yOff, dq, dqOff, dR, dROff) {
      if (!allFloat32(y, dq, dR) || H * N * B < minWork || H < 2)
        return base.eventGemmTN(H, N, B, y, yOff, dq, dqOff, dR, dROff);
      const yy = place("y", y, yOff, B * H, true, false);
      const d = place("dq", dq, dqOff, B * N, true, false);
      const r = place("dR", dR, dROff, H * N, true, true);
      try {
        // split by units (rows of dR): each block lists only its columns of y and returns their events
        const events = runBlocks(
          batchBlocks(H, threads),
          () => ex.scratchBytes(KIND_EVENT_TN, B, H, 0),
          (j0, units, sc) => ({ fn: "eventGemmTNUnits", args: [H, N, B, yy.ptr, d.ptr, r.ptr, j0, j0 + units, sc] }),
        );
        return events.reduce((a, e) => a + e, 0) * N;
      } finally {
        r.done();
        d.done();
        yy.done();
      }
    },

    egruStep(s: EgruStepArgs): number {
      const G = 3 * s.H;
      const crossover = this.eventCrossover;
      const on = baseWith(crossover);
      if (s.H < 8 || G * (s.I + s.H) < minColumnWork) return on.egruStep(s);
      const w8 = int8StepWeights(s);
      if (w8 && threads !== 2) return -1; // (the int8 parts are added two at a time: separate calls instead)
      // int8, from minStepEnd units: the parts' finish and the cell by blocks of units, a second
      // dispatch (each unit's three gate columns lie in both threads' parts)
      const splitEnd = w8 !== null && s.H >= minStepEnd;
      const parts: number[] = [];
      return on.egruStep(s, {
        // both products and their biases by contiguous blocks of columns, one dispatch (a split by
        // units, the cell on the threads too, measured slower: each thread then reads part of every
        // page of every listed row)
        float: () =>
          runBlocks(
            columnBlocks(G, threads),
            (cols) => ex.egruStepScratch(s.I, s.H, cols),
            (n0, cols, scratch) => ({
              fn: "egruStepColumns",
              args: egruStepColumnsCall(s, crossover, n0, n0 + cols, scratch),
            }),
          )[0],
        // int8: each thread the integer sums of both products over half of each list's entries
        // (whole rows streamed, as the int8 products split one row), then the parts added here
        // unless the cell's dispatch does it
        int8: (w) => {
          runBlocks(
            [
              [0, 1],
              [1, 1],
            ],
            () => ex.i8StepScratch(s.I, s.H),
            (part, _, scratch) => {
              parts.push(scratch);
              return { fn: "i8StepPart", args: i8StepPartCall(s, w, part, 2, scratch) };
            },
          );
          if (!splitEnd) ex.i8StepFinish(...i8StepFinishCall(s, w, parts[0], parts[1]));
        },
        ...(splitEnd && {
          cell: () =>
            void runBlocks(
              columnBlocks(s.H, threads),
              () => 0,
              (j0, units) => ({
                fn: "i8StepEndUnits",
                args: i8StepEndCall(s, w8, parts[0], parts[1], j0, j0 + units),
              }),
            ),
        }),
      });
    },

    egruSeqForward(s) {
      const blocks = seqBlocks(s.B, threads);
      // one block: on this thread where each step's product is too small to split, else the step loop
      const crossover = this.eventCrossover;
      if (blocks.length < 2) return 3 * s.H * s.H * s.B < minWork ? baseWith(crossover).egruSeqForward(s) : -1;
      if (!seqForwardApplies(s) || !seqForwardResident(s).every((a) => base.inMemory(a))) return -1;
      const macs = seqByRows(
        blocks,
        seqForwardOperands(s),
        s.B * 3 * s.H,
        "egruSeqForward",
        (rows) => ex.egruSeqForwardScratch(rows, s.H),
        (p, r0, r1, q, sc) => egruSeqForwardCall(s, p, crossover, r0, r1, q, sc),
      );
      return macs ? macs.reduce((a, m) => a + m, 0) : -1;
    },

    egruSeqBackward(s) {
      const blocks = seqBlocks(s.B, threads);
      const crossover = this.eventCrossover;
      if (blocks.length < 2) return 3 * s.H * s.H * s.B < minWork ? baseWith(crossover).egruSeqBackward(s) : -1;
      if (!seqBackwardApplies(s) || !seqBackwardResident(s).every((a) => base.inMemory(a))) return -1;
      const macs = seqByRows(
        blocks,
        seqBackwardOperands(s),
        0,
        "egruSeqBackward",
        (rows) => ex.egruSeqBackwardScratch(rows, s.H),
        (p, r0, r1, _q, sc) => egruSeqBackwardCall(s, p, crossover, r0, r1, sc),
      );
      return macs ? macs.reduce((a, m) => a + m, 0) : -1;
    },

    gruSeqForward(s) {
      const blocks = seqBlocks(s.B, threads);
      if (blocks.length < 2) return 3 * s.H * s.H * s.B < minWork ? base.gruSeqForward(s) : false;
      if (!gruSeqForwardApplies(s) || !gruSeqForwardResident(s).every((a) => base.inMemory(a))) return false;
      const ran = seqByRows(
        blocks,
        gruSeqForwardOperands(s),
        s.B * 3 * s.H,
        "gruSeqForward",
        (rows) => ex.gruSeqForwardScratch(rows, s.H),
        (p, r0, r1, q, sc) => gruSeqForwardCall(s, p, r0, r1, q, sc),
      );
      return ran !== null;
    },

    gruSeqBackward(s) {
      const blocks = seqBlocks(s.B, threads);
      if (blocks.length < 2) return 3 * s.H * s.H * s.B < minWork ? base.gruSeqBackward(s) : false;
      if (!gruSeqBackwardApplies(s) || !gruSeqBackwardResident(s).every((a) => base.inMemory(a))) return false;
      const ran = seqByRows(
        blocks,
        gruSeqBackwardOperands(s),
        0,
        "gruSeqBackward",
        (rows) => ex.gruSeqBackwardScratch(rows, s.H),
        (p, r0, r1, _q, sc) => gruSeqBackwardCall(s, p, r0, r1, sc),
      );
      return ran !== null;
    },

    egruCellForward(args) {
      const { B, H, out, outOff } = args;
      if (!forwardInFloat32(args) || B < 2 || B * H < minPointwise) return base.egruCellForward(args);
      const n = B * H;
      const G = 3 * H;
      const { tape } = out;
      splitCall(
        "egruCellForward",
        batchBlocks(B, threads),
        [
          [args.a, args.aOff, 3 * n, true, false, "a"],
          [args.q, args.qOff, 3 * n, true, false, "q"],
          [args.hPrev, args.hPrevOff, n, true, false, "hPrev"],
          [args.trPrev, args.trPrevOff, n, true, false, "trPrev"],
          [args.thr, 0, H, true, false, "thr"],
          [args.keep, args.keepOff, n, true, false, "keep"],
          ...(["y", "h", "o", "tr"] as const).map((k): Operand => [out[k], outOff, n, false, true, k]),
          ...(["c", "z", "r", "g", "hr"] as const).map((k): Operand => [tape[k], outOff, n, false, true, `tape.${k}`]),
        ],
        (p, b0, rows) => [
          rows,
          H,
          row(p[0], b0, G),
          row(p[1], b0, G),
          row(p[2], b0, H),
          row(p[3], b0, H),
          p[4],
          row(p[5], b0, H),
          args.keepConst,
          args.alpha,
          ...p.slice(6).map((q) => row(q, b0, H)),
        ],
      );
    },

    egruCellBackward(args) {
      const { B, H, event, up, tape, off } = args;
      if (!backwardInFloat32(args) || H < 8 || B * H < minPointwise) return base.egruCellBackward(args);
      const n = B * H;
      splitCall(
        "egruCellBackwardUnits",
        columnBlocks(H, threads),
        [
          ...(["dy", "dh", "do", "dtr"] as const).map((k): Operand => [up[k], off, n, true, false, `upstream.${k}`]),
          [args.dyRec, 0, n, true, false, "dyRec"],
          [args.dhRec, 0, n, true, false, "dhRec"],
          [args.dtrCarry, 0, n, true, true, "dtrCarry"],
          [tape.c, off, n, true, false, "tape.c"],
          [args.o, off, n, true, false, "o"],
          ...(["z", "r", "g", "hr"] as const).map((k): Operand => [tape[k], off, n, true, false, `tape.${k}`]),
          [args.hPrev, args.hPrevOff, n, true, false, "hPrev"],
          [args.thr, 0, H, true, false, "thr"],
          [args.keep, args.keepOff, n, true, false, "keep"],
          [args.dp, args.dOff, 3 * n, false, true, "dp"],
          [args.dq, args.dOff, 3 * n, false, true, "dq"],
          [args.dhNext, 0, n, false, true, "dhNext"],
          [args.dthrRows, 0, n, true, true, "dthrRows"],
        ],
        (p, j0, units) => [
          B,
          H,
          ...p.slice(0, 16),
          args.keepConst,
          args.alpha,
          event.gamma ?? 0,
          event.support ?? 0,
          ...p.slice(16),
          j0,
          j0 + units,
        ],
      );
    },

    gruCellForward(args) {
      const { B, H, out, outOff } = args;
      if (!gruForwardInFloat32(args) || B < 2 || B * H < minPointwise) return base.gruCellForward(args);
      const n = B * H;
      const G = 3 * H;
      splitCall(
        "gruCellForward",
        batchBlocks(B, threads),
        [
          [args.a, args.aOff, 3 * n, true, false, "a"],
          [args.q, args.qOff, 3 * n, true, false, "q"],
          [args.hPrev, args.hPrevOff, n, true, false, "hPrev"],
          [args.keep, args.keepOff, n, true, false, "keep"],
          [out.h, outOff, n, false, true, "h"],
          ...(["z", "r", "g", "hr"] as const).map((k): Operand => [out.tape[k], outOff, n, false, true, `tape.${k}`]),
        ],
        (p, b0, rows) => [
          rows,
          H,
          row(p[0], b0, G),
          row(p[1], b0, G),
          row(p[2], b0, H),
          row(p[3], b0, H),
          args.keepConst,
          ...p.slice(4).map((q) => row(q, b0, H)),
        ],
      );
    },

    gruCellBackward(args) {
      const { B, H, tape, off } = args;
      const applies = allFloat32(args.dOut, tape.z, tape.r, tape.g, tape.hr, args.hPrev, args.keep, args.dhRec);
      if (!applies || !allFloat32(args.dhNext, args.dp, args.dq) || B < 2 || B * H < minPointwise)
        return base.gruCellBackward(args);
      const n = B * H;
      const G = 3 * H;
      splitCall(
        "gruCellBackward",
        batchBlocks(B, threads),
        [
          [args.dOut, off, n, true, false, "dOut"],
          [args.dhRec, 0, n, true, false, "dhRec"],
          ...(["z", "r", "g", "hr"] as const).map((k): Operand => [tape[k], off, n, true, false, `tape.${k}`]),
          [args.hPrev, args.hPrevOff, n, true, false, "hPrev"],
          [args.keep, args.keepOff, n, true, false, "keep"],
          [args.dp, args.dOff, 3 * n, false, true, "dp"],
          [args.dq, args.dOff, 3 * n, false, true, "dq"],
          [args.dhNext, 0, n, false, true, "dhNext"],
        ],
        (p, b0, rows) => [
          rows,
          H,
          ...p.slice(0, 8).map((q) => row(q, b0, H)),
          args.keepConst,
          row(p[8], b0, G),
          row(p[9], b0, G),
          row(p[10], b0, H),
        ],
      );
    },

    lstmCellForward(args) {
      const { B, H, out, outOff } = args;
      if (!lstmForwardInFloat32(args) || B < 2 || B * H < minPointwise) return base.lstmCellForward(args);
      const n = B * H;
      splitCall(
        "lstmCellForward",
        batchBlocks(B, threads),
        [
          [args.P, args.pOff, 4 * n, true, false, "P"],
          [args.cPrev, args.cPrevOff, n, true, false, "cPrev"],
          [out.h, outOff, n, false, true, "h"],
          [out.c, outOff, n, false, true, "c"],
          ...(["i", "f", "g", "o", "k"] as const).map(
            (k): Operand => [out.tape[k], outOff, n, false, true, `tape.${k}`],
          ),
        ],
        (p, b0, rows) => [rows, H, row(p[0], b0, 4 * H), ...p.slice(1).map((q) => row(q, b0, H))],
      );
    },

    lstmCellBackward(args) {
      const { B, H, tape, off } = args;
      const arrays = [args.dOut, tape.i, tape.f, tape.g, tape.o, tape.k, args.cPrev, args.dhRec, args.dcRec, args.dP];
      if (!allFloat32(...arrays) || B < 2 || B * H < minPointwise) return base.lstmCellBackward(args);
      const n = B * H;
      splitCall(
        "lstmCellBackward",
        batchBlocks(B, threads),
        [
          [args.dOut, off, n, true, false, "dOut"],
          [args.dhRec, 0, n, true, false, "dhRec"],
          [args.dcRec, 0, n, true, true, "dcRec"],
          ...(["i", "f", "g", "o", "k"] as const).map((k): Operand => [tape[k], off, n, true, false, `tape.${k}`]),
          [args.cPrev, args.cPrevOff, n, true, false, "cPrev"],
          [args.dP, args.dOff, 4 * n, false, true, "dP"],
        ],
        (p, b0, rows) => [rows, H, ...p.slice(0, 9).map((q) => row(q, b0, H)), row(p[9], b0, 4 * H)],
      );
    },

    addBiasRows(out, outOff, rows, cols, bias) {
      if (!allFloat32(out, bias) || !base.inMemory(out) || rows < 2 || rows * cols < minPointwise)
        return base.addBiasRows(out, outOff, rows, cols, bias);
      splitCall(
        "addBiasRows",
        batchBlocks(rows, threads),
        [
          [out, outOff, rows * cols, true, true, "out"],
          [bias, 0, cols, true, false, "bias"],
        ],
        (p, r0, r) => [r, cols, row(p[0], r0, cols), p[1]],
      );
    },

    // row blocks of src (column blocks of dst), in tiles of 16 rows as the single-thread kernel takes them
    transposeRows(rows, cols, src, dst, accumulate) {
      if (!allFloat32(src, dst) || rows < 32 || rows * cols < minPointwise)
        return base.transposeRows(rows, cols, src, dst, accumulate);
      splitCall(
        "transposeRowsBlock",
        tileBlocks(rows, threads, 16),
        [
          [src, 0, rows * cols, true, false, "src"],
          [dst, 0, rows * cols, accumulate, true, "dst"],
        ],
        (p, r0, r) => [rows, cols, p[0], p[1], accumulate ? 1 : 0, r0, r0 + r],
      );
    },

    sumRowsInto(acc, m, mOff, rows, cols) {
      if (!allFloat32(acc, m) || !base.inMemory(m) || cols < 8 || rows * cols < minPointwise)
        return base.sumRowsInto(acc, m, mOff, rows, cols);
      splitCall(
        "sumRowsColumns",
        columnBlocks(cols, threads),
        [
          [acc, 0, cols, true, true, "acc"],
          [m, mOff, rows * cols, true, false, "m"],
        ],
        (p, c0, n) => [p[0], p[1], rows, cols, c0, c0 + n],
      );
    },

    egruReceiveMask(args: ReceiveMaskArgs): number {
      const { rows, H, o, c, off, thr, event, out, outOff } = args;
      const n = rows * H;
      if (!receiveMaskApplies(args) || rows < 2 || n < minPointwise) return base.egruReceiveMask(args);
      const ones = splitCall(
        "egruReceiveMask",
        batchBlocks(rows, threads),
        [
          [o, off, n, true, false, "o"],
          [c, off, n, true, false, "c"],
          [thr, 0, H, true, false, "thr"],
          [out, outOff, n, false, true, "out"],
        ],
        (p, r0, r) => [
          r,
          H,
          row(p[0], r0, H),
          row(p[1], r0, H),
          p[2],
          event.gamma ?? 0,
          event.support ?? 0,
          row(p[3], r0, H),
        ],
      );
      return ones.reduce((x, y) => x + y, 0);
    },

    countNonzero,

    firstNonFinite(a, off, n) {
      if (!allFloat32(a) || !base.inMemory(a) || n < minPointwise) return base.firstNonFinite(a, off, n);
      const blocks = columnBlocks(n, threads);
      const found = splitCall("firstNonFinite", blocks, [[a, off, n, true, false, "a"]], (p, i0, len) => [
        row(p[0], i0, 1),
        len,
      ]);
      const i = found.findIndex((f) => f >= 0);
      return i < 0 ? -1 : blocks[i][0] + found[i];
    },

    sumSquares(a, off, n) {
      // whole chunks per thread, each chunk's sum into its slot of `sums`, added in order here
      const chunks = Math.ceil(n / SQUARES_CHUNK);
      if (!allFloat32(a) || n < minPointwise || chunks < 2) return base.sumSquares(a, off, n);
      const sums = base.alloc(2 * chunks, false); // float64 [chunks]
      const x = place("a", a, off, n, true, false);
      try {
        runBlocks(
          batchBlocks(chunks, threads),
          () => 0,
          (c0, count) => ({
            fn: "sumSquaresChunks",
            args: [
              x.ptr + c0 * SQUARES_CHUNK * 4,
              Math.min(n - c0 * SQUARES_CHUNK, count * SQUARES_CHUNK),
              sums.byteOffset + c0 * 8,
            ],
          }),
        );
        return addInOrder(new Float64Array(sums.buffer, sums.byteOffset, chunks));
      } finally {
        x.done();
        base.free(sums);
      }
    },

    countOutside(rows, H, x, off, thr, support) {
      if (!allFloat32(x, thr) || rows < 2 || rows * H < minPointwise)
        return base.countOutside(rows, H, x, off, thr, support);
      const counts = splitCall(
        "countOutside",
        batchBlocks(rows, threads),
        [
          [x, off, rows * H, true, false, "x"],
          [thr, 0, H, true, false, "thr"],
        ],
        (p, r0, r) => [r, H, row(p[0], r0, H), p[1], support],
      );
      return counts.reduce((a, b) => a + b, 0);
    },

    adamUpdate(u) {
      const n = u.w.length;
      if (n < minPointwise) return base.adamUpdate(u);
      const { b1, b2, eps, stepSize, bc2, shrink, wd } = u;
      splitCall(
        "adamUpdate",
        columnBlocks(n, threads),
        updateOperands(n, [u.w, u.g, u.m, u.v], ["w", "g", "m", "v"]),
        (p, i0, len) => [
          ...p.map((q) => row(q, i0, 1)),
          len,
          b1,
          1 - b1,
          b2,
          1 - b2,
          eps,
          stepSize,
          bc2,
          shrink,
          wd,
          u.decoupled ? 1 : 0,
        ],
      );
    },

    sgdUpdate(u) {
      const n = u.w.length;
      if (n < minPointwise) return base.sgdUpdate(u);
      splitCall(
        "sgdUpdate",
        columnBlocks(n, threads),
        updateOperands(n, [u.w, u.g, u.buf], ["w", "g", "buf"]),
        (p, i0, len) => [...p.map((q) => row(q, i0, 1)), len, u.lr, u.wd, u.mu, u.first ? 1 : 0],
      );
    },

    addScaled(a, b, scale) {
      const n = a.length;
      if (!allFloat32(a, b) || n < minPointwise) return base.addScaled(a, b, scale);
      splitCall(
        "addScaled",
        columnBlocks(n, threads),
        updateOperands(n, [a as Float32Array, b as Float32Array], ["a", "b"]),
        (p, i0, len) => [row(p[0], i0, 1), row(p[1], i0, 1), len, scale],
      );
    },

    softmaxRows(N, V, x, xOff, out, outOff, scale, logZ, logZOff) {
      if (!allFloat32(x, logZ) || (out !== null && !allFloat32(out)) || N < 2 || N * V < minWork)
        return base.softmaxRows(N, V, x, xOff, out, outOff, scale, logZ, logZOff);
      // chunks of rows as the single-thread kernel takes them, each split over the threads
      const per = Math.max(threads, Math.floor(SOFTMAX_CHUNK / V));
      for (let n0 = 0; n0 < N; n0 += per) {
        const rows = Math.min(per, N - n0);
        const xx = place("x", x, xOff + n0 * V, rows * V, true, false);
        const oo = out === null ? null : place("out", out, outOff + n0 * V, rows * V, false, true);
        const zz = place("logZ", logZ, logZOff + n0, rows, false, true);
        try {
          runBlocks(
            batchBlocks(rows, threads),
            () => 0,
            (r0, r, s) => ({
              fn: "softmaxRows",
              args: [r, V, xx.ptr + r0 * V * 4, oo === null ? 0 : oo.ptr + r0 * V * 4, zz.ptr + r0 * 4, scale],
            }),
          );
        } finally {
          zz.done();
          oo?.done();
          xx.done();
        }
      }
    },

    gemmNN(M, N, K, A, aOff, B, bOff, C, cOff, accumulate) {
      if (M === 1 && allFloat32(A, B, C) && K * N >= minColumnWork && N >= 8)
        return columnSplit(false, K, N, A, aOff, B, bOff, C, cOff, accumulate);
      if (!allFloat32(A, B, C) || M * N * K < minWork || M < 2 * ROW_ALIGN)
        return base.gemmNN(M, N, K, A, aOff, B, bOff, C, cOff, accumulate);
      rowSplitGemm("gemmNN", rowBlocks(M, threads), M, N, K, A, aOff, B, bOff, C, cOff, accumulate);
    },

    gemmNT(M, N, K, A, aOff, B, bOff, C, cOff, accumulate) {
      if (!allFloat32(A, B, C) || M * N * K < minWork || M < 2 * ROW_ALIGN)
        return base.gemmNT(M, N, K, A, aOff, B, bOff, C, cOff, accumulate);
      const blocks = rowBlocks(M, threads);
      // a block under 8 rows would take the few-rows path: fold a short last block into the one before
      if (blocks.length > 1 && blocks[blocks.length - 1][1] < ROW_ALIGN)
        blocks[blocks.length - 2][1] += blocks.pop()![1];
      rowSplitGemm("gemmNT", blocks, M, N, K, A, aOff, B, bOff, C, cOff, accumulate);
    },

    eventGemmNN(B, N, H, y, yOff, R, rOff, q, qOff, accumulate) {
      const events = countNonzero(y, yOff, B * H);
      if (B === 1 && allFloat32(y, R, q) && events * N >= minColumnWork && N >= 8) {
        columnSplit(true, H, N, y, yOff, R, rOff, q, qOff, accumulate);
        return events * N;
      }
      if (!allFloat32(y, R, q) || events * N < minWork || B < 2)
        return base.eventGemmNN(B, N, H, y, yOff, R, rOff, q, qOff, accumulate);
      const yy = place("y", y, yOff, B * H, true, false);
      const rr = place("R", R, rOff, H * N, true, false);
      const qq = place("q", q, qOff, B * N, accumulate, true);
      try {
        runBlocks(
          batchBlocks(B, threads),
          (rows) => ex.scratchBytes(KIND_EVENT_NN, rows, H, 0),
          (b0, rows, s) => ({
            fn: "eventGemmNN",
            args: [rows, N, H, yy.ptr + b0 * H * 4, rr.ptr, qq.ptr + b0 * N * 4, accumulate ? 1 : 0, s],
          }),
        );
      } finally {
        qq.done();
        rr.done();
        yy.done();
      }
      return events * N;
    },

    maskedGemmNT(B, H, N, dq, dqOff, R, rOff, mask, maskOff, out, outOff) {
      const active = countNonzero(mask, maskOff, B * H);
      if (!allFloat32(dq, R, mask, out) || active * N < minWork || B < 2)
        return base.maskedGemmNT(B, H, N, dq, dqOff, R, rOff, mask, maskOff, out, outOff);
      const d = place("dq", dq, dqOff, B * N, true, false);
      const rr = place("R", R, rOff, H * N, true, false);
      const m = place("mask", mask, maskOff, B * H, true, false);
      const o = place("out", out, outOff, B * H, false, true);
      try {
        runBlocks(
          batchBlocks(B, threads),
          (rows) => ex.scratchBytes(KIND_MASKED, rows, H, 0),
          (b0, rows, s) => ({
            fn: "maskedGemmNT",
            args: [rows, H, N, d.ptr + b0 * N * 4, rr.ptr, m.ptr + b0 * H * 4, o.ptr + b0 * H * 4, s],
          }),
        );
      } finally {
        o.done();
        m.done();
        rr.done();
        d.done();
      }
      return active * N;
    },

    gemmNNi8: int8Product,
    eventGemmNNi8: int8Product,

    close: () => pool.close(),
  };
  return k;
}
