// Token streams for the language-model benchmarks: ids drawn from a Zipf(1) law over the
// vocabulary, like the words of a text (the speed of a training step does not depend on the text).

import { Rng } from "../packages/egru/src/core/rng.js";

/** n ids in 0 … V − 1, P(v) ∝ 1 / (v + 1), from a seeded stream. */
export function zipfTokens(n: number, V: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const cdf = new Float64Array(V);
  let s = 0;
  for (let v = 0; v < V; v++) cdf[v] = s += 1 / (v + 1);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rng.uniform() * s;
    let lo = 0;
    let hi = V - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = lo;
  }
  return out;
}
