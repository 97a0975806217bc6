// AWD-LSTM's activation regularisation (AR) and temporal activation regularisation (TAR), the
// language-model baselines' terms (docs/paper-setups.md#language-model-activity-terms), on a
// time-major sequence h [T, B, F] (N = B·F entries per step):
//   AR  = α·mean(h²)                   over T·N entries           ∂AR/∂h_t  = 2α·h_t / (T·N)
//   TAR = β·mean((h_{t+1} − h_t)²)      over (T − 1)·N entries     ∂TAR/∂h_t = 2β·(D_{t−1} − D_t) / ((T − 1)·N)
// with D_t = h_{t+1} − h_t (D_{−1} = D_{T−1} = 0). TAR is 0 for a single step (no pair to compare).
// Sums run in double precision; gradients are added into the caller's array, times a weight.
// Float32 in the model, float64 in the tests' finite differences.

import type { FloatArray } from "../core/buffer.js";

/** α·mean(h²) over every entry of h. */
export function arTerm(h: FloatArray, alpha: number): number {
  let s = 0;
  for (let k = 0; k < h.length; k++) s += h[k] * h[k];
  return (alpha * s) / h.length;
}

/** into += w·∂AR/∂h = w·2α·h / len(h). */
export function addArGrad(into: FloatArray, h: FloatArray, alpha: number, w: number): void {
  const c = (2 * alpha * w) / h.length;
  for (let k = 0; k < h.length; k++) into[k] += c * h[k];
}

/** β·mean((h_{t+1} − h_t)²) over the T − 1 consecutive pairs of h [T, N] (0 when T = 1). */
export function tarTerm(h: FloatArray, T: number, beta: number): number {
  if (T < 2) return 0;
  const N = h.length / T;
  let s = 0;
  for (let k = N; k < h.length; k++) {
    const d = h[k] - h[k - N];
    s += d * d;
  }
  return (beta * s) / ((T - 1) * N);
}

/** into += w·∂TAR/∂h for h [T, N]: each difference D = h_{t+1} − h_t adds +c·D at t + 1 and −c·D at t. */
export function addTarGrad(into: FloatArray, h: FloatArray, T: number, beta: number, w: number): void {
  if (T < 2) return;
  const N = h.length / T;
  const c = (2 * beta * w) / ((T - 1) * N);
  for (let k = N; k < h.length; k++) {
    const d = c * (h[k] - h[k - N]);
    into[k] += d;
    into[k - N] -= d;
  }
}
