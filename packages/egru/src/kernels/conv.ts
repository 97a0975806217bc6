// Image kernels for the per-frame CNN front-end, forward and backward side by side, on one image
// [C, H, W] at a time (row-major, PyTorch's layout):
//   im2col / col2im   the patches of a convolution as columns [C·kh·kw, OH·OW] and their adjoint
//   maxPool2d         max over k×k windows with stride s (no padding, floor mode, as nn.MaxPool2d),
//                     keeping the argmax of each output for the backward (the first maximum wins)
// Output size of a convolution or pool: OH = ⌊(H + 2·pad − k) / stride⌋ + 1.

export type FloatArray = Float32Array | Float64Array;

export function outSize(n: number, k: number, stride: number, pad: number): number {
  return Math.floor((n + 2 * pad - k) / stride) + 1;
}

export interface ConvGeometry {
  C: number;
  H: number;
  W: number;
  kh: number;
  kw: number;
  stride: number;
  pad: number;
}

/** cols [C·kh·kw, OH·OW] ← the patches of x [C, H, W] (at xOff); zeros where the patch leaves the image. */
export function im2col(g: ConvGeometry, x: FloatArray, xOff: number, cols: FloatArray): void {
  const { C, H, W, kh, kw, stride, pad } = g;
  const OH = outSize(H, kh, stride, pad),
    OW = outSize(W, kw, stride, pad);
  const P = OH * OW;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const row = ((c * kh + i) * kw + j) * P;
        for (let oy = 0; oy < OH; oy++) {
          const y = oy * stride - pad + i;
          const out = row + oy * OW;
          if (y < 0 || y >= H) {
            cols.fill(0, out, out + OW);
            continue;
          }
          const src = xOff + (c * H + y) * W;
          for (let ox = 0; ox < OW; ox++) {
            const xx = ox * stride - pad + j;
            cols[out + ox] = xx >= 0 && xx < W ? x[src + xx] : 0;
          }
        }
      }
    }
  }
}

/** dx [C, H, W] (at dxOff) += the adjoint of im2col applied to dcols [C·kh·kw, OH·OW]. */
export function col2im(g: ConvGeometry, dcols: FloatArray, dx: FloatArray, dxOff: number): void {
  const { C, H, W, kh, kw, stride, pad } = g;
  const OH = outSize(H, kh, stride, pad),
    OW = outSize(W, kw, stride, pad);
  const P = OH * OW;
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const row = ((c * kh + i) * kw + j) * P;
        for (let oy = 0; oy < OH; oy++) {
          const y = oy * stride - pad + i;
          if (y < 0 || y >= H) continue;
          const dst = dxOff + (c * H + y) * W;
          for (let ox = 0; ox < OW; ox++) {
            const xx = ox * stride - pad + j;
            if (xx >= 0 && xx < W) dx[dst + xx] += dcols[row + oy * OW + ox];
          }
        }
      }
    }
  }
}

/**
 * out [C, OH, OW] (at outOff) ← max over k×k windows of x [C, H, W] (at xOff) with stride s;
 * arg (same layout as out) ← the flat index into the image of each maximum (first one on ties).
 */
export function maxPool2dForward(
  C: number,
  H: number,
  W: number,
  k: number,
  s: number,
  x: FloatArray,
  xOff: number,
  out: FloatArray,
  outOff: number,
  arg: Int32Array,
): void {
  const OH = outSize(H, k, s, 0),
    OW = outSize(W, k, s, 0);
  for (let c = 0; c < C; c++) {
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let best = -Infinity;
        let at = -1;
        for (let i = 0; i < k; i++) {
          const row = (c * H + oy * s + i) * W + ox * s;
          for (let j = 0; j < k; j++) {
            const v = x[xOff + row + j];
            if (v > best || Number.isNaN(v)) {
              best = v;
              at = row + j;
            }
          }
        }
        const o = (c * OH + oy) * OW + ox;
        out[outOff + o] = best;
        arg[outOff + o] = at;
      }
    }
  }
}

/** dx (image at dxOff) += dout scattered to the argmax of each window. */
export function maxPool2dBackward(
  n: number,
  dout: FloatArray,
  outOff: number,
  arg: Int32Array,
  dx: FloatArray,
  dxOff: number,
): void {
  for (let o = 0; o < n; o++) dx[dxOff + arg[outOff + o]] += dout[outOff + o];
}
