// The WebAssembly SIMD kernels (assembly/, built into kernels-wasm.generated.ts by
// scripts/build-wasm.mjs) behind the Kernels interface, for Node and browsers alike: no Node
// built-ins, only the global WebAssembly API.
//
// Memory. The kernels run on one WebAssembly.Memory, shared when the host has SharedArrayBuffer
// (so a worker pool can later run kernels on the same memory) and plain otherwise. A small
// allocator hands out Float32Array views into that memory (alloc/free) for long-lived arrays —
// weights, gradients — which kernel calls then read and write in place. Any other Float32Array
// argument is copied into a scratch region, and outputs (with C's old contents when
// accumulating) are copied back. A shared memory's buffer never detaches when the memory grows
// (the grown memory comes with a new SharedArrayBuffer object; every one is remembered), but a
// plain memory's does, so with a plain memory alloc() returns ordinary arrays and every call
// copies. Float64Array arguments (used by the float64 tests) go to the TypeScript kernels.
//
// The arrays of one call must not overlap, except inputs with inputs.
//
// Builds. The module comes in a SIMD build and a relaxed-SIMD build (fused multiply-add in the
// products, assembly/common.ts); the relaxed one is loaded where the host validates relaxed SIMD
// (Node ≥ 22, current browsers) unless the relaxedSimd option or EGRU_RELAXED_SIMD says otherwise.
// Each is generated for a shared memory; the plain-memory module differs in one flag byte.

import { ShapeError, StateError, ValueError } from "../core/errors.js";
import { jsKernels, type Kernels, type ReceiveMaskArgs } from "../kernels/backend.js";
import { addBiasRows, sumRowsInto } from "../kernels/gemm.js";
import { transposeRowsTs } from "../kernels/row-ops.js";
import type { SoftmaxRows } from "../kernels/softmax.js";
import {
  backwardInFloat32,
  forwardInFloat32,
  type CellBackwardArgs,
  type CellForwardArgs,
} from "../kernels/cell-pointwise.js";
import { gruForwardInFloat32, type GruCellBackwardArgs, type GruCellForwardArgs } from "../kernels/gru-cell.js";
import { lstmForwardInFloat32, type LstmCellBackwardArgs, type LstmCellForwardArgs } from "../kernels/lstm-cell.js";
import {
  adamUpdate,
  countNonzero,
  countOutside,
  firstNonFinite,
  sgdUpdate,
  SQUARES_CHUNK,
  sumSquares,
  type AdamUpdate,
  type SgdUpdate,
} from "../kernels/train-ops.js";
import { addInto, allFloat32, type FloatArray } from "../core/buffer.js";
import { checkProductShape, type Int8Matrix, type Int8Product } from "../kernels/int8.js";
import {
  egruStepArrays,
  egruStepCellCall,
  egruStepColumnsCall,
  i8StepFinishCall,
  i8StepPartCall,
  int8StepWeights,
  stepMacs,
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
  type EgruSeqBackwardArgs,
  type EgruSeqForwardArgs,
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
  type GruSeqBackwardArgs,
  type GruSeqForwardArgs,
} from "../kernels/gru-seq.js";
import {
  WASM_BASE64,
  WASM_MAXIMUM_PAGES,
  WASM_RELAXED_BASE64,
  WASM_RELAXED_SHARED_FLAG_AT,
  WASM_SHARED_FLAG_AT,
} from "./kernels-wasm.generated.js";

// ---------------------------------------------------------------------------------------------
// The parts of the WebAssembly JavaScript API used here (the project's TypeScript libraries do
// not declare it), reached through globalThis so a host without WebAssembly simply has none.

/** A WebAssembly.Memory. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** The kernel module's exports (addresses in bytes, sizes in elements, flags as 0/1). */
export interface KernelExports {
  heapBase(): number;
  scratchBytes(kind: number, d0: number, d1: number, d2: number): number;
  gemmNN(M: number, N: number, K: number, a: number, b: number, c: number, acc: number, scratch: number): void;
  gemmNT(M: number, N: number, K: number, a: number, b: number, c: number, acc: number, scratch: number): void;
  gemmTN(M: number, N: number, K: number, a: number, b: number, c: number, acc: number, scratch: number): void;
  eventGemmNN(B: number, N: number, H: number, y: number, R: number, q: number, acc: number, scratch: number): number;
  eventGemmTN(H: number, N: number, B: number, y: number, dq: number, dR: number, scratch: number): number;
  maskedGemmNT(
    B: number,
    H: number,
    N: number,
    dq: number,
    R: number,
    mask: number,
    out: number,
    scratch: number,
  ): number;
  egruStepScratch(I: number, H: number, n: number): number;
  egruStepColumns(...args: number[]): number;
  egruSeqForwardScratch(rows: number, H: number): number;
  egruSeqForward(...args: number[]): number;
  egruSeqBackwardScratch(rows: number, H: number): number;
  egruSeqBackward(...args: number[]): number;
  gruSeqForwardScratch(rows: number, H: number): number;
  gruSeqForward(...args: number[]): void;
  gruSeqBackwardScratch(rows: number, H: number): number;
  gruSeqBackward(...args: number[]): void;
  i8StepScratch(I: number, H: number): number;
  i8StepPart(...args: number[]): void;
  i8StepFinish(...args: number[]): void;
  i8FinishParts(
    K: number,
    N: number,
    scratch1: number,
    scratch2: number,
    sx: number,
    scales: number,
    perInput: number,
    q: number,
    acc: number,
  ): void;
  gemmNNi8(
    M: number,
    N: number,
    K: number,
    a: number,
    Q: number,
    scales: number,
    perInput: number,
    c: number,
    acc: number,
    scratch: number,
  ): number;
  egruCellForwardUnits(
    B: number,
    H: number,
    j0: number,
    j1: number,
    a: number,
    q: number,
    hPrev: number,
    trPrev: number,
    thr: number,
    keep: number,
    keepConst: number,
    alpha: number,
    y: number,
    h: number,
    o: number,
    tr: number,
    c: number,
    z: number,
    r: number,
    g: number,
    hr: number,
  ): void;
  egruCellBackward(
    B: number,
    H: number,
    dyUp: number,
    dhUp: number,
    doUp: number,
    dtrUp: number,
    dyRec: number,
    dhRec: number,
    dtrCarry: number,
    c: number,
    o: number,
    z: number,
    r: number,
    g: number,
    hr: number,
    hPrev: number,
    thr: number,
    keep: number,
    keepConst: number,
    alpha: number,
    gamma: number,
    support: number,
    dp: number,
    dq: number,
    dhNext: number,
    dthrRows: number,
  ): void;
  gruCellForward(
    B: number,
    H: number,
    a: number,
    q: number,
    hPrev: number,
    keep: number,
    keepConst: number,
    h: number,
    z: number,
    r: number,
    g: number,
    hr: number,
  ): void;
  gruCellBackward(
    B: number,
    H: number,
    dOut: number,
    dhRec: number,
    z: number,
    r: number,
    g: number,
    hr: number,
    hPrev: number,
    keep: number,
    keepConst: number,
    dp: number,
    dq: number,
    dhNext: number,
  ): void;
  lstmCellForward(
    B: number,
    H: number,
    P: number,
    cPrev: number,
    h: number,
    c: number,
    i: number,
    f: number,
    g: number,
    o: number,
    k: number,
  ): void;
  lstmCellBackward(
    B: number,
    H: number,
    dOut: number,
    dhRec: number,
    dcRec: number,
    i: number,
    f: number,
    g: number,
    o: number,
    k: number,
    cPrev: number,
    dP: number,
  ): void;
  softmaxRows(N: number, V: number, x: number, out: number, logZ: number, scale: number): void;
  addBiasRows(rows: number, cols: number, out: number, bias: number): void;
  sumRowsColumns(acc: number, m: number, rows: number, cols: number, c0: number, c1: number): void;
  transposeRows(rows: number, cols: number, src: number, dst: number, accumulate: number): void;
  transposeRowsBlock(
    rows: number,
    cols: number,
    src: number,
    dst: number,
    accumulate: number,
    r0: number,
    r1: number,
  ): void;
  egruReceiveMask(
    rows: number,
    H: number,
    o: number,
    c: number,
    thr: number,
    gamma: number,
    support: number,
    out: number,
  ): number;
  countNonzero(a: number, n: number): number;
  firstNonFinite(a: number, n: number): number;
  adamUpdate(
    w: number,
    g: number,
    m: number,
    v: number,
    n: number,
    b1: number,
    c1: number,
    b2: number,
    c2: number,
    eps: number,
    stepSize: number,
    bc2: number,
    shrink: number,
    wd: number,
    decoupled: number,
  ): void;
  sgdUpdate(w: number, g: number, buf: number, n: number, lr: number, wd: number, mu: number, first: number): void;
  addScaled(a: number, b: number, n: number, scale: number): void;
  sumSquaresChunks(a: number, n: number, out: number): void;
  countOutside(rows: number, H: number, x: number, thr: number, support: number): number;
}

interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  compile(bytes: Uint8Array): Promise<object>;
  instantiate(module: object, imports: object): Promise<{ exports: unknown }>;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (desc: { initial: number; maximum: number; shared?: boolean }) => WasmMemory;
}

function wasmApi(): WasmApi | undefined {
  return (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
}

/** The compiled module, its memory and exports: what a worker pool needs to run the same kernels. */
export interface WasmHandle {
  /** A WebAssembly.Module; instantiate it with `{ env: { memory } }`. */
  readonly module: object;
  readonly memory: WasmMemory;
  readonly exports: KernelExports;
  /** Whether the memory is shared (instances on other threads can use it). */
  readonly shared: boolean;
  /** Whether this is the relaxed-SIMD build of the kernels (fused multiply-add in the products). */
  readonly relaxed: boolean;
}

/** How a caller of egruStep makes the step's products (a = x·W + bx, q = y·R + br) itself. */
export interface EgruStepSplit {
  /** Float weights: the products; returns the MACs executed (egruStepColumns' result). */
  float(): number;
  /** Int8 weights: the products (i8StepPart, then i8StepFinish unless cell() does it). */
  int8(w: { W: Int8Matrix; R: Int8Matrix }): void;
  /**
   * Optional: the rest of the step after the products: the cell (egruCellForwardUnits over all units),
   * with int8 weights after the parts' finish (int8() then leaves that to this).
   */
  cell?(): void;
}

/** Kernels whose arrays can live in WebAssembly memory. */
export interface WasmKernels extends Kernels {
  /**
   * A zeroed Float32Array of n elements inside the kernels' memory (64-byte aligned) that kernel
   * calls use in place; with a non-shared memory, an ordinary array (calls copy it).
   */
  alloc(n: number, zeroed?: boolean): Float32Array;
  /** The same for an Int8Array of n elements (int8 weights kept resident). */
  allocInt8(n: number): Int8Array;
  /** Return an array from alloc() or allocInt8(); using it afterwards is an error. */
  free(a: Float32Array | Int8Array): void;
  /** Current size of the kernels' memory in bytes. */
  memoryBytes(): number;
  /** Whether `a` is a view into the kernels' (shared) memory, usable in place at a.byteOffset. */
  inMemory(a: FloatArray | Int8Array): boolean;
  readonly wasm: WasmHandle;
  addBiasRows(out: FloatArray, outOff: number, rows: number, cols: number, bias: FloatArray): void;
  sumRowsInto(acc: FloatArray, m: FloatArray, mOff: number, rows: number, cols: number): void;
  egruReceiveMask(args: ReceiveMaskArgs): number;
  /**
   * egruStep, with its products made by `split` where given (the threaded kernels: a and q with
   * their biases, over threads) instead of by one call here; the checks, the MAC count and the cell
   * stay here.
   */
  egruStep(s: EgruStepArgs, split?: EgruStepSplit): number;
  egruSeqForward<A extends FloatArray>(s: EgruSeqForwardArgs<A>): number;
  egruSeqBackward<A extends FloatArray>(s: EgruSeqBackwardArgs<A>): number;
  gruSeqForward<A extends FloatArray>(s: GruSeqForwardArgs<A>): boolean;
  gruSeqBackward<A extends FloatArray>(s: GruSeqBackwardArgs<A>): boolean;
  countNonzero(a: FloatArray, off: number, n: number): number;
  firstNonFinite(a: FloatArray, off: number, n: number): number;
  adamUpdate(u: AdamUpdate): void;
  sgdUpdate(u: SgdUpdate): void;
  addScaled(a: FloatArray, b: FloatArray, scale: number): void;
  sumSquares(a: FloatArray, off: number, n: number): number;
  transposeRows(rows: number, cols: number, src: FloatArray, dst: FloatArray, accumulate: boolean): void;
  countOutside(rows: number, H: number, x: FloatArray, off: number, thr: FloatArray, support: number): number;
}

export interface WasmKernelOptions {
  /** Initial memory in 64 KiB pages (default 256, 16 MiB). */
  initialPages?: number;
  /** Largest memory in pages (default 16384, 1 GiB; at most the module's 65536). */
  maximumPages?: number;
  /** Use a shared memory: default where SharedArrayBuffer exists; false forces a plain memory. */
  shared?: boolean;
  /**
   * The relaxed-SIMD build of the kernels (fused multiply-add in the float products, so results
   * differ from the SIMD build's in the last bits): true requires it (an error where the host lacks
   * relaxed SIMD), false takes the SIMD build, "auto" (default) decides by RELAXED_SIMD_DEFAULT where
   * the host has relaxed SIMD. The environment variable EGRU_RELAXED_SIMD=1 or 0, where the host has
   * one (Node), stands in for true or false when this option is not given (tests and benchmarks).
   */
  relaxedSimd?: boolean | "auto";
}

// ---------------------------------------------------------------------------------------------
// Feature detection

// A module with one function returning v128.const 0: valid exactly where SIMD is supported.
const SIMD_PROBE = new Uint8Array([
  0x00,
  0x61,
  0x73,
  0x6d,
  0x01,
  0x00,
  0x00,
  0x00, // magic, version
  0x01,
  0x05,
  0x01,
  0x60,
  0x00,
  0x01,
  0x7b, // type section: () -> v128
  0x03,
  0x02,
  0x01,
  0x00, // function section: one function of type 0
  0x0a,
  0x16,
  0x01,
  0x14,
  0x00,
  0xfd,
  0x0c, // code section: one body, no locals, v128.const
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0x0b, // end
]);

// The same module's function with three v128.const 0 and f32x4.relaxed_madd (0xfd 0x85 0x02)
// instead of one constant: valid exactly where relaxed SIMD is supported (Node ≥ 22; Node 20 only
// with --experimental-wasm-relaxed-simd).
const RELAXED_PROBE = new Uint8Array([
  ...SIMD_PROBE.slice(0, 19),
  0x0a,
  0x3d,
  0x01,
  0x3b,
  0x00,
  ...[0, 1, 2].flatMap(() => [0xfd, 0x0c, ...new Array<number>(16).fill(0)]),
  0xfd,
  0x85,
  0x02, // f32x4.relaxed_madd
  0x0b, // end
]);

let simdCache: boolean | undefined;
let relaxedCache: boolean | undefined;

/** Whether this host runs WebAssembly with SIMD (128-bit). */
export function simdSupported(): boolean {
  if (simdCache === undefined) {
    const api = wasmApi();
    try {
      simdCache = api !== undefined && api.validate(SIMD_PROBE);
    } catch {
      simdCache = false;
    }
  }
  return simdCache;
}

/** Whether this host runs WebAssembly relaxed SIMD (validates a module using f32x4.relaxed_madd). */
export function relaxedSimdSupported(): boolean {
  if (relaxedCache === undefined) {
    const api = wasmApi();
    try {
      relaxedCache = api !== undefined && simdSupported() && api.validate(RELAXED_PROBE);
    } catch {
      relaxedCache = false;
    }
  }
  return relaxedCache;
}

/**
 * Whether "auto" takes the relaxed-SIMD build where the host supports it. Set by measurement
 * (bench/relaxed-simd.ts, docs/benchmarks.md §1b): true only if the relaxed kernels measured faster.
 */
export const RELAXED_SIMD_DEFAULT = true;

/** EGRU_RELAXED_SIMD from the host's environment, where it has one: true for "1", false for "0". */
function relaxedFromEnv(): boolean | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const v = env?.EGRU_RELAXED_SIMD;
  if (v === "1") return true;
  if (v === "0") return false;
  if (v !== undefined && v !== "") throw new ValueError("EGRU_RELAXED_SIMD", '"1" or "0"', JSON.stringify(v));
  return undefined;
}

