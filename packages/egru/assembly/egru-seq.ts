// The EGRU's time loop in one call, forward and backward, over a block of batch rows [r0, r1): each
// step's recurrent product, its bias and the cell, with no return to JavaScript between steps. Batch
// rows never meet inside the loop (a row's next step reads only that row), so the threaded kernels
// run one block per thread for the whole sequence, two dispatches a layer instead of several a step.
// Every step does what the calls of src/kernels/egru.ts's step loop do, with the same bits:
//
//   forward   q = y_{t−1}·R + br by events (eventNN) while the block's step is sparse enough, else
//             dense (gemmNN; both give the same bits), then egruCellForwardUnits;
//   backward  egruCellBackwardUnits, then dq_t·Rᵀ for the units of step t − 1 that can pass gradient
//             on (maskedNT), or dense (gemmNT) when the mask of the whole batch's step is over the
//             crossover (the masked and dense products round differently, so the choice is the one
//             a call over every row makes: each block also counts the other rows' mask).
//
// Shapes: a [T,B,3H] input pre-activations (biases included), R [H,3H], br [3H], y0 [B,H], thr [H],
// keep [T,B,H] (0: keepConst), outputs and tape [T,B,H]; q [B,3H] one step's work; the backward's
// [B,H] arrays as the step loop's (zeros before the call): the step-to-step adjoints dyRec (ending as
// ∂L/∂y0), dhRec, dtrCarry, dhNext, the mask receives and the threshold gradient by row dthrRows
// (the caller sums its rows). Each block reads and writes only its own rows of them.

import { egruCellBackwardUnits, egruCellForwardUnits } from "./cells";
import { gemmNN, gemmNT, gemmScratch } from "./dense";
import { eventNN, eventNNScratch, maskedNT, maskedNTScratch } from "./events";
import { addBiasRows, egruReceiveMask } from "./pointwise";
import { countNonzero } from "./train-ops";

/** Bytes of scratch egruSeqForward needs for a block of `rows` rows of H units. */
export function egruSeqForwardScratch(rows: i32, H: i32): usize {
  return max(eventNNScratch(rows, H), gemmScratch(rows, 3 * H, H));
}

/** Bytes of scratch egruSeqBackward needs for a block of `rows` rows of H units. */
export function egruSeqBackwardScratch(rows: i32, H: i32): usize {
  return max(maskedNTScratch(rows, H), gemmScratch(rows, H, 3 * H));
}

/**
 * The forward over T steps of rows [r0, r1) of B. `crossover`: the largest fraction of nonzeros of a
 * step's y_{t−1} rows for the event product. Returns the recurrent products' multiply-accumulates.
 */
export function egruSeqForward(
  T: i32, B: i32, H: i32, r0: i32, r1: i32, a: usize, R: usize, br: usize, y0: usize, thr: usize, keep: usize,
  keepConst: f32, alpha: f32, crossover: f64, y: usize, h: usize, o: usize, tr: usize, c: usize, z: usize, r: usize,
  g: usize, hr: usize, q: usize, scratch: usize,
): f64 {
  const G = 3 * H;
  const n = r1 - r0;
  const rowH = <usize>H << 2;
  const rowG = <usize>G << 2;
  const qb = q + <usize>r0 * rowG;
  let macs: f64 = 0;
  for (let t = 0; t < T; t++) {
    const cur = <usize>(t * B + r0); // the block's first row of step t
    const prev = t == 0 ? y0 + <usize>r0 * rowH : y + (cur - <usize>B) * rowH;
    const nz = countNonzero(prev, n * H);
    if (<f64>nz <= crossover * <f64>(n * H)) macs += <f64>eventNN(n, G, H, prev, R, qb, false, scratch) * <f64>G;
    else {
      gemmNN(n, G, H, prev, R, qb, false, scratch);
      macs += <f64>n * <f64>H * <f64>G;
    }
    addBiasRows(n, G, qb, br);
    const at = cur * rowH;
    const before = (cur - <usize>B) * rowH; // step t − 1's rows (t > 0)
    egruCellForwardUnits(n, H, 0, H, a + cur * rowG, qb, t == 0 ? 0 : h + before, t == 0 ? 0 : tr + before, thr,
      keep == 0 ? 0 : keep + at, keepConst, alpha, y + at, h + at, o + at, tr + at, c + at, z + at, r + at, g + at,
      hr + at);
  }
  return macs;
}

