// A 2-D convolution over a batch of images, as PyTorch's nn.Conv2d (cross-correlation, zero
// padding, one stride for both axes), by im2col and a matrix product per image:
//   y_n [O, OH·OW] = W [O, C·kh·kw] · cols(x_n) [C·kh·kw, OH·OW] + b
//   dW += dy_n · cols(x_n)ᵀ,  db += Σ dy_n,  dx_n = col2im(Wᵀ · dy_n)
// Parameters: weight [O, C, kh, kw] (PyTorch's layout, so fixtures load as they are), bias [O];
// PyTorch's default init (uniform ±1/√(C·kh·kw)). Images are [N, C, H, W], row-major.
// Gradients: backward ACCUMULATES into layer.grads and RETURNS a fresh dx.

import { checkFinite, checkLength, checkPositiveInt } from "../core/validate.js";
import { ValueError } from "../core/errors.js";
import type { Kernels } from "../kernels/backend.js";
import { col2im, im2col, outSize, type ConvGeometry } from "../kernels/conv.js";
import type { MacCount } from "../kernels/gated-cell.js";
import { finiteScan, layerRng, uniformInit, type NamedWeights } from "./common.js";
import type { Rng } from "../core/rng.js";
import { WeightedLayer } from "./weighted-layer.js";

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  padding?: number;
  /** Input height and width. */
  height: number;
  width: number;
  seed?: number;
  rng?: Rng;
  /** The kernels to compute with; default: the library's default kernels. */
  kernels?: Kernels;
}

export interface Conv2dResult {
  y: Float32Array; // [N, O, OH, OW]
  macs: MacCount;
  readonly saved: { x: Float32Array; N: number; kernels: Kernels };
}

export class Conv2d extends WeightedLayer {
  readonly geometry: ConvGeometry;
  readonly outChannels: number;
  readonly outHeight: number;
  readonly outWidth: number;

  constructor(o: Conv2dOptions) {
    for (const k of ["inChannels", "outChannels", "kernel", "height", "width"] as const) checkPositiveInt(k, o[k]);
    const stride = o.stride ?? 1;
    const pad = o.padding ?? 0;
    checkPositiveInt("stride", stride);
    if (!Number.isInteger(pad) || pad < 0) throw new ValueError("padding", "a whole number ≥ 0", String(pad));
    const g: ConvGeometry = { C: o.inChannels, H: o.height, W: o.width, kh: o.kernel, kw: o.kernel, stride, pad };
    const OH = outSize(g.H, g.kh, stride, pad),
      OW = outSize(g.W, g.kw, stride, pad);
    if (OH < 1 || OW < 1)
      throw new ValueError(
        "Conv2d",
        `a kernel of ${o.kernel} that fits the ${o.height}×${o.width} input (padding ${pad})`,
        `an output of ${OH}×${OW}`,
      );
    const rng = layerRng(o);
    const K = g.C * g.kh * g.kw;
    const weights: NamedWeights = {
      weight: new Float32Array(o.outChannels * K),
      bias: new Float32Array(o.outChannels),
    };
    uniformInit(rng, weights.weight, 1 / Math.sqrt(K));
    uniformInit(rng, weights.bias, 1 / Math.sqrt(K));
    super("Conv2d", rng, weights, o.kernels);
    this.geometry = g;
    this.outChannels = o.outChannels;
    this.outHeight = OH;
    this.outWidth = OW;
  }

  /** Values per input and per output image. */
  get inputSize(): number {
    return this.geometry.C * this.geometry.H * this.geometry.W;
  }

  get outputSize(): number {
    return this.outChannels * this.outHeight * this.outWidth;
  }

  /** y [N, O, OH, OW] for x [N, C, H, W]. */
  forward(x: Float32Array, N: number): Conv2dResult {
    checkPositiveInt("N", N);
    checkLength("x", x, N * this.inputSize, `N·C·H·W = ${N}·${this.inputSize}`);
    checkFinite("x", x, finiteScan(this.kernels));
    this.checkWeights();
    const kernels = this.kernels;
    const g = this.geometry;
    const K = g.C * g.kh * g.kw;
    const P = this.outHeight * this.outWidth;
    const O = this.outChannels;
    const cols = new Float32Array(K * P);
    const y = new Float32Array(N * O * P);
    const { weight, bias } = this.weights;
    for (let n = 0; n < N; n++) {
      im2col(g, x, n * this.inputSize, cols);
      const yo = n * O * P;
      for (let o = 0; o < O; o++) y.fill(bias[o], yo + o * P, yo + (o + 1) * P);
      kernels.gemmNN(O, P, K, weight, 0, cols, 0, y, yo, true);
    }
    const dense = N * O * P * K;
    return { y, macs: { executed: dense, dense }, saved: { x, N, kernels } };
  }

  /** Accumulate dW, db from dy [N, O, OH, OW]; return dx [N, C, H, W]. */
  backward(r: Conv2dResult, dy: Float32Array): { dx: Float32Array; macs: MacCount } {
    const { x, N, kernels } = r.saved;
    const g = this.geometry;
    const K = g.C * g.kh * g.kw;
    const P = this.outHeight * this.outWidth;
    const O = this.outChannels;
    checkLength("dy", dy, N * O * P, `N·O·OH·OW = ${N}·${O * P}`);
    checkFinite("dy", dy, finiteScan(kernels));
    const cols = new Float32Array(K * P);
    const dcols = new Float32Array(K * P);
    const dx = new Float32Array(N * this.inputSize);
    const { weight } = this.weights;
    const { weight: dW, bias: db } = this.grads;
    for (let n = 0; n < N; n++) {
      const yo = n * O * P;
      im2col(g, x, n * this.inputSize, cols);
      kernels.gemmNT(O, K, P, dy, yo, cols, 0, dW, 0, true);
      for (let o = 0; o < O; o++) {
        let s = 0;
        for (let p = 0; p < P; p++) s += dy[yo + o * P + p];
        db[o] += s;
      }
      kernels.gemmTN(K, P, O, weight, 0, dy, yo, dcols, 0, false);
      col2im(g, dcols, dx, n * this.inputSize);
    }
    const dense = 2 * N * O * P * K;
    return { dx, macs: { executed: dense, dense } };
  }
}