/** Whether to load the relaxed-SIMD build under these options (an error if it is required but missing). */
function useRelaxed(opts: WasmKernelOptions): boolean {
  const want = opts.relaxedSimd ?? relaxedFromEnv() ?? "auto";
  if (want === "auto") return RELAXED_SIMD_DEFAULT && relaxedSimdSupported();
  if (want && !relaxedSimdSupported()) {
    throw new StateError("relaxedSimd", "a host with WebAssembly relaxed SIMD (Node ≥ 22)", "none");
  }
  return want;
}

/**
 * The module's bytes for this memory kind and build: the shared-memory build as generated, or with
 * its memory import's limits flag made 0x01 (not shared, with a maximum), which is the whole
 * difference of the plain-memory build (scripts/build-wasm.mjs checks that).
 */
function moduleBytes(shared: boolean, relaxed: boolean): Uint8Array {
  const bytes = decodeBase64(relaxed ? WASM_RELAXED_BASE64 : WASM_BASE64);
  if (!shared) {
    const at = relaxed ? WASM_RELAXED_SHARED_FLAG_AT : WASM_SHARED_FLAG_AT;
    if (bytes[at] !== 0x03)
      throw new StateError("kernel module", "a shared memory import flag", `0x${bytes[at].toString(16)}`);
    bytes[at] = 0x01;
  }
  return bytes;
}

function decodeBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const PAGE = 65536;
const ALIGN = 64;
const alignUp = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

// ---------------------------------------------------------------------------------------------
// Allocator: first fit over an address-ordered free list, neighbours merged on free; the memory
// grows when nothing fits.

class Heap {
  private readonly free: { at: number; size: number }[] = [];
  private readonly used = new Map<number, number>();
  private top: number;

  constructor(
    private readonly memory: WasmMemory,
    base: number,
    private readonly maxPages: number,
    private readonly onGrow: () => void,
  ) {
    this.top = alignUp(base);
    const end = memory.buffer.byteLength;
    if (end > this.top) this.free.push({ at: this.top, size: end - this.top });
    this.top = Math.max(this.top, end);
  }

  /** Byte address of a new block of at least `bytes` bytes (64-byte aligned). */
  alloc(bytes: number): number {
    const size = alignUp(Math.max(bytes, 1));
    let i = this.free.findIndex((b) => b.size >= size);
    if (i < 0) {
      this.grow(size);
      i = this.free.findIndex((b) => b.size >= size);
    }
    const block = this.free[i];
    const at = block.at;
    if (block.size === size) this.free.splice(i, 1);
    else {
      block.at += size;
      block.size -= size;
    }
    this.used.set(at, size);
    return at;
  }

  /** Whether `at` is the address of a live block. */
  owns(at: number): boolean {
    return this.used.has(at);
  }

  release(at: number): void {
    const size = this.used.get(at);
    if (size === undefined) throw new StateError("free", "a live block", `address ${at}`);
    this.used.delete(at);
    let i = 0;
    while (i < this.free.length && this.free[i].at < at) i++;
    this.free.splice(i, 0, { at, size });
    const next = this.free[i + 1];
    if (next && at + size === next.at) {
      this.free[i].size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.at + prev.size === at) {
      prev.size += this.free[i].size;
      this.free.splice(i, 1);
    }
  }

  /** Grow the memory so a free block of `size` bytes ends at the top. */
  private grow(size: number): void {
    const last = this.free[this.free.length - 1];
    const tail = last && last.at + last.size === this.top ? last.size : 0;
    const pagesNow = this.top / PAGE;
    // at least what is missing, at least an eighth of the memory, to amortize growth
    const pages = Math.max(Math.ceil((size - tail) / PAGE), Math.ceil(pagesNow / 8));
    const room = this.maxPages - pagesNow;
    const grant = Math.min(pages, room);
    if (grant * PAGE + tail < size) {
      throw new StateError(
        "WebAssembly memory",
        `room for ${size} more bytes (maximum ${this.maxPages} pages)`,
        `${this.top} bytes in use or fragmented`,
      );
    }
    this.memory.grow(grant);
    if (tail > 0) last.size += grant * PAGE;
    else this.free.push({ at: this.top, size: grant * PAGE });
    this.top += grant * PAGE;
    this.onGrow();
  }
}

// ---------------------------------------------------------------------------------------------
// Kernel object

const KIND_GEMM = 0;
const KIND_EVENT_NN = 1;
const KIND_EVENT_TN = 2;
const KIND_MASKED_NT = 3;
const KIND_I8 = 5;

/** Floats of x per softmaxRows call (4 MiB): rows are processed in chunks of this size (the threaded kernels too). */
export const SOFTMAX_CHUNK = 1 << 20;

const IN = 1;
const OUT = 2;

/** An array a call can take: float operands, and the int8 values of int8 weights. */
type CallArray = FloatArray | Int8Array;

/** One array argument of a call: the array, its element offset and extent (elements), IN and/or OUT. */
type Operand = [a: CallArray, off: number, len: number, io: number, name: string];

/**
 * Operands of an export with optional (null) arrays: add() returns the index of the array's
 * address in the run's pointer list, or -1 for a null array, which at() turns into address 0.
 */
class OperandList {
  readonly ops: Operand[] = [];
  add(a: FloatArray | null, off: number, len: number, io: number, name: string): number {
    if (a === null) return -1;
    this.ops.push([a, off, len, io, name]);
    return this.ops.length - 1;
  }
  static at(p: number[], i: number): number {
    return i < 0 ? 0 : p[i];
  }
}

