// Softmax over the rows of a matrix, the plain TypeScript kernel behind Kernels.softmaxRows
// (the WebAssembly one is assembly/softmax.ts):
//
//   x [N, V]  →  logZ[n] = log Σ_v exp x[n, v]
//                out[n, v] = scale · exp(x[n, v] − logZ[n])     (when out is given)
//
// Exponentials and sums in float64; the cross-entropy loss (nn/loss.ts) is built on it. Outputs
// below 2^−100 are stored as 0, as the WebAssembly kernel stores them (there, to keep float32
// subnormals out of dlogits: see assembly/softmax.ts).

import type { FloatArray } from "../core/buffer.js";
import { flushTiny } from "./f32-math.js";

/** The signature of Kernels.softmaxRows: x/out [N, V] at their offsets, logZ [N]; out may not overlap x. */
export type SoftmaxRows = (
  N: number,
  V: number,
  x: FloatArray,
  xOff: number,
  out: FloatArray | null,
  outOff: number,
  scale: number,
  logZ: FloatArray,
  logZOff: number,
) => void;

export const softmaxRows: SoftmaxRows = (N, V, x, xOff, out, outOff, scale, logZ, logZOff) => {
  for (let n = 0; n < N; n++) {
    const row = xOff + n * V;
    let m = -Infinity;
    for (let v = 0; v < V; v++) {
      const t = x[row + v];
      // NaN propagates into the row's result, as in the WebAssembly kernel
      m = t > m || Number.isNaN(t) ? t : m;
    }
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(x[row + v] - m);
    logZ[logZOff + n] = m + Math.log(s);
    if (out) {
      const o = outOff + n * V;
      for (let v = 0; v < V; v++) out[o + v] = flushTiny((Math.exp(x[row + v] - m) * scale) / s);
    }
  }
};
