// The LSTM cell's pointwise work for one time step (B rows of H units), forward and backward:
// gates and states and their adjoints, mirroring the TypeScript kernels of
// src/kernels/lstm-cell.ts operation for operation, so both give the same bits. Forward: float32
// arithmetic on four units at a time (exp and tanh from fastmath.ts). Backward: scalar, every
// intermediate in f64 and every stored value rounded to f32, adjoints below 2^−100 stored as 0.
//
// Addresses are byte offsets; an address of 0 means "absent" (read as zeros) for the optional
// inputs. Gate blocks [i | f | g | o] of width 4H (PyTorch's order).

import { add, ld, ldOr0, load4, mul, stFlush, store4 } from "./cell-io";
import { sigmoid4, tanh4 } from "./fastmath";

/**
 * Forward of one step, in float32 arithmetic, four units at a time. P [B,4H]: the pre-activations
 * (both products and both biases); cPrev [B,H] (0: zeros). i = σ(P_i), f = σ(P_f), g = tanh(P_g),
 * o = σ(P_o), c = f·c_prev + i·g, k = tanh(c), h = o·k. Writes h, c and the tape i, f, g, o, k [B,H].
 */
export function lstmCellForward(
  B: i32, H: i32, P: usize, cPrev: usize, h: usize, c: usize, i: usize, f: usize, g: usize, o: usize, kt: usize,
): void {
  const G = 4 * H;
  for (let b = 0; b < B; b++) {
    const row = b * G;
    const base = b * H;
    for (let j = 0; j < H; j += 4) {
      const n = min(4, H - j);
      const k = base + j;
      const it = sigmoid4(load4(P, row + j, n));
      const ft = sigmoid4(load4(P, row + H + j, n));
      const gt = tanh4(load4(P, row + 2 * H + j, n));
      const ot = sigmoid4(load4(P, row + 3 * H + j, n));
      const ct = add(mul(ft, load4(cPrev, k, n)), mul(it, gt));
      const tc = tanh4(ct);
      store4(c, k, ct, n);
      store4(h, k, mul(ot, tc), n);
      store4(i, k, it, n);
      store4(f, k, ft, n);
      store4(g, k, gt, n);
      store4(o, k, ot, n);
      store4(kt, k, tc, n);
    }
  }
}

/**
 * Backward of one step. dOut [B,H] the upstream ∂L/∂h_t (0: zeros); dhRec [B,H] the gradient
 * reaching h_t from step t+1; dcRec [B,H] the gradient reaching c_t from step t+1, replaced in
 * place by the one reaching c_{t−1}; tape i, f, g, o, k [B,H]; cPrev [B,H] (0: zeros).
 * Writes dP [B,4H].
 */
export function lstmCellBackward(
  B: i32, H: i32, dOut: usize, dhRec: usize, dcRec: usize, i: usize, f: usize, g: usize, o: usize, kt: usize,
  cPrev: usize, dP: usize,
): void {
  const G = 4 * H;
  for (let b = 0; b < B; b++) {
    const row = b * G;
    const base = b * H;
    for (let j = 0; j < H; j++) {
      const k = base + j;
      const it = ld(i, k);
      const ft = ld(f, k);
      const gt = ld(g, k);
      const ot = ld(o, k);
      const tc = ld(kt, k);
      const dh = ldOr0(dOut, k) + ld(dhRec, k);
      const dc = ld(dcRec, k) + (1.0 - tc * tc) * ot * dh;
      stFlush(dcRec, k, ft * dc);
      stFlush(dP, row + j, it * (1.0 - it) * gt * dc);
      stFlush(dP, row + H + j, ft * (1.0 - ft) * ldOr0(cPrev, k) * dc);
      stFlush(dP, row + 2 * H + j, (1.0 - gt * gt) * it * dc);
      stFlush(dP, row + 3 * H + j, ot * (1.0 - ot) * tc * dh);
    }
  }
}