function checkDims(dims: number[]): void {
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError("size", "an integer ≥ 0", String(d));
  }
}

function checkExtent(o: Operand): void {
  const [a, off, len, , name] = o;
  if (!Number.isInteger(off) || off < 0 || off + len > a.length) {
    throw new ShapeError(
      name,
      `${off + len} elements (offset ${off} + ${len})`,
      `an array of length ${a.length} and offset ${off}`,
    );
  }
}

class WasmKernelsImpl implements WasmKernels {
  readonly name = "wasm-simd";
  // bench/kernels.bench.ts: eventGemmNN beats gemmNN up to 66–73 % activity at B = 64 and at
  // every activity at B = 1 (H 256–2048); 0.6 keeps a margin for other machines
  readonly eventCrossover = 0.6;
  readonly wasm: WasmHandle;
  private readonly ex: KernelExports;
  private readonly heap: Heap;
  /** Every buffer object of the shared memory handed out so far (a grown memory has a new one). */
  private readonly buffers = new WeakSet<object>();
  private f32!: Float32Array;
  private i8!: Int8Array;
  /**
   * The work region run() stages operands in: one object that kernels derived from these (for example
   * Object.create(kernels) with another crossover, as createThreadedKernels(base, 1) makes) share
   * through the prototype. As two fields on `this`, a derived object's run() that grew the region
   * would set its own copies and free the block these still use.
   */
  private readonly workRegion = { at: 0, bytes: 0 };

  constructor(handle: WasmHandle, maxPages: number) {
    this.wasm = handle;
    this.ex = handle.exports;
    this.refresh();
    this.heap = new Heap(handle.memory, this.ex.heapBase(), maxPages, () => this.refresh());
  }

  private refresh(): void {
    const buffer = this.wasm.memory.buffer;
    if (this.wasm.shared) this.buffers.add(buffer);
    this.f32 = new Float32Array(buffer);
    this.i8 = new Int8Array(buffer);
  }

  private isView(a: CallArray): boolean {
    return this.wasm.shared && this.buffers.has(a.buffer);
  }

  inMemory(a: FloatArray | Int8Array): boolean {
    return (a instanceof Float32Array || a instanceof Int8Array) && this.isView(a);
  }

