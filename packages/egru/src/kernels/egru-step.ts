// The fused EGRU streaming step (B = 1): what one call of it takes and the argument lists of the
// WebAssembly exports it makes (float weights, assembly/egru-step.ts: both products and their
// biases for a block of columns; int8 weights, assembly/int8.ts: i8StepPart per thread, then
// i8StepFinish; then assembly/cells.ts: the cell), shared by the one-thread and threaded kernels.
// The stepper (layers/stepper.ts) uses it where the kernels have it and every array lies in their
// memory; otherwise it makes the separate calls, which give the same bits.

import { isInt8Matrix, type Int8Matrix } from "./int8.js";

/** One EGRU layer's step for one stream, every array in the kernels' memory. */
export interface EgruStepArgs {
  I: number;
  H: number;
  /** The input product: 0 dense, 1 over the nonzeros of x where they are few enough (eventOrDenseNN). */
  xMode: 0 | 1;
  x: Float32Array; // [I]
  W: Float32Array | Int8Matrix; // [I, 3H] (both float or both int8)
  y: Float32Array; // [H] the events: the last step's (read by the product), then this step's (written by the cell)
  R: Float32Array | Int8Matrix; // [H, 3H]
  bx: Float32Array; // [3H]
  br: Float32Array; // [3H]
  h: Float32Array; // [H] updated in place
  tr: Float32Array; // [H] updated in place
  thr: Float32Array; // [H]
  keepConst: number;
  alpha: number;
  o: Float32Array; // [H]
  tape: { c: Float32Array; z: Float32Array; r: Float32Array; g: Float32Array; hr: Float32Array }; // each [H]
  a: Float32Array; // [3H] working: input pre-activations
  q: Float32Array; // [3H] working: recurrent pre-activations
}

/** Every array of a step, for the check that all lie in the kernels' memory. */
export function egruStepArrays(s: EgruStepArgs): (Float32Array | Int8Array)[] {
  const t = s.tape;
  const weights = [s.W, s.R].flatMap((w) => (isInt8Matrix(w) ? [w.values, w.scales] : [w]));
  return [s.x, s.y, s.bx, s.br, s.h, s.tr, s.thr, s.o, t.c, t.z, t.r, t.g, t.hr, s.a, s.q, ...weights];
}

const at = (a: Float32Array | Int8Array): number => a.byteOffset;

/** The step's weights as int8 matrices, or null for float ones (a mix is refused). */
export function int8StepWeights(s: EgruStepArgs): { W: Int8Matrix; R: Int8Matrix } | null {
  const { W, R } = s;
  if (isInt8Matrix(W) && isInt8Matrix(R)) return { W, R };
  if (W instanceof Float32Array && R instanceof Float32Array) return null;
  throw new TypeError("egruStep: W and R must both be float or both int8");
}

/** An int8 matrix's scales and whether they are per input (1) or per output (0), as the exports take them. */
const scalesOf = (m: Int8Matrix): number[] => [at(m.scales), m.axis === "input" ? 1 : 0];

/** The arguments of i8StepPart (part `part` of `parts`) for int8 weights. */
export function i8StepPartCall(
  s: EgruStepArgs,
  w: { W: Int8Matrix; R: Int8Matrix },
  part: number,
  parts: number,
  scratch: number,
): number[] {
  const { W, R } = w;
  return [s.I, s.H, at(s.x), at(W.values), ...scalesOf(W), at(s.y), at(R.values), ...scalesOf(R), part, parts, scratch];
}

/** The arguments of i8StepFinish for the parts' scratch regions (the second 0 for one part). */
export function i8StepFinishCall(
  s: EgruStepArgs,
  w: { W: Int8Matrix; R: Int8Matrix },
  scratch1: number,
  scratch2: number,
): number[] {
  return [s.I, s.H, ...finishOperands(s, w, scratch1, scratch2)];
}

/** i8StepFinish's operands after I, H: the parts' scratch, the scales, the biases and a, q. */
function finishOperands(
  s: EgruStepArgs,
  w: { W: Int8Matrix; R: Int8Matrix },
  scratch1: number,
  scratch2: number,
): number[] {
  return [scratch1, scratch2, ...scalesOf(w.W), ...scalesOf(w.R), at(s.bx), at(s.br), at(s.a), at(s.q)];
}

/** The arguments of egruStepColumns for the columns [n0, n1) of the products. */
export function egruStepColumnsCall(
  s: EgruStepArgs,
  crossover: number,
  n0: number,
  n1: number,
  scratch: number,
): number[] {
  const { I, H, xMode, x, W, y, R, bx, br, a, q } = s;
  if (isInt8Matrix(W) || isInt8Matrix(R)) throw new TypeError("egruStepColumns: float weights only");
  return [I, H, xMode, crossover, at(x), at(W), at(y), at(R), at(bx), at(br), at(a), at(q), n0, n1, scratch];
}

/** The arguments of i8StepEndUnits for units [j0, j1): the finish's operands, then the cell's from hPrev on. */
export function i8StepEndCall(
  s: EgruStepArgs,
  w: { W: Int8Matrix; R: Int8Matrix },
  scratch1: number,
  scratch2: number,
  j0: number,
  j1: number,
): number[] {
  return [s.I, s.H, j0, j1, ...finishOperands(s, w, scratch1, scratch2), ...cellState(s)];
}

/**
 * The arguments of egruCellForwardUnits (B = 1) for the step's cell over units [j0, j1): h, tr in
 * place, y overwritten.
 */
export function egruStepCellCall(s: EgruStepArgs, j0: number, j1: number): number[] {
  return [1, s.H, j0, j1, at(s.a), at(s.q), ...cellState(s)];
}

/** The cell's operands after a and q: hPrev, trPrev, thr, keep (none), keepConst, alpha, the outputs and the tape. */
function cellState(s: EgruStepArgs): number[] {
  const t = s.tape;
  return [
    at(s.h),
    at(s.tr),
    at(s.thr),
    0,
    s.keepConst,
    s.alpha,
    at(s.y),
    at(s.h),
    at(s.o),
    at(s.tr),
    at(t.c),
    at(t.z),
    at(t.r),
    at(t.g),
    at(t.hr),
  ];
}

/**
 * The MACs a step's two products execute, as eventOrDenseNN counts them: nonzeros · 3H for an event
 * product (the input product in mode 1 and the recurrent one, when at most crossover of the
 * operand is nonzero), the whole K · 3H for a dense one.
 */
export function stepMacs(s: EgruStepArgs, crossover: number, nonzerosX: number, nonzerosY: number): number {
  const G = 3 * s.H;
  const x = s.xMode === 1 && nonzerosX <= crossover * s.I ? nonzerosX : s.I;
  const y = nonzerosY <= crossover * s.H ? nonzerosY : s.H;
  return (x + y) * G;
}
