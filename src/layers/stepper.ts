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

/** What both steppers share: the shape, the bound input and recurrent matrices, the MAC counter. */
abstract class BoundStepper implements Stepper {
  readonly batch: number;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly macs: MacCount = { executed: 0, dense: 0 };
  protected readonly kernels: Kernels;
  /** kernel [I, 3H] and recurrent_kernel [H, 3H], copied into the kernels' memory where it exists. */
  protected readonly W: Float32Array;
  protected readonly R: Float32Array;
  private disposed = false;

  protected constructor(name: string, layer: EGRU | GRU, batch: number) {
    checkPositiveInt("batch", batch);
    checkWeightsFinite(layer.weights, name);
    this.kernels = layer.kernels;
    this.batch = batch;
    this.inputSize = layer.inputSize;
    this.outputSize = layer.hiddenSize;
    this.W = resident(this.kernels, layer.weights.kernel);
    this.R = resident(this.kernels, layer.weights.recurrent_kernel);
  }

  abstract step(x: Float32Array): Float32Array;

  /** Zero the state (each stepper's own) and the MAC counter. */
  reset(): void {
    this.resetState();
    this.macs.executed = 0;
    this.macs.dense = 0;
  }

  protected abstract resetState(): void;

  /** Check x [B, I] and that the stepper is live; called first by every step. */
  protected checkStep(x: Float32Array): void {
    if (this.disposed) throw new StateError("stepper", "a live stepper", "a disposed one");
    checkLength("x", x, this.batch * this.inputSize, `B·I = ${this.batch}·${this.inputSize}`);
    checkFinite("x", x);
  }

  protected count(m: MacCount): void {
    this.macs.executed += m.executed;
    this.macs.dense += m.dense;
  }

  /** Release the kernel memory holding the weight copies; the stepper is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.kernels.free) for (const a of [this.W, this.R]) this.kernels.free(a);
  }
}

export class EgruStepper extends BoundStepper {
  private readonly layer: EGRU;
  private readonly params: EgruKernelParams<Float32Array>;
  private readonly zoneout: Zoneout<Float32Array>;
  private y: Float32Array;
  private h: Float32Array;
  private tr: Float32Array;

  constructor(layer: EGRU, batch: number) {
    super("EGRU", layer, batch);
    this.layer = layer;
    const w = layer.weights;
    this.params = { W: this.W, R: this.R, bx: w.bias.slice(), br: w.recurrent_bias.slice(), thr: layer.thresholds() };
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
    this.checkStep(x);
    const { batch: B, inputSize: I, outputSize: H } = this;
    const f = egruForward({
      dims: { T: 1, B, I, H }, params: this.params, x, y0: this.y, h0: this.h, tr0: this.tr, zoneout: this.zoneout,
      alpha: this.layer.traceDecay, event: this.layer.event, kernels: this.kernels, inputEvents: this.layer.inputEvents,
    });
    this.y = f.y;
    this.h = f.h;
    this.tr = f.tr;
    this.count(f.macs);
    return f.y;
  }

  protected resetState(): void {
    this.y.fill(0);
    this.h.fill(0);
    this.tr.fill(0);
  }
}

export class GruStepper extends BoundStepper {
  private readonly params: GruKernelParams<Float32Array>;
  private readonly zoneout: Zoneout<Float32Array>;
  private h: Float32Array;

  constructor(layer: GRU, batch: number) {
    super("GRU", layer, batch);
    const w = layer.weights;
    this.params = { W: this.W, R: this.R, bx: w.bias.slice(), br: w.recurrent_bias.slice() };
    this.zoneout = layer.zoneout > 0 ? { kind: "eval", p: layer.zoneout } : { kind: "none" };
    this.h = new Float32Array(batch * layer.hiddenSize);
  }

  get state(): { h: Float32Array } {
    return { h: this.h };
  }

  step(x: Float32Array): Float32Array {
    this.checkStep(x);
    const { batch: B, inputSize: I, outputSize: H } = this;
    const f = gruForward({
      dims: { T: 1, B, I, H }, params: this.params, x, h0: this.h, zoneout: this.zoneout, kernels: this.kernels,
    });
    this.h = f.h;
    const macs = B * 3 * H * (I + H);
    this.count({ executed: macs, dense: macs });
    return f.h;
  }

  protected resetState(): void {
    this.h.fill(0);
  }
}
