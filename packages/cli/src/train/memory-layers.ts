// The recurrent layers' share of the memory estimate (src/train/memory.ts): floats per batch row
// over T time steps, derived from what the layer kernels allocate (packages/egru/src/kernels/
// egru.ts, gru.ts, lstm.ts) and what their calls copy into the WebAssembly kernels' work region
// (packages/egru/src/wasm/wasm-kernels.ts). Isomorphic; nothing is allocated.
//
// In the WebAssembly memory, per row:
//   working  each layer's working arrays (KernelScratch), held while that layer's forward or
//            backward runs, one layer at a time: the largest layer's count
//   copies   the operands a kernel call copies in (the arrays in ordinary memory), into one work
//            region that stays at the largest size a call needed, so it adds to `working` (the
//            caller takes the larger of these copies and the decoder's or readout's); the EGRU's
//            and GRU's time loop in one call copies upstream gradients and zoneout masks for all T steps
//   tapes    every layer's training outputs and tape (packages/egru/src/layers/tape-arena.ts), and
//            its input staged there when it came as an ordinary array (counted for every layer,
//            an upper bound), all held until the step's results are released:
//            Σ over layers of TAPE_ARRAYS · T · H + T · I
// What does not grow with rows (the resident recurrent matrices, a weight matrix a call copies) is
// the caller's fixed part. An EGRU layer's weight and bias gradients of one backward call
// (gradientTempFloats) go into the WebAssembly memory only where it has room for them beyond this
// estimate, else into ordinary memory: they are not counted here. In ordinary memory (also where the tapes fall back to, above the
// arena's cap, so they are counted in both): each layer's tape, outputs, dropout copies and
// adjoints (EGRU's, the largest set; GRU and LSTM keep fewer arrays per unit).

import type { TrainConfig } from "./config.js";

type Cell = TrainConfig["model"]["cell"];

/** One recurrent layer's shape: input size I, units H, packed gate width G (3H, or 4H for LSTM). */
export interface LayerShape {
  I: number;
  H: number;
  G: number;
}

/** The stack's layers: `first` inputs into layer 0, `last` units in the top layer, hidden between. */
export function layerShapes(c: TrainConfig, first: number, last: number): LayerShape[] {
  const gates = c.model.cell === "lstm" ? 4 : 3;
  return Array.from({ length: c.model.layers }, (_, l) => {
    const H = l === c.model.layers - 1 ? last : c.model.hidden;
    return { I: l === 0 ? first : c.model.hidden, H, G: gates * H };
  });
}

/**
 * A layer's working arrays in the kernels' memory, floats per row over T steps: the larger of its
 * forward's and (training) its backward's.
 *   EGRU  forward a [T, 3H], q [3H]      backward dp, dq [T, 3H], receives dyRec dhRec dtrCarry dhNext dthrRows [H]
 *   GRU   forward a [T, 3H], q [3H]      backward dp, dq [T, 3H], dhRec dhNext [H]
 *   LSTM  forward P [T, 4H]              backward dP [T, 4H], dhRec dcRec [H]
 */
export function workingFloats(cell: Cell, T: number, { H, G }: LayerShape, training: boolean): number {
  const lstm = cell === "lstm";
  const forward = lstm ? T * G : T * G + G;
  if (!training) return forward;
  const backward = lstm ? T * G + 2 * H : 2 * T * G + (cell === "egru" ? 6 * H : 2 * H);
  return Math.max(forward, backward);
}

/**
 * Operand copies of one step's cell call per row, in units of H, [forward, backward]: the step's
 * arrays in ordinary memory (the working arrays above are read in place; so is the tape, but above
 * the arena's cap it is ordinary arrays, so it is counted here).
 *   EGRU  hPrev trPrev keep y h o tr c z r g hr (12);  dy dh do dtr dyRec dhRec dtrCarry c o z r g hr hPrev keep dhNext (16)
 *   GRU   hPrev keep h z r g hr (7);                   dOut dhRec z r g hr hPrev keep dhNext (9)
 *   LSTM  cPrev h c i f g o k (8);                     dOut dhRec dcRec i f g o k cPrev (9)
 */
export const CELL_COPIES: Readonly<Record<Cell, readonly [number, number]>> = {
  egru: [12, 16],
  gru: [7, 9],
  lstm: [8, 9],
};

/**
 * The largest operand copies of one of a layer's calls, floats per row: a sequence product's
 * copies times T (training 2I + H, which bounds the input product's x, the dx product's dx and its
 * mask, the recurrent weight gradient's y or h; evaluation: x), one step's cell call, or (training)
 * the time loop in one call: the EGRU's four upstream gradients and zoneout mask [T, H], the GRU's
 * upstream gradient and mask (the forwards' copies, the mask, the first state [H] and q [3H], are fewer).
 */
export function copyFloats(cell: Cell, T: number, { I, H }: LayerShape, training: boolean): number {
  const sequence = T * (training ? 2 * I + H : I);
  const loop = training ? ({ egru: 5, gru: 2, lstm: 0 } as const)[cell] * T * H : 0;
  return Math.max(sequence, CELL_COPIES[cell][training ? 1 : 0] * H, loop);
}

/**
 * An EGRU layer's weight and bias gradients of one backward call, dW [I, 3H], dR [H, 3H], dbx and
 * dbr [3H], in the kernels' memory where it has room (its products write them there) until added to
 * the layer's gradients: floats, not per row, outside the estimate. GRU and LSTM keep theirs in
 * ordinary memory.
 */
export function gradientTempFloats(cell: Cell, { I, H, G }: LayerShape, training: boolean): number {
  return cell === "egru" && training ? (I + H + 2) * G : 0;
}

/** [T, H] arrays per row a training forward keeps in the kernels' memory: outputs and tape (y h o tr c z r g hr; h z r g hr; h c i f g o k). */
export const TAPE_ARRAYS: Readonly<Record<Cell, number>> = { egru: 9, gru: 5, lstm: 7 };

/** The stack's floats per row over T steps, and its parameter count. */
export interface StackFloats {
  /** WebAssembly memory: the largest layer's working arrays. */
  working: number;
  /** WebAssembly memory: every layer's training tape (0 in evaluation). */
  tapes: number;
  /** WebAssembly memory: the largest operand copies of one layer call (the work region). */
  copies: number;
  /** Ordinary memory: every layer's arrays. */
  host: number;
  params: number;
}

export function stackFloats(c: TrainConfig, layers: LayerShape[], T: number, training: boolean): StackFloats {
  const cell = c.model.cell;
  let working = 0;
  let tapes = 0;
  let copies = 0;
  let host = 0;
  let params = 0;
  for (const shape of layers) {
    const { I, H, G } = shape;
    working = Math.max(working, workingFloats(cell, T, shape, training));
    copies = Math.max(copies, copyFloats(cell, T, shape, training));
    if (training) tapes += TAPE_ARRAYS[cell] * T * H + T * I;
    host += T * (training ? 14 * H + 3 * I : 11 * H + I);
    params += (I + H + 2) * G + H;
  }
  return { working, tapes, copies, host, params };
}