  alloc(n: number, zeroed = true): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new ValueError("n", "an integer ≥ 0", String(n));
    if (!this.wasm.shared) return new Float32Array(n);
    const at = this.heap.alloc(n * 4);
    if (zeroed) this.f32.fill(0, at >>> 2, (at >>> 2) + n);
    return new Float32Array(this.f32.buffer, at, n);
  }

  allocInt8(n: number): Int8Array {
    if (!Number.isInteger(n) || n < 0) throw new ValueError("n", "an integer ≥ 0", String(n));
    if (!this.wasm.shared) return new Int8Array(n);
    const at = this.heap.alloc(n);
    this.i8.fill(0, at, at + n);
    return new Int8Array(this.i8.buffer, at, n);
  }

  free(a: Float32Array | Int8Array): void {
    if (!this.wasm.shared) return;
    if (!this.isView(a) || !this.heap.owns(a.byteOffset)) {
      throw new ValueError("a", "an array returned by alloc() and not yet freed", "another array");
    }
    this.heap.release(a.byteOffset);
  }

  memoryBytes(): number {
    return this.wasm.memory.buffer.byteLength;
  }

  /**
   * Run one export: place every operand (in place, or copied into the work region), give the
   * export the addresses and `scratch` bytes of scratch after them, copy outputs back.
   */
  private run(ops: Operand[], scratch: number, call: (ptr: number[], scratchAt: number) => number): number {
    let staged = 0;
    for (const o of ops) {
      checkExtent(o);
      if (!this.isView(o[0])) staged += alignUp(o[2] * o[0].BYTES_PER_ELEMENT);
    }
    const need = staged + alignUp(scratch >>> 0); // the export returns a u32 as i32
    const work = this.workRegion;
    if (need > work.bytes) {
      if (work.bytes > 0) this.heap.release(work.at);
      work.bytes = Math.max(need, Math.ceil(work.bytes * 1.5));
      work.at = this.heap.alloc(work.bytes);
    }
    const f32 = this.f32;
    const ptr: number[] = [];
    let next = work.at;
    for (const [a, off, len, io] of ops) {
      const size = a.BYTES_PER_ELEMENT;
      if (this.isView(a)) {
        ptr.push(a.byteOffset + off * size);
        continue;
      }
      ptr.push(next);
      if (io & IN) {
        if (a instanceof Int8Array) this.i8.set(a.subarray(off, off + len), next);
        else f32.set(a.subarray(off, off + len), next >>> 2);
      }
      next += alignUp(len * size);
    }
    const result = call(ptr, next);
    ops.forEach(([a, off, len, io], i) => {
      // (outputs are float32: the int8 values are only ever read)
      if (io & OUT && !this.isView(a)) (a as FloatArray).set(f32.subarray(ptr[i] >>> 2, (ptr[i] >>> 2) + len), off);
    });
    return result;
  }

  private gemm(
    which: "gemmNN" | "gemmNT" | "gemmTN",
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
  ): void {
    if (!(A instanceof Float32Array && B instanceof Float32Array && C instanceof Float32Array) || M * N * K === 0) {
      jsKernels[which](M, N, K, A, aOff, B, bOff, C, cOff, accumulate);
      return;
    }
    checkDims([M, N, K]);
    const ops: Operand[] = [
      [A, aOff, M * K, IN, "A"],
      [B, bOff, K * N, IN, "B"],
      [C, cOff, M * N, accumulate ? IN | OUT : OUT, "C"],
    ];
    this.run(ops, this.ex.scratchBytes(KIND_GEMM, M, N, K), (p, s) => {
      this.ex[which](M, N, K, p[0], p[1], p[2], accumulate ? 1 : 0, s);
      return 0;
    });
  }

  gemmNN(
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
  ): void {
    this.gemm("gemmNN", M, N, K, A, aOff, B, bOff, C, cOff, accumulate);
  }

  gemmNT(
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
  ): void {
    this.gemm("gemmNT", M, N, K, A, aOff, B, bOff, C, cOff, accumulate);
  }

  gemmTN(
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
  ): void {
    this.gemm("gemmTN", M, N, K, A, aOff, B, bOff, C, cOff, accumulate);
  }

  eventGemmNN(
    B: number,
    N: number,
    H: number,
    y: FloatArray,
    yOff: number,
    R: FloatArray,
    rOff: number,
    q: FloatArray,
    qOff: number,
    accumulate: boolean,
  ): number {
    if (!(y instanceof Float32Array && R instanceof Float32Array && q instanceof Float32Array) || B * N * H === 0) {
      return jsKernels.eventGemmNN(B, N, H, y, yOff, R, rOff, q, qOff, accumulate);
    }
    checkDims([B, N, H]);
    const ops: Operand[] = [
      [y, yOff, B * H, IN, "y"],
      [R, rOff, H * N, IN, "R"],
      [q, qOff, B * N, accumulate ? IN | OUT : OUT, "q"],
    ];
    const events = this.run(ops, this.ex.scratchBytes(KIND_EVENT_NN, B, H, 0), (p, s) =>
      this.ex.eventGemmNN(B, N, H, p[0], p[1], p[2], accumulate ? 1 : 0, s),
    );
    return events * N;
  }

  eventGemmTN(
    H: number,
    N: number,
    B: number,
    y: FloatArray,
    yOff: number,
    dq: FloatArray,
    dqOff: number,
    dR: FloatArray,
    dROff: number,
  ): number {
    if (!(y instanceof Float32Array && dq instanceof Float32Array && dR instanceof Float32Array) || B * N * H === 0) {
      return jsKernels.eventGemmTN(H, N, B, y, yOff, dq, dqOff, dR, dROff);
    }
    checkDims([H, N, B]);
    const ops: Operand[] = [
      [y, yOff, B * H, IN, "y"],
      [dq, dqOff, B * N, IN, "dq"],
      [dR, dROff, H * N, IN | OUT, "dR"],
    ];
    const events = this.run(ops, this.ex.scratchBytes(KIND_EVENT_TN, B, H, 0), (p, s) =>
      this.ex.eventGemmTN(H, N, B, p[0], p[1], p[2], s),
    );
    return events * N;
  }

  /** C[M,N] (+)= A[M,K]·W on int8 weights (one export for both int8 products); returns the MACs executed. */
  readonly gemmNNi8: Int8Product = (M, N, K, A, aOff, W, C, cOff, accumulate) => {
    checkProductShape(W, K, N);
    if (!(A instanceof Float32Array && C instanceof Float32Array) || M * N * K === 0) {
      return jsKernels.gemmNNi8(M, N, K, A, aOff, W, C, cOff, accumulate);
    }
    checkDims([M, N, K]);
    const perInput = W.axis === "input";
    const ops: Operand[] = [
      [A, aOff, M * K, IN, "A"],
      [W.values, 0, K * N, IN, "W.values"],
      [W.scales, 0, perInput ? K : N, IN, "W.scales"],
      [C, cOff, M * N, accumulate ? IN | OUT : OUT, "C"],
    ];
    const nonzeros = this.run(ops, this.ex.scratchBytes(KIND_I8, K, N, 0), (p, s) =>
      this.ex.gemmNNi8(M, N, K, p[0], p[1], p[2], perInput ? 1 : 0, p[3], accumulate ? 1 : 0, s),
    );
    return nonzeros * N;
  };

  readonly eventGemmNNi8: Int8Product = this.gemmNNi8;

  maskedGemmNT(
    B: number,
    H: number,
    N: number,
    dq: FloatArray,
    dqOff: number,
    R: FloatArray,
    rOff: number,
    mask: FloatArray,
    maskOff: number,
    out: FloatArray,
    outOff: number,
  ): number {
    const f32 =
      dq instanceof Float32Array &&
      R instanceof Float32Array &&
      mask instanceof Float32Array &&
      out instanceof Float32Array;
    if (!f32 || B * N * H === 0) return jsKernels.maskedGemmNT(B, H, N, dq, dqOff, R, rOff, mask, maskOff, out, outOff);
    checkDims([B, H, N]);
    const ops: Operand[] = [
      [dq, dqOff, B * N, IN, "dq"],
      [R, rOff, H * N, IN, "R"],
      [mask, maskOff, B * H, IN, "mask"],
      [out, outOff, B * H, OUT, "out"],
    ];
    const active = this.run(ops, this.ex.scratchBytes(KIND_MASKED_NT, B, H, 0), (p, s) =>
      this.ex.maskedGemmNT(B, H, N, p[0], p[1], p[2], p[3], s),
    );
    return active * N;
  }

  softmaxRows: SoftmaxRows = (N, V, x, xOff, out, outOff, scale, logZ, logZOff) => {
    if (!allFloat32(x, logZ) || (out !== null && !allFloat32(out)) || N * V === 0) {
      jsKernels.softmaxRows(N, V, x, xOff, out, outOff, scale, logZ, logZOff);
      return;
    }
    checkDims([N, V]);
    // chunks of rows of at most SOFTMAX_CHUNK floats, so the copies of arrays outside the memory stay small
    const per = Math.max(1, Math.floor(SOFTMAX_CHUNK / V));
    for (let n0 = 0; n0 < N; n0 += per) {
      const rows = Math.min(per, N - n0);
      const l = new OperandList();
      const xi = l.add(x, xOff + n0 * V, rows * V, IN, "x");
      const oi = l.add(out, outOff + n0 * V, rows * V, OUT, "out");
      const zi = l.add(logZ, logZOff + n0, rows, OUT, "logZ");
      const at = OperandList.at;
      this.run(l.ops, 0, (p) => {
        this.ex.softmaxRows(rows, V, at(p, xi), at(p, oi), at(p, zi), scale);
        return 0;
      });
    }
  };

  addBiasRows(out: FloatArray, outOff: number, rows: number, cols: number, bias: FloatArray): void {
    // in WebAssembly where out is in its memory (copying it in and out would cost what the adds do)
    if (!allFloat32(out, bias) || !this.isView(out) || rows * cols === 0) {
      addBiasRows(out, outOff, rows, cols, bias);
      return;
    }
    checkDims([rows, cols]);
    const ops: Operand[] = [
      [out, outOff, rows * cols, IN | OUT, "out"],
      [bias, 0, cols, IN, "bias"],
    ];
    this.run(ops, 0, (p) => {
      this.ex.addBiasRows(rows, cols, p[0], p[1]);
      return 0;
    });
  }

  transposeRows(rows: number, cols: number, src: FloatArray, dst: FloatArray, accumulate: boolean): void {
    if (!allFloat32(src, dst) || rows * cols === 0) {
      transposeRowsTs(rows, cols, src, dst, accumulate);
      return;
    }
    checkDims([rows, cols]);
    const ops: Operand[] = [
      [src, 0, rows * cols, IN, "src"],
      [dst, 0, rows * cols, accumulate ? IN | OUT : OUT, "dst"],
    ];
    this.run(ops, 0, (p) => {
      this.ex.transposeRows(rows, cols, p[0], p[1], accumulate ? 1 : 0);
      return 0;
    });
  }

  sumRowsInto(acc: FloatArray, m: FloatArray, mOff: number, rows: number, cols: number): void {
    if (!allFloat32(acc, m) || !this.isView(m) || rows * cols === 0) {
      sumRowsInto(acc, m, mOff, rows, cols);
      return;
    }
    checkDims([rows, cols]);
    const ops: Operand[] = [
      [acc, 0, cols, IN | OUT, "acc"],
      [m, mOff, rows * cols, IN, "m"],
    ];
    this.run(ops, 0, (p) => {
      this.ex.sumRowsColumns(p[0], p[1], rows, cols, 0, cols);
      return 0;
    });
  }

  egruReceiveMask(args: ReceiveMaskArgs): number {
    const { rows, H, o, c, off, thr, event, out, outOff } = args;
    const n = rows * H;
    if (!receiveMaskApplies(args) || n === 0) return -1;
    checkDims([rows, H]);
    const ops: Operand[] = [
      [o, off, n, IN, "o"],
      [c, off, n, IN, "c"],
      [thr, 0, H, IN, "thr"],
      [out, outOff, n, OUT, "out"],
    ];
    return this.run(ops, 0, (p) =>
      this.ex.egruReceiveMask(rows, H, p[0], p[1], p[2], event.gamma ?? 0, event.support ?? 0, p[3]),
    );
  }

  countNonzero(a: FloatArray, off: number, n: number): number {
    if (!(a instanceof Float32Array) || n === 0) return countNonzero(a, off, n);
    checkDims([n]);
    return this.run([[a, off, n, IN, "a"]], 0, (p) => this.ex.countNonzero(p[0], n));
  }

  firstNonFinite(a: FloatArray, off: number, n: number): number {
    if (!(a instanceof Float32Array) || n === 0) return firstNonFinite(a, off, n);
    checkDims([n]);
    return this.run([[a, off, n, IN, "a"]], 0, (p) => this.ex.firstNonFinite(p[0], n));
  }

  adamUpdate(u: AdamUpdate): void {
    const n = u.w.length;
    if (n === 0) return adamUpdate(u);
    const ops = updateOperands(n, [u.w, u.g, u.m, u.v], ["w", "g", "m", "v"]);
    this.run(ops, 0, (p) => {
      const [w, g, m, v] = p;
      const { b1, b2 } = u;
      this.ex.adamUpdate(w, g, m, v, n, b1, 1 - b1, b2, 1 - b2, u.eps, u.stepSize, u.bc2, u.shrink, u.wd, +u.decoupled);
      return 0;
    });
  }

  sgdUpdate(u: SgdUpdate): void {
    const n = u.w.length;
    if (n === 0) return sgdUpdate(u);
    const ops = updateOperands(n, u.buf ? [u.w, u.g, u.buf] : [u.w, u.g], ["w", "g", "buf"]);
    this.run(ops, 0, (p) => {
      this.ex.sgdUpdate(p[0], p[1], p[2] ?? 0, n, u.lr, u.wd, u.mu, +u.first);
      return 0;
    });
  }

  addScaled(a: FloatArray, b: FloatArray, scale: number): void {
    const n = a.length;
    if (!(a instanceof Float32Array && b instanceof Float32Array) || n === 0) return addInto(a, b, scale);
    this.run(updateOperands(n, [a, b], ["a", "b"]), 0, (p) => {
      this.ex.addScaled(p[0], p[1], n, scale);
      return 0;
    });
  }

  sumSquares(a: FloatArray, off: number, n: number): number {
    if (!(a instanceof Float32Array) || n === 0) return sumSquares(a, off, n);
    checkDims([n]);
    const chunks = Math.ceil(n / SQUARES_CHUNK);
    let total = 0;
    this.run([[a, off, n, IN, "a"]], chunks * 8, (p, s) => {
      this.ex.sumSquaresChunks(p[0], n, s);
      total = addInOrder(new Float64Array(this.wasm.memory.buffer, s, chunks));
      return 0;
    });
    return total;
  }

  countOutside(rows: number, H: number, x: FloatArray, off: number, thr: FloatArray, support: number): number {
    if (!allFloat32(x, thr) || rows * H === 0) return countOutside(rows, H, x, off, thr, support);
    checkDims([rows, H]);
    const ops: Operand[] = [
      [x, off, rows * H, IN, "x"],
      [thr, 0, H, IN, "thr"],
    ];
    return this.run(ops, 0, (p) => this.ex.countOutside(rows, H, p[0], p[1], support));
  }

  /**
   * One cell export: the TypeScript kernel (`fallback`) where the WebAssembly one does not apply
   * (`applies` false: a Float64Array operand, another event function) and for empty steps; else
   * `operands` adds the call's arrays to the list (used in place or copied, as run() does) and
   * returns the export's call, given each operand's address (`at(i)`, 0 for an absent array).
   */
  private cell(
    B: number,
    H: number,
    applies: boolean,
    fallback: () => void,
    operands: (l: OperandList, n: number) => (at: (i: number) => number) => void,
  ): void {
    if (!applies || B * H === 0) {
      fallback();
      return;
    }
    checkDims([B, H]);
    const l = new OperandList();
    const call = operands(l, B * H);
    this.run(l.ops, 0, (p) => {
      call((i) => OperandList.at(p, i));
      return 0;
    });
  }

  egruStep(s: EgruStepArgs, split?: EgruStepSplit): number {
    if (!egruStepArrays(s).every((a) => this.isView(a))) return -1;
    checkDims([s.I, s.H]);
    const G = 3 * s.H;
    const w8 = int8StepWeights(s);
    let executed: number;
    if (w8) {
      const nx = this.ex.countNonzero(s.x.byteOffset, s.I);
      executed = stepMacs(s, this.eventCrossover, nx, this.ex.countNonzero(s.y.byteOffset, s.H));
      if (split) split.int8(w8);
      else
        this.run([], this.ex.i8StepScratch(s.I, s.H), (_, scratch) => {
          this.ex.i8StepPart(...i8StepPartCall(s, w8, 0, 1, scratch));
          this.ex.i8StepFinish(...i8StepFinishCall(s, w8, scratch, 0));
          return 0;
        });
    } else
      executed = split
        ? split.float()
        : this.run([], this.ex.egruStepScratch(s.I, s.H, G), (_, scratch) =>
            this.ex.egruStepColumns(...egruStepColumnsCall(s, this.eventCrossover, 0, G, scratch)),
          );
    if (split?.cell) split.cell();
    else
      this.ex.egruCellForwardUnits(
        ...(egruStepCellCall(s, 0, s.H) as Parameters<KernelExports["egruCellForwardUnits"]>),
      );
    return executed;
  }

  egruSeqForward<A extends FloatArray>(s: EgruSeqForwardArgs<A>): number {
    if (!seqForwardApplies(s) || !seqForwardResident(s).every((a) => this.isView(a))) return -1;
    checkDims([s.T, s.B, s.H]);
    const qBytes = alignUp(s.B * 3 * s.H * 4);
    const macs = this.runSeq(seqForwardOperands(s), qBytes + (this.ex.egruSeqForwardScratch(s.B, s.H) >>> 0), (p, at) =>
      this.ex.egruSeqForward(...egruSeqForwardCall(s, p, this.eventCrossover, 0, s.B, at, at + qBytes)),
    );
    return macs ?? -1;
  }

  egruSeqBackward<A extends FloatArray>(s: EgruSeqBackwardArgs<A>): number {
    if (!seqBackwardApplies(s) || !seqBackwardResident(s).every((a) => this.isView(a))) return -1;
    checkDims([s.T, s.B, s.H]);
    const macs = this.runSeq(seqBackwardOperands(s), this.ex.egruSeqBackwardScratch(s.B, s.H) >>> 0, (p, at) =>
      this.ex.egruSeqBackward(...egruSeqBackwardCall(s, p, this.eventCrossover, 0, s.B, at)),
    );
    return macs ?? -1;
  }

  gruSeqForward<A extends FloatArray>(s: GruSeqForwardArgs<A>): boolean {
    if (!gruSeqForwardApplies(s) || !gruSeqForwardResident(s).every((a) => this.isView(a))) return false;
    checkDims([s.T, s.B, s.H]);
    const qBytes = alignUp(s.B * 3 * s.H * 4);
    const ran = this.runSeq(
      gruSeqForwardOperands(s),
      qBytes + (this.ex.gruSeqForwardScratch(s.B, s.H) >>> 0),
      (p, at) => {
        this.ex.gruSeqForward(...gruSeqForwardCall(s, p, 0, s.B, at, at + qBytes));
        return 0;
      },
    );
    return ran !== null;
  }

  gruSeqBackward<A extends FloatArray>(s: GruSeqBackwardArgs<A>): boolean {
    if (!gruSeqBackwardApplies(s) || !gruSeqBackwardResident(s).every((a) => this.isView(a))) return false;
    checkDims([s.T, s.B, s.H]);
    const ran = this.runSeq(gruSeqBackwardOperands(s), this.ex.gruSeqBackwardScratch(s.B, s.H) >>> 0, (p, at) => {
      this.ex.gruSeqBackward(...gruSeqBackwardCall(s, p, 0, s.B, at));
      return 0;
    });
    return ran !== null;
  }

  /**
   * run() over a time loop's operands (absent ones at address 0). Those outside the memory (a
   * sequence's upstream gradients, small states) are copied into blocks of their own for the call
   * and freed after it — growing the lasting work region to a sequence-long copy instead left holes
   * that later allocations could not use — and only where the memory has room for them: null where it
   * has not (nothing ran; the caller makes the step loop's calls, whose copies are a step's).
   */
  private runSeq(
    operands: SeqOperand[],
    scratch: number,
    call: (p: number[], scratchAt: number) => number,
  ): number | null {
    const staged: [outside: Float32Array, copy: Float32Array, written: boolean][] = [];
    try {
      const l = new OperandList();
      const index: number[] = [];
      for (const [a, len, read, written, name] of operands) {
        let v = a;
        if (a !== null && !this.isView(a)) {
          if (!(a instanceof Float32Array) || a.length < len)
            throw new ShapeError(name, `a float32 array of at least ${len} elements`, `${a.length}`);
          try {
            v = this.alloc(len, false);
          } catch (e) {
            if (e instanceof StateError) return null;
            throw e;
          }
          staged.push([a, v, written]);
          if (read) v.set(a.subarray(0, len));
        }
        index.push(l.add(v, 0, len, (read ? IN : 0) | (written ? OUT : 0), name));
      }
      const result = this.run(l.ops, scratch, (p, at) =>
        call(
          index.map((i) => OperandList.at(p, i)),
          at,
        ),
      );
      for (const [a, v, written] of staged) if (written) a.set(v);
      return result;
    } finally {
      for (const [, v] of staged) this.free(v);
    }
  }

  egruCellForward<A extends FloatArray>(args: CellForwardArgs<A>): void {
    const { B, H, out, outOff } = args;
    const { tape } = out;
    this.cell(
      B,
      H,
      forwardInFloat32(args),
      () => jsKernels.egruCellForward(args),
      (l, n) => {
        const ins = [
          l.add(args.a, args.aOff, 3 * n, IN, "a"),
          l.add(args.q, args.qOff, 3 * n, IN, "q"),
          l.add(args.hPrev, args.hPrevOff, n, IN, "hPrev"),
          l.add(args.trPrev, args.trPrevOff, n, IN, "trPrev"),
          l.add(args.thr, 0, H, IN, "thr"),
          l.add(args.keep, args.keepOff, n, IN, "keep"),
        ];
        const outs = [
          ...(["y", "h", "o", "tr"] as const).map((k) => l.add(out[k], outOff, n, OUT, k)),
          ...(["c", "z", "r", "g", "hr"] as const).map((k) => l.add(tape[k], outOff, n, OUT, `tape.${k}`)),
        ];
        return (at) => {
          const [a, q, hp, tp, thr, keep] = ins.map(at);
          const [y, h, o, tr, c, z, r, g, hr] = outs.map(at);
          this.ex.egruCellForwardUnits(
            B,
            H,
            0,
            H,
            a,
            q,
            hp,
            tp,
            thr,
            keep,
            args.keepConst,
            args.alpha,
            y,
            h,
            o,
            tr,
            c,
            z,
            r,
            g,
            hr,
          );
        };
      },
    );
  }

  egruCellBackward<A extends FloatArray>(args: CellBackwardArgs<A>): void {
    const { B, H, event, up, tape, off } = args;
    const gamma = event.gamma ?? 0;
    const support = event.support ?? 0;
    const applies = backwardInFloat32(args);
    this.cell(
      B,
      H,
      applies,
      () => jsKernels.egruCellBackward(args),
      (l, n) => {
        const ins = [
          ...(["dy", "dh", "do", "dtr"] as const).map((k) => l.add(up[k], off, n, IN, `upstream.${k}`)),
          l.add(args.dyRec, 0, n, IN, "dyRec"),
          l.add(args.dhRec, 0, n, IN, "dhRec"),
          l.add(args.dtrCarry, 0, n, IN | OUT, "dtrCarry"),
          l.add(tape.c, off, n, IN, "tape.c"),
          l.add(args.o, off, n, IN, "o"),
          ...GATE_TAPE.map((k) => l.add(tape[k], off, n, IN, `tape.${k}`)),
          l.add(args.hPrev, args.hPrevOff, n, IN, "hPrev"),
          l.add(args.thr, 0, H, IN, "thr"),
          l.add(args.keep, args.keepOff, n, IN, "keep"),
        ];
        const outs = [
          l.add(args.dp, args.dOff, 3 * n, OUT, "dp"),
          l.add(args.dq, args.dOff, 3 * n, OUT, "dq"),
          l.add(args.dhNext, 0, n, OUT, "dhNext"),
          l.add(args.dthrRows, 0, n, IN | OUT, "dthrRows"),
        ];
        return (at) => {
          const [dy, dh, dO, dtr, dyRec, dhRec, carry, c, o, z, r, g, hr, hp, thr, keep] = ins.map(at);
          const [dp, dq, dhNext, dthrRows] = outs.map(at);
          const { keepConst, alpha } = args;
          this.ex.egruCellBackward(
            B,
            H,
            dy,
            dh,
            dO,
            dtr,
            dyRec,
            dhRec,
            carry,
            c,
            o,
            z,
            r,
            g,
            hr,
            hp,
            thr,
            keep,
            keepConst,
            alpha,
            gamma,
            support,
            dp,
            dq,
            dhNext,
            dthrRows,
          );
        };
      },
    );
  }

  gruCellForward<A extends FloatArray>(args: GruCellForwardArgs<A>): void {
    const { B, H, out, outOff } = args;
    this.cell(
      B,
      H,
      gruForwardInFloat32(args),
      () => jsKernels.gruCellForward(args),
      (l, n) => {
        const ins = [
          l.add(args.a, args.aOff, 3 * n, IN, "a"),
          l.add(args.q, args.qOff, 3 * n, IN, "q"),
          l.add(args.hPrev, args.hPrevOff, n, IN, "hPrev"),
          l.add(args.keep, args.keepOff, n, IN, "keep"),
        ];
        const outs = [
          l.add(out.h, outOff, n, OUT, "h"),
          ...GATE_TAPE.map((k) => l.add(out.tape[k], outOff, n, OUT, `tape.${k}`)),
        ];
        return (at) => {
          const [a, q, hp, keep] = ins.map(at);
          const [h, z, r, g, hr] = outs.map(at);
          this.ex.gruCellForward(B, H, a, q, hp, keep, args.keepConst, h, z, r, g, hr);
        };
      },
    );
  }

  gruCellBackward<A extends FloatArray>(args: GruCellBackwardArgs<A>): void {
    const { B, H, tape, off } = args;
    const arrays = [args.dOut, tape.z, tape.r, tape.g, tape.hr, args.hPrev, args.keep, args.dhRec];
    const applies = allFloat32(...arrays, args.dhNext, args.dp, args.dq);
    this.cell(
      B,
      H,
      applies,
      () => jsKernels.gruCellBackward(args),
      (l, n) => {
        const ins = [
          l.add(args.dOut, off, n, IN, "dOut"),
          l.add(args.dhRec, 0, n, IN, "dhRec"),
          ...GATE_TAPE.map((k) => l.add(tape[k], off, n, IN, `tape.${k}`)),
          l.add(args.hPrev, args.hPrevOff, n, IN, "hPrev"),
          l.add(args.keep, args.keepOff, n, IN, "keep"),
        ];
        const outs = [
          l.add(args.dp, args.dOff, 3 * n, OUT, "dp"),
          l.add(args.dq, args.dOff, 3 * n, OUT, "dq"),
          l.add(args.dhNext, 0, n, OUT, "dhNext"),
        ];
        return (at) => {
          const [dOut, dhRec, z, r, g, hr, hp, keep] = ins.map(at);
          const [dp, dq, dhNext] = outs.map(at);
          this.ex.gruCellBackward(B, H, dOut, dhRec, z, r, g, hr, hp, keep, args.keepConst, dp, dq, dhNext);
        };
      },
    );
  }

  lstmCellForward<A extends FloatArray>(args: LstmCellForwardArgs<A>): void {
    const { B, H, out, outOff } = args;
    this.cell(
      B,
      H,
      lstmForwardInFloat32(args),
      () => jsKernels.lstmCellForward(args),
      (l, n) => {
        const ins = [l.add(args.P, args.pOff, 4 * n, IN, "P"), l.add(args.cPrev, args.cPrevOff, n, IN, "cPrev")];
        const outs = [
          l.add(out.h, outOff, n, OUT, "h"),
          l.add(out.c, outOff, n, OUT, "c"),
          ...LSTM_TAPE.map((k) => l.add(out.tape[k], outOff, n, OUT, `tape.${k}`)),
        ];
        return (at) => {
          const [P, cp] = ins.map(at);
          const [h, c, i, f, g, o, k] = outs.map(at);
          this.ex.lstmCellForward(B, H, P, cp, h, c, i, f, g, o, k);
        };
      },
    );
  }

  lstmCellBackward<A extends FloatArray>(args: LstmCellBackwardArgs<A>): void {
    const { B, H, tape, off } = args;
    const arrays = [args.dOut, tape.i, tape.f, tape.g, tape.o, tape.k, args.cPrev, args.dhRec, args.dcRec, args.dP];
    this.cell(
      B,
      H,
      allFloat32(...arrays),
      () => jsKernels.lstmCellBackward(args),
      (l, n) => {
        const ins = [
          l.add(args.dOut, off, n, IN, "dOut"),
          l.add(args.dhRec, 0, n, IN, "dhRec"),
          l.add(args.dcRec, 0, n, IN | OUT, "dcRec"),
          ...LSTM_TAPE.map((k) => l.add(tape[k], off, n, IN, `tape.${k}`)),
          l.add(args.cPrev, args.cPrevOff, n, IN, "cPrev"),
        ];
        const dP = l.add(args.dP, args.dOff, 4 * n, OUT, "dP");
        return (at) => {
          const [dOut, dhRec, dcRec, i, f, g, o, k, cp] = ins.map(at);
          this.ex.lstmCellBackward(B, H, dOut, dhRec, dcRec, i, f, g, o, k, cp, at(dP));
        };
      },
    );
  }
}

