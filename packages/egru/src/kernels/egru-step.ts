// The fused EGRU streaming step (B = 1): what one call of it takes and the argument lists of the
// WebAssembly exports it makes (assembly/egru-step.ts: both products and their biases for a block
// of columns; then assembly/cells.ts: the cell), shared by the one-thread and threaded kernels.
// The stepper (layers/stepper.ts) uses it where the kernels have it and every array lies in their
// memory; otherwise it makes the separate calls, which give the same bits.

/** One EGRU layer's step for one stream, every array in the kernels' memory. */
export interface EgruStepArgs {
  I: number;
  H: number;
  /** The input product: 0 dense, 1 over the nonzeros of x where they are few enough (eventOrDenseNN). */
  xMode: 0 | 1;
  x: Float32Array; // [I]
  W: Float32Array; // [I, 3H]
  y: Float32Array; // [H] the events: the last step's (read by the product), then this step's (written by the cell)
  R: Float32Array; // [H, 3H]
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
export function egruStepArrays(s: EgruStepArgs): Float32Array[] {
  const t = s.tape;
  return [s.x, s.W, s.y, s.R, s.bx, s.br, s.h, s.tr, s.thr, s.o, t.c, t.z, t.r, t.g, t.hr, s.a, s.q];
}

const at = (a: Float32Array): number => a.byteOffset;

/** The arguments of egruStepColumns for the columns [n0, n1) of the products. */
export function egruStepColumnsCall(
  s: EgruStepArgs,
  crossover: number,
  n0: number,
  n1: number,
  scratch: number,
): number[] {
  const { I, H, xMode, x, W, y, R, bx, br, a, q } = s;
  return [I, H, xMode, crossover, at(x), at(W), at(y), at(R), at(bx), at(br), at(a), at(q), n0, n1, scratch];
}

/** The arguments of egruCellForward (B = 1) for the step's cell: h, tr in place, y overwritten. */
export function egruStepCellCall(s: EgruStepArgs): number[] {
  const t = s.tape;
  return [
    1,
    s.H,
    at(s.a),
    at(s.q),
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
