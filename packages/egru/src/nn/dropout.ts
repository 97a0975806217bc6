// Dropout variants, forward and backward together (inverted: kept values scaled by 1/(1 − p) in
// training, identity in evaluation). Each forward draws its mask from the given random stream and
// returns it; backward multiplies the gradient by the same mask.
//   dropout         one mask entry per value
//   lockedDropout   variational (AWD-LSTM): one mask per sequence and feature, [B, F], shared by
//                   every time step of x [T, B, F]
//   stepDropout     one mask per time step and feature, [T, F], shared by the batch — the EGRU
//                   language model's VariationalDropout as its code actually runs (docs/paper-setups.md#regularisers-and-dropouts-around-the-layer quirk)

import { ValueError } from "../core/errors.js";
import type { Rng } from "../core/rng.js";

export type DropoutKind = "dropout" | "locked" | "step";

export interface DropoutResult {
  out: Float32Array;
  /** The scaled mask (0 or 1/(1 − p)), broadcast as the kind says; null when nothing was dropped. */
  mask: Float32Array | null;
}

/** Apply dropout of `kind` with probability p to x [T, B, F] (time-major). */
export function dropoutForward(
  kind: DropoutKind,
  x: Float32Array,
  T: number,
  B: number,
  F: number,
  p: number,
  rng: Rng,
  training: boolean,
): DropoutResult {
  if (!(p >= 0 && p < 1)) throw new ValueError("dropout p", "a probability in [0, 1)", String(p));
  if (x.length !== T * B * F) throw new ValueError("x", `T·B·F = ${T * B * F} values`, String(x.length));
  if (!training || p === 0) return { out: x.slice(), mask: null };
  const size = kind === "dropout" ? T * B * F : kind === "locked" ? B * F : T * F;
  const keep = 1 / (1 - p);
  const mask = new Float32Array(size);
  rng.fillBernoulli(mask, 1 - p, keep);
  return { out: applyMask(kind, x, mask, T, B, F), mask };
}

/** The gradient of dropoutForward: dOut times the same (broadcast) mask. */
export function dropoutBackward(
  kind: DropoutKind,
  dOut: Float32Array,
  mask: Float32Array | null,
  T: number,
  B: number,
  F: number,
): Float32Array {
  return mask ? applyMask(kind, dOut, mask, T, B, F) : dOut.slice();
}

function applyMask(
  kind: DropoutKind,
  x: Float32Array,
  mask: Float32Array,
  T: number,
  B: number,
  F: number,
): Float32Array {
  const out = new Float32Array(x.length);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const row = (t * B + b) * F;
      const m = kind === "dropout" ? row : kind === "locked" ? b * F : t * F;
      for (let f = 0; f < F; f++) out[row + f] = x[row + f] * mask[m + f];
    }
  }
  return out;
}
