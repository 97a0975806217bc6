// The GRU's time loop in one call, forward and backward, over a block of batch rows [r0, r1), as
// egru-seq.ts does for the EGRU: each step's recurrent product, its bias and the cell, with no
// return to JavaScript between steps, so the threaded kernels run a block per thread for the whole
// sequence. Every step does what the calls of src/kernels/gru.ts's step loop do, with the same bits:
//
//   forward   q = h_{t−1}·R + br (gemmNN), then gruCellForward;
//   backward  gruCellBackward, then dh_{t−1} += dq_t·Rᵀ (gemmNT, accumulating).
//
// Shapes: a [T,B,3H] input pre-activations (biases included), R [H,3H], br [3H], h0 [B,H], keep [T,B,H] (0: keepConst), h and the tape z, r, g, hr [T,B,H]; q [B,3H] one step's work;
// the backward's upstream dOut [T,B,H] (0: zeros), dp, dq [T,B,3H] written, and the [B,H] adjoints
// dhRec (∂L/∂h_T on entry, ∂L/∂h0 on return) and dhNext. Each block reads and writes only its rows.

import { gruCellBackward, gruCellForward } from "./cells";
import { gemmNN, gemmNT, gemmScratch } from "./dense";
import { addBiasRows } from "./pointwise";

/** Bytes of scratch gruSeqForward needs for a block of `rows` rows of H units. */
export function gruSeqForwardScratch(rows: i32, H: i32): usize {
  return gemmScratch(rows, 3 * H, H);
}

/** Bytes of scratch gruSeqBackward needs for a block of `rows` rows of H units. */
export function gruSeqBackwardScratch(rows: i32, H: i32): usize {
  return gemmScratch(rows, H, 3 * H);
}

/** The forward over T steps of rows [r0, r1) of B. */
export function gruSeqForward(
  T: i32, B: i32, H: i32, r0: i32, r1: i32, a: usize, R: usize, br: usize, h0: usize, keep: usize, keepConst: f32,
  h: usize, z: usize, r: usize, g: usize, hr: usize, q: usize, scratch: usize,
): void {
  const G = 3 * H;
  const n = r1 - r0;
  const rowH = <usize>H << 2;
  const rowG = <usize>G << 2;
  const qb = q + <usize>r0 * rowG;
  for (let t = 0; t < T; t++) {
    const cur = <usize>(t * B + r0); // the block's first row of step t
    const prev = t == 0 ? h0 + <usize>r0 * rowH : h + (cur - <usize>B) * rowH;
    gemmNN(n, G, H, prev, R, qb, false, scratch);
    addBiasRows(n, G, qb, br);
    const at = cur * rowH;
    gruCellForward(n, H, a + cur * rowG, qb, prev, keep == 0 ? 0 : keep + at, keepConst, h + at, z + at, r + at, g + at,
      hr + at);
  }
}

/** The backward over T steps (t = T − 1 … 0) of rows [r0, r1) of B. */
export function gruSeqBackward(
  T: i32, B: i32, H: i32, r0: i32, r1: i32, dOut: usize, z: usize, r: usize, g: usize, hr: usize, h: usize,
  h0: usize, keep: usize, keepConst: f64, R: usize, dp: usize, dq: usize, dhRec: usize, dhNext: usize,
  scratch: usize,
): void {
  const G = 3 * H;
  const n = r1 - r0;
  const rowH = <usize>H << 2;
  const rowG = <usize>G << 2;
  let rec = dhRec + <usize>r0 * rowH;
  let next = dhNext + <usize>r0 * rowH;
  for (let t = T - 1; t >= 0; t--) {
    const cur = <usize>(t * B + r0);
    const at = cur * rowH;
    const prev = t == 0 ? h0 + <usize>r0 * rowH : h + (cur - <usize>B) * rowH;
    const dqt = dq + cur * rowG;
    gruCellBackward(n, H, dOut == 0 ? 0 : dOut + at, rec, z + at, r + at, g + at, hr + at, prev,
      keep == 0 ? 0 : keep + at, keepConst, dp + cur * rowG, dqt, next);
    // plus the recurrent term: dh_{t−1} += dq_t · Rᵀ
    gemmNT(n, H, G, dqt, R, next, true, scratch);
    // every entry of next was written: the two trade places
    const done = rec;
    rec = next;
    next = done;
  }
  // ∂L/∂h0 ends in the buffer `rec` names: dhRec's rows after an even number of steps, else dhNext's
  if (T % 2 == 1) memory.copy(dhRec + <usize>r0 * rowH, rec, <usize>n * rowH);
}