/** Σ of the chunks' sums in order, as sumSquares (kernels/train-ops.ts) adds them. */
export function addInOrder(sums: Float64Array): number {
  let total = 0;
  for (let i = 0; i < sums.length; i++) total += sums[i];
  return total;
}

/** The operands of an optimizer update: n elements each, the gradient (second) read, the others read and written. */
function updateOperands(n: number, arrays: Float32Array[], names: string[]): Operand[] {
  return arrays.map((a, i) => [a, 0, n, i === 1 ? IN : IN | OUT, names[i]]);
}

/** Whether the WebAssembly receive mask computes this one: float32 arrays and the Heaviside event with its triangle. */
export function receiveMaskApplies(args: ReceiveMaskArgs): boolean {
  const { event } = args;
  return (
    event.kind === "heaviside" &&
    event.gamma !== undefined &&
    event.support !== undefined &&
    allFloat32(args.o, args.c, args.thr, args.out)
  );
}

/** The gates' tape fields, in the order the GRU exports take them. */
const GATE_TAPE = ["z", "r", "g", "hr"] as const;
/** The LSTM tape's fields, in the order its exports take them. */
const LSTM_TAPE = ["i", "f", "g", "o", "k"] as const;

// ---------------------------------------------------------------------------------------------
// Loading

