// Streaming inference, one time step at a time, with the weights bound once.
//
// layer.step() checks every weight on every call, which costs as much as the step itself for
// large layers. A stepper snapshots the layer's (evaluation-mode) parameters when it is made —
// into the kernels' own memory where they have one, so WebAssembly kernels read them in place —
// checks them once, and then runs steps with only the per-step work. Make a new stepper after
// the weights change. Zoneout, where configured, is the evaluation mix; DropConnect is off.

import { StateError } from "../core/errors.js";
import { checkFinite, checkLength, checkPositiveInt } from "../core/validate.js";
import type { Kernels } from "../kernels/backend.js";
import { egruForward, type EgruKernelParams } from "../kernels/egru.js";
import type { MacCount, Zoneout } from "../kernels/gated-cell.js";
import { gruForward, type GruKernelParams } from "../kernels/gru.js";
import { checkWeightsFinite } from "./common.js";
import type { EGRU } from "./egru.js";
import type { GRU } from "./gru.js";

/** One layer's streaming inference over a batch of B independent streams. */
export interface Stepper {
  readonly batch: number;
  readonly inputSize: number;
  readonly outputSize: number;
  /** Feed x [B, I]; returns the output [B, H] of this step (a fresh array). */
  step(x: Float32Array): Float32Array;
  /** Start every stream again from the zero state. */
  reset(): void;
  /** Multiply-accumulates executed and dense since construction or reset(). */
  readonly macs: MacCount;
}

/** A copy of `a` in the kernels' memory when they have one, else a plain copy. */
function resident(kernels: Kernels, a: Float32Array): Float32Array {
  const out = kernels.alloc ? kernels.alloc(a.length) : new Float32Array(a.length);
  out.set(a);
  return out;
}

function checkInput(x: Float32Array, B: number, I: number): void {
  checkLength("x", x, B * I, `B·I = ${B}·${I}`);
  checkFinite("x", x);
}

export class EgruStepper implements Stepper {
  readonly batch: number;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly macs: MacCount = { executed: 0, dense: 0 };
  private readonly layer: EGRU;
  private readonly kernels: Kernels;
  private readonly params: EgruKernelParams<Float32Array>;
  private readonly zoneout: Zoneout<Float32Array>;
  private y: Float32Array;
  private h: Float32Array;
  private tr: Float32Array;

  constructor(layer: EGRU, batch: number) {
    checkPositiveInt("batch", batch);
    checkWeightsFinite(layer.weights, "EGRU");
    this.layer = layer;
    this.kernels = layer.kernels;
    this.batch = batch;
    this.inputSize = layer.inputSize;
    this.outputSize = layer.hiddenSize;
    const w = layer.weights;
    this.params = {
      W: resident(this.kernels, w.kernel), R: resident(this.kernels, w.recurrent_kernel),
      bx: w.bias.slice(), br: w.recurrent_bias.slice(), thr: layer.thresholds(),
    };
    this.zoneout = layer.zoneout > 0 ? { kind: "eval", p: layer.zoneout } : { kind: "none" };
    const n = batch * layer.hiddenSize;
    this.y = new Float32Array(n);
    this.h = new Float32Array(n);
    this.tr = new Float32Array(n);
  }

  /** The state after the last step: event output y, internal state h, trace tr, each [B, H]. */
  get state(): { y: Float32Array; h: Float32Array; tr: Float32Array } {
    return { y: this.y, h: this.h, tr: this.tr };
  }

  step(x: Float32Array): Float32Array {
    const { batch: B, inputSize: I, outputSize: H } = this;
    checkInput(x, B, I);
    const f = egruForward({
      dims: { T: 1, B, I, H }, params: this.params, x, y0: this.y, h0: this.h, tr0: this.tr, zoneout: this.zoneout,
      alpha: this.layer.traceDecay, event: this.layer.event, kernels: this.kernels, inputEvents: this.layer.inputEvents,
    });
    this.y = f.y;
    this.h = f.h;
    this.tr = f.tr;
    this.macs.executed += f.macs.executed;
    this.macs.dense += f.macs.dense;
    return f.y;
  }

  reset(): void {
    this.y.fill(0);
    this.h.fill(0);
    this.tr.fill(0);
    this.macs.executed = 0;
    this.macs.dense = 0;
  }

  /** Release the kernel memory holding the weight copies; the stepper is unusable afterwards. */
  dispose(): void {
    disposeResident(this.kernels, [this.params.W, this.params.R]);
    this.step = () => {
      throw new StateError("stepper", "a live stepper", "a disposed one");
    };
  }
}

export class GruStepper implements Stepper {
  readonly batch: number;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly macs: MacCount = { executed: 0, dense: 0 };
  private readonly kernels: Kernels;
  private readonly params: GruKernelParams<Float32Array>;
  private readonly zoneout: Zoneout<Float32Array>;
  private h: Float32Array;

  constructor(layer: GRU, batch: number) {
    checkPositiveInt("batch", batch);
    checkWeightsFinite(layer.weights, "GRU");
    this.kernels = layer.kernels;
    this.batch = batch;
    this.inputSize = layer.inputSize;
    this.outputSize = layer.hiddenSize;
    const w = layer.weights;
    this.params = {
      W: resident(this.kernels, w.kernel), R: resident(this.kernels, w.recurrent_kernel),
      bx: w.bias.slice(), br: w.recurrent_bias.slice(),
    };
    this.zoneout = layer.zoneout > 0 ? { kind: "eval", p: layer.zoneout } : { kind: "none" };
    this.h = new Float32Array(batch * layer.hiddenSize);
  }

  get state(): { h: Float32Array } {
    return { h: this.h };
  }

  step(x: Float32Array): Float32Array {
    const { batch: B, inputSize: I, outputSize: H } = this;
    checkInput(x, B, I);
    const f = gruForward({
      dims: { T: 1, B, I, H }, params: this.params, x, h0: this.h, zoneout: this.zoneout, kernels: this.kernels,
    });
    this.h = f.h;
    const macs = B * 3 * H * (I + H);
    this.macs.executed += macs;
    this.macs.dense += macs;
    return f.h;
  }

  reset(): void {
    this.h.fill(0);
    this.macs.executed = 0;
    this.macs.dense = 0;
  }

  dispose(): void {
    disposeResident(this.kernels, [this.params.W, this.params.R]);
    this.step = () => {
      throw new StateError("stepper", "a live stepper", "a disposed one");
    };
  }
}

function disposeResident(kernels: Kernels, arrays: Float32Array[]): void {
  if (kernels.free) for (const a of arrays) kernels.free(a);
}
