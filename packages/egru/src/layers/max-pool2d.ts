// Max pooling over a batch of images, as PyTorch's nn.MaxPool2d(k, stride) (no padding, floor
// mode): forward keeps the argmax of every window, backward sends each gradient to it.
// Images are [N, C, H, W], row-major. No parameters.

import { ValueError } from "../core/errors.js";
import { checkLength, checkPositiveInt } from "../core/validate.js";
import { maxPool2dBackward, maxPool2dForward, outSize } from "../kernels/conv.js";

export interface MaxPool2dResult {
  y: Float32Array; // [N, C, OH, OW]
  readonly saved: { arg: Int32Array; N: number };
}

export class MaxPool2d {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly kernel: number;
  readonly stride: number;
  readonly outHeight: number;
  readonly outWidth: number;

  constructor(o: { channels: number; height: number; width: number; kernel: number; stride?: number }) {
    for (const k of ["channels", "height", "width", "kernel"] as const) checkPositiveInt(k, o[k]);
    this.channels = o.channels;
    this.height = o.height;
    this.width = o.width;
    this.kernel = o.kernel;
    this.stride = o.stride ?? o.kernel;
    checkPositiveInt("stride", this.stride);
    this.outHeight = outSize(o.height, o.kernel, this.stride, 0);
    this.outWidth = outSize(o.width, o.kernel, this.stride, 0);
    if (this.outHeight < 1 || this.outWidth < 1)
      throw new ValueError("MaxPool2d", `a window of ${o.kernel} that fits ${o.height}×${o.width}`, "none");
  }

  get inputSize(): number {
    return this.channels * this.height * this.width;
  }

  get outputSize(): number {
    return this.channels * this.outHeight * this.outWidth;
  }

  forward(x: Float32Array, N: number): MaxPool2dResult {
    checkPositiveInt("N", N);
    checkLength("x", x, N * this.inputSize, `N·C·H·W = ${N}·${this.inputSize}`);
    const y = new Float32Array(N * this.outputSize);
    const arg = new Int32Array(N * this.outputSize);
    for (let n = 0; n < N; n++) {
      maxPool2dForward(
        this.channels,
        this.height,
        this.width,
        this.kernel,
        this.stride,
        x,
        n * this.inputSize,
        y,
        n * this.outputSize,
        arg,
      );
    }
    return { y, saved: { arg, N } };
  }

  /** dx [N, C, H, W] for dy [N, C, OH, OW]. */
  backward(r: MaxPool2dResult, dy: Float32Array): Float32Array {
    const { arg, N } = r.saved;
    checkLength("dy", dy, N * this.outputSize, `N·C·OH·OW = ${N}·${this.outputSize}`);
    const dx = new Float32Array(N * this.inputSize);
    for (let n = 0; n < N; n++)
      maxPool2dBackward(this.outputSize, dy, n * this.outputSize, arg, dx, n * this.inputSize);
    return dx;
  }
}