function canShare(): boolean {
  return typeof SharedArrayBuffer === "function";
}

/** The memory the kernels run on (shared where the host allows it) and its page limits, checked. */
function kernelMemory(api: WasmApi, opts: WasmKernelOptions): { memory: WasmMemory; shared: boolean; maximum: number } {
  const initial = opts.initialPages ?? 256;
  const maximum = opts.maximumPages ?? 16384;
  if (!Number.isInteger(maximum) || maximum < 1 || maximum > WASM_MAXIMUM_PAGES) {
    throw new ValueError("maximumPages", `an integer in [1, ${WASM_MAXIMUM_PAGES}]`, String(maximum));
  }
  if (!Number.isInteger(initial) || initial < 1 || initial > maximum) {
    throw new ValueError("initialPages", `an integer in [1, maximumPages = ${maximum}]`, String(initial));
  }
  let memory: WasmMemory | null = null;
  if (opts.shared ?? canShare()) {
    try {
      memory = new api.Memory({ initial, maximum, shared: true });
    } catch {
      memory = null; // e.g. a page that is not cross-origin isolated: use a plain memory
    }
  }
  const shared = memory !== null;
  return { memory: memory ?? new api.Memory({ initial, maximum }), shared, maximum };
}

/**
 * Compile and instantiate the kernels. Resolves to null where WebAssembly SIMD is missing; the
 * TypeScript kernels (jsKernels) serve there.
 */