/**
 * The backward over T steps (t = T − 1 … 0) of rows [r0, r1) of B. Upstream dyUp, dhUp, doUp, dtrUp
 * [T,B,H] (0: zeros); the forward's o, c, z, r, g, hr, h [T,B,H]; writes dp, dq [T,B,3H].
 * `crossover`: the largest fraction of ones of a step's mask (over all B rows) for the masked
 * product. Returns the back-products' multiply-accumulates.
 */
export function egruSeqBackward(
  T: i32, B: i32, H: i32, r0: i32, r1: i32, dyUp: usize, dhUp: usize, doUp: usize, dtrUp: usize, o: usize, c: usize,
  z: usize, r: usize, g: usize, hr: usize, h: usize, thr: usize, keep: usize, keepConst: f64, alpha: f64, gamma: f64,
  support: f64, R: usize, crossover: f64, dp: usize, dq: usize, dyRec: usize, dhRec: usize, dtrCarry: usize,
  dhNext: usize, receives: usize, dthrRows: usize, scratch: usize,
): f64 {
  const G = 3 * H;
  const n = r1 - r0;
  const rowH = <usize>H << 2;
  const rowG = <usize>G << 2;
  const block = <usize>r0 * rowH;
  const dy = dyRec + block;
  const carry = dtrCarry + block;
  const mask = receives + block;
  const dthr = dthrRows + block;
  let rec = dhRec + block;
  let next = dhNext + block;
  let macs: f64 = 0;
  for (let t = T - 1; t >= 0; t--) {
    const cur = <usize>(t * B + r0);
    const at = cur * rowH;
    const before = (cur - <usize>B) * rowH;
    const dqt = dq + cur * rowG;
    egruCellBackwardUnits(n, H, dyUp == 0 ? 0 : dyUp + at, dhUp == 0 ? 0 : dhUp + at, doUp == 0 ? 0 : doUp + at,
      dtrUp == 0 ? 0 : dtrUp + at, dy, rec, carry, c + at, o + at, z + at, r + at, g + at, hr + at,
      t == 0 ? 0 : h + before, thr, keep == 0 ? 0 : keep + at, keepConst, alpha, gamma, support, dp + cur * rowG, dqt,
      next, dthr, 0, H);
    // into y_{t−1}: dq_t·Rᵀ where step t − 1's units can pass gradient on; at t = 0 into y0, in full
    if (t == 0) {
      gemmNT(n, H, G, dqt, R, dy, false, scratch);
      macs += <f64>n * <f64>H * <f64>G;
    } else {
      const first = <usize>((t - 1) * B) * rowH; // step t − 1's row 0
      let ones = egruReceiveMask(n, H, o + before, c + before, thr, gamma, support, mask);
      if (r0 > 0) ones += egruReceiveMask(r0, H, o + first, c + first, thr, gamma, support, 0);
      if (r1 < B) {
        const past = first + <usize>r1 * rowH;
        ones += egruReceiveMask(B - r1, H, o + past, c + past, thr, gamma, support, 0);
      }
      if (<f64>ones <= crossover * <f64>(B * H)) macs += <f64>maskedNT(n, H, G, dqt, R, mask, dy, scratch) * <f64>G;
      else {
        gemmNT(n, H, G, dqt, R, dy, false, scratch);
        macs += <f64>n * <f64>H * <f64>G;
      }
    }
    // every entry of next was written: the two trade places
    const done = rec;
    rec = next;
    next = done;
  }
  return macs;
}
