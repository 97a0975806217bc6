// The float64 reference of the CNN front-end's operations: naive loops written for reading, the
// oracle the im2col convolution and the max pooling are checked against. Images [N, C, H, W].

export interface ConvRefProblem {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  k: number;
  stride: number;
  pad: number;
}

function dims(p: ConvRefProblem): { OH: number; OW: number } {
  return {
    OH: Math.floor((p.H + 2 * p.pad - p.k) / p.stride) + 1,
    OW: Math.floor((p.W + 2 * p.pad - p.k) / p.stride) + 1,
  };
}

/** y[n,o,oy,ox] = b[o] + Σ_{c,i,j} w[o,c,i,j] · x[n,c,oy·s−pad+i, ox·s−pad+j] (zero outside). */
export function convRefForward(
  p: ConvRefProblem,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
): Float64Array {
  const { OH, OW } = dims(p);
  const y = new Float64Array(p.N * p.O * OH * OW);
  for (let n = 0; n < p.N; n++)
    for (let o = 0; o < p.O; o++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let s = b[o];
          for (let c = 0; c < p.C; c++)
            for (let i = 0; i < p.k; i++)
              for (let j = 0; j < p.k; j++) {
                const yy = oy * p.stride - p.pad + i,
                  xx = ox * p.stride - p.pad + j;
                if (yy < 0 || yy >= p.H || xx < 0 || xx >= p.W) continue;
                s += w[((o * p.C + c) * p.k + i) * p.k + j] * x[((n * p.C + c) * p.H + yy) * p.W + xx];
              }
          y[((n * p.O + o) * OH + oy) * OW + ox] = s;
        }
  return y;
}

/** Gradients of Σ dy·y: dx, dw, db. */
export function convRefBackward(
  p: ConvRefProblem,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: ArrayLike<number>,
): { dx: Float64Array; dw: Float64Array; db: Float64Array } {
  const { OH, OW } = dims(p);
  const dx = new Float64Array(p.N * p.C * p.H * p.W);
  const dw = new Float64Array(p.O * p.C * p.k * p.k);
  const db = new Float64Array(p.O);
  for (let n = 0; n < p.N; n++)
    for (let o = 0; o < p.O; o++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          const g = dy[((n * p.O + o) * OH + oy) * OW + ox];
          db[o] += g;
          for (let c = 0; c < p.C; c++)
            for (let i = 0; i < p.k; i++)
              for (let j = 0; j < p.k; j++) {
                const yy = oy * p.stride - p.pad + i,
                  xx = ox * p.stride - p.pad + j;
                if (yy < 0 || yy >= p.H || xx < 0 || xx >= p.W) continue;
                const xi = ((n * p.C + c) * p.H + yy) * p.W + xx;
                const wi = ((o * p.C + c) * p.k + i) * p.k + j;
                dw[wi] += g * x[xi];
                dx[xi] += g * w[wi];
              }
        }
  return { dx, dw, db };
}

/** Max over k×k windows with stride s, and the gradient of Σ dy·y (to the first maximum of each window). */
export function maxPoolRef(
  N: number,
  C: number,
  H: number,
  W: number,
  k: number,
  s: number,
  x: ArrayLike<number>,
  dy: ArrayLike<number> | null,
): { y: Float64Array; dx: Float64Array } {
  const OH = Math.floor((H - k) / s) + 1,
    OW = Math.floor((W - k) / s) + 1;
  const y = new Float64Array(N * C * OH * OW);
  const dx = new Float64Array(N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let best = -Infinity,
            at = -1;
          for (let i = 0; i < k; i++)
            for (let j = 0; j < k; j++) {
              const xi = ((n * C + c) * H + oy * s + i) * W + ox * s + j;
              if (x[xi] > best) {
                best = x[xi];
                at = xi;
              }
            }
          const o = ((n * C + c) * OH + oy) * OW + ox;
          y[o] = best;
          if (dy) dx[at] += dy[o];
        }
  return { y, dx };
}