export async function loadWasmKernels(opts: WasmKernelOptions = {}): Promise<WasmKernels | null> {
  const api = wasmApi();
  if (!api || !simdSupported()) return null;
  const relaxed = useRelaxed(opts);
  const { memory, shared, maximum } = kernelMemory(api, opts);
  const module = await api.compile(moduleBytes(shared, relaxed));
  const instance = await api.instantiate(module, { env: { memory } });
  const handle: WasmHandle = { module, memory, exports: instance.exports as KernelExports, shared, relaxed };
  return new WasmKernelsImpl(handle, maximum);
}

/**
 * The same, synchronously: null where WebAssembly SIMD is missing, and also where the host refuses
 * to compile a module of this size synchronously (a browser's main thread does; Node and Web
 * Workers do not). Used to make the WebAssembly kernels the default on first use.
 */
export function loadWasmKernelsSync(opts: WasmKernelOptions = {}): WasmKernels | null {
  const api = wasmApi();
  if (!api || !simdSupported()) return null;
  const relaxed = useRelaxed(opts);
  const { memory, shared, maximum } = kernelMemory(api, opts);
  let module: object;
  let instance: { exports: unknown };
  try {
    module = new api.Module(moduleBytes(shared, relaxed));
    instance = new api.Instance(module, { env: { memory } });
  } catch {
    return null;
  }
  return new WasmKernelsImpl({ module, memory, exports: instance.exports as KernelExports, shared, relaxed }, maximum);
}
