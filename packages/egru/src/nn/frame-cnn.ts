// A per-frame CNN front-end, applied time-distributed: every frame of a clip (N = T·B rows of
// C·H·W values, time-major as the recurrent layers read them) goes through the same stack of
// Conv2d, ReLU, MaxPool2d and a final Linear, giving N feature rows for the recurrent stack. The
// stack is a list of layer specs; ALEXNET_FRONT_END is the DVS Gesture ICLR setup's (docs/paper-setups.md#dvs-gesture-setup).

import { ValueError } from "../core/errors.js";
import type { Kernels } from "../kernels/backend.js";
import type { Rng } from "../core/rng.js";
import type { MacCount } from "../kernels/gated-cell.js";
import { Conv2d, type Conv2dResult } from "../layers/conv2d.js";
import { Linear, type LinearResult } from "../layers/linear.js";
import { MaxPool2d, type MaxPool2dResult } from "../layers/max-pool2d.js";
import { layerParams, type Param } from "./params.js";

export type CnnLayerSpec =
  | { kind: "conv"; out: number; kernel: number; stride?: number; padding?: number }
  | { kind: "relu" }
  | { kind: "pool"; kernel: number; stride?: number }
  | { kind: "linear"; out: number };

/** The ICLR DVS front-end on one 128×128 channel: 128 → 31 → 15 → 7 → 3 → 1, then 256 → 512. */
export const ALEXNET_FRONT_END: CnnLayerSpec[] = [
  { kind: "conv", out: 64, kernel: 11, stride: 4, padding: 2 },
  { kind: "relu" },
  { kind: "pool", kernel: 3, stride: 2 },
  { kind: "conv", out: 192, kernel: 5, padding: 2 },
  { kind: "relu" },
  { kind: "pool", kernel: 3, stride: 2 },
  { kind: "conv", out: 384, kernel: 3, padding: 1 },
  { kind: "relu" },
  { kind: "pool", kernel: 3, stride: 2 },
  { kind: "conv", out: 256, kernel: 3, padding: 1 },
  { kind: "relu" },
  { kind: "pool", kernel: 3, stride: 2 },
  { kind: "conv", out: 256, kernel: 3, padding: 1 },
  { kind: "relu" },
  { kind: "linear", out: 512 },
];

type Stage =
  | { kind: "conv"; layer: Conv2d }
  | { kind: "relu"; size: number }
  | { kind: "pool"; layer: MaxPool2d }
  | { kind: "linear"; layer: Linear };

type Saved = Conv2dResult | MaxPool2dResult | LinearResult | Float32Array; // relu keeps its output

export interface FrameCnnRun {
  N: number;
  /** Features [N, outputSize]. */
  y: Float32Array;
  macs: MacCount;
  readonly saved: Saved[];
}

export class FrameCnn {
  readonly stages: Stage[] = [];
  readonly inputSize: number;
  readonly outputSize: number;

  constructor(
    spec: CnnLayerSpec[],
    input: { channels: number; height: number; width: number },
    rng: Rng,
    kernels?: Kernels,
  ) {
    const withKernels = { kernels }; // spread into every layer's options
    if (spec.length === 0) throw new ValueError("front end", "at least one layer", "none");
    let [C, H, W] = [input.channels, input.height, input.width];
    this.inputSize = C * H * W;
    spec.forEach((s, k) => {
      const where = `front end layer ${k} (${s.kind})`;
      if (s.kind === "conv") {
        const layer = new Conv2d({
          ...withKernels,
          inChannels: C,
          outChannels: s.out,
          kernel: s.kernel,
          stride: s.stride,
          padding: s.padding,
          height: H,
          width: W,
          rng,
        });
        this.stages.push({ kind: "conv", layer });
        [C, H, W] = [s.out, layer.outHeight, layer.outWidth];
      } else if (s.kind === "relu") {
        this.stages.push({ kind: "relu", size: C * H * W });
      } else if (s.kind === "pool") {
        const layer = new MaxPool2d({ channels: C, height: H, width: W, kernel: s.kernel, stride: s.stride });
        this.stages.push({ kind: "pool", layer });
        [C, H, W] = [C, layer.outHeight, layer.outWidth];
      } else if (s.kind === "linear") {
        if (k !== spec.length - 1)
          throw new ValueError(where, "the last layer (a linear layer flattens)", `layer ${k} of ${spec.length}`);
        const layer = new Linear({ ...withKernels, inputSize: C * H * W, outputSize: s.out, rng });
        this.stages.push({ kind: "linear", layer });
        [C, H, W] = [s.out, 1, 1];
      } else {
        throw new ValueError(
          where,
          '"conv", "relu", "pool" or "linear"',
          JSON.stringify((s as { kind: unknown }).kind),
        );
      }
    });
    this.outputSize = C * H * W;
  }

  /** The parameters, named frontEnd.<k>.<weight|bias>. */
  params(): Param[] {
    return this.stages.flatMap((s, k) =>
      s.kind === "conv" || s.kind === "linear" ? layerParams(`frontEnd.${k}`, s.layer) : [],
    );
  }

  /** Keep the weights and gradients in the memory of `kernels` (WeightedLayer.placeIn). */
  placeIn(kernels: Kernels): void {
    for (const s of this.stages) if (s.kind === "conv" || s.kind === "linear") s.layer.placeIn(kernels);
  }

  /** Features [N, outputSize] of N frames x [N, inputSize]. */
  forward(x: Float32Array, N: number): FrameCnnRun {
    const saved: Saved[] = [];
    const macs: MacCount = { executed: 0, dense: 0 };
    let h = x;
    for (const s of this.stages) {
      if (s.kind === "relu") {
        h = h.map((v) => (v > 0 ? v : 0));
        saved.push(h);
      } else {
        const r = s.layer.forward(h, N);
        saved.push(r);
        if ("macs" in r) {
          macs.executed += r.macs.executed;
          macs.dense += r.macs.dense;
        }
        h = r.y;
      }
    }
    return { N, y: h, macs, saved };
  }

  /** Accumulate the parameters' gradients for dy [N, outputSize]; return dx [N, inputSize] and the MACs. */
  backward(run: FrameCnnRun, dy: Float32Array): { dx: Float32Array; macs: MacCount } {
    const macs: MacCount = { executed: 0, dense: 0 };
    let g = dy;
    for (let k = this.stages.length - 1; k >= 0; k--) {
      const s = this.stages[k];
      const r = run.saved[k];
      if (s.kind === "relu") {
        const out = r as Float32Array;
        g = g.map((v, i) => (out[i] > 0 ? v : 0));
      } else if (s.kind === "pool") {
        g = s.layer.backward(r as MaxPool2dResult, g);
      } else {
        const b = s.kind === "conv" ? s.layer.backward(r as Conv2dResult, g) : s.layer.backward(r as LinearResult, g);
        macs.executed += b.macs.executed;
        macs.dense += b.macs.dense;
        g = b.dx;
      }
    }
    return { dx: g, macs };
  }

  train(): this {
    for (const s of this.stages) if (s.kind === "conv" || s.kind === "linear") s.layer.train();
    return this;
  }

  eval(): this {
    for (const s of this.stages) if (s.kind === "conv" || s.kind === "linear") s.layer.eval();
    return this;
  }
}
