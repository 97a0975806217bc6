// Streaming inference, one time step at a time, with the weights bound once.
//
// layer.step() checks every weight on every call, which costs as much as the step itself for
// large layers. A stepper snapshots the layer's (evaluation-mode) parameters when it is made —
// into the kernels' own memory where they have one, so WebAssembly kernels read them in place —
// checks them once, and then runs steps with only the per-step work. Make a new stepper after
// the weights change. Zoneout, where configured, is the evaluation mix; DropConnect is off. A layer
// with int8 weights (quantize()) gives a stepper on them: the int8 values and their scales are
// copied into the kernels' memory instead (a quarter of the bytes).

import { StateError } from "../core/errors.js";
import { checkFinite, checkLength, checkPositiveInt } from "../core/validate.js";
import type { Kernels } from "../kernels/backend.js";
import { KernelScratch } from "../kernels/scratch.js";
import type { EgruTape } from "../kernels/cell-pointwise.js";
import type { EgruStepArgs } from "../kernels/egru-step.js";
import { eventOrDenseNN } from "../kernels/products.js";
import type { MacCount, Zoneout } from "../kernels/gated-cell.js";
import { addBiasRows } from "../kernels/gemm.js";
import { gruForward, type GruForwardParams } from "../kernels/gru.js";
import { lstmForward, type LstmForwardParams } from "../kernels/lstm.js";
import type { Weight } from "../kernels/products.js";
import { int8InScratch } from "../kernels/scratch.js";
import { checkWeightsFinite } from "./common.js";
import type { EGRU } from "./egru.js";
import type { GRU } from "./gru.js";
import type { LSTM } from "./lstm.js";

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

/** What the steppers share: the shape, the bound input and recurrent matrices, the MAC counter. */
abstract class BoundStepper implements Stepper {
  readonly batch: number;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly macs: MacCount = { executed: 0, dense: 0 };
  protected readonly kernels: Kernels;
  /**
   * The input and recurrent matrices (EGRU, GRU: kernel [I, 3H], recurrent_kernel [H, 3H]; LSTM:
   * weight_ih_l0 [4H, I], weight_hh_l0 [4H, H]; int8 ones [K, N]), copied into the kernels' memory
   * where it exists.
   */
  protected readonly W: Weight<Float32Array>;
  protected readonly R: Weight<Float32Array>;
  private disposed = false;
  /** The weight copies and working arrays, in the kernels' memory where it exists. */
  private readonly scratch: KernelScratch;

  protected constructor(name: string, layer: EGRU | GRU | LSTM, batch: number, [input, recurrent]: [string, string]) {
    checkPositiveInt("batch", batch);
    checkWeightsFinite(layer.weights, name);
    this.kernels = layer.kernels;
    this.scratch = new KernelScratch(this.kernels);
    this.batch = batch;
    this.inputSize = layer.inputSize;
    this.outputSize = layer.hiddenSize;
    this.W = this.keepWeight(layer, input);
    this.R = this.keepWeight(layer, recurrent);
  }

  /** A copy of the layer's weight `name` in the kernels' memory: its int8 matrix when it has one, else the floats. */
  private keepWeight(layer: EGRU | GRU | LSTM, name: string): Weight<Float32Array> {
    const m = layer.int8Weight(name);
    return m ? int8InScratch(this.scratch, m) : this.keepResident(layer.weights[name]);
  }

  /** A copy of `a` in the kernels' memory (where they have one), freed by dispose(). */
  protected keepResident(a: Float32Array): Float32Array {
    const out = this.work(a.length);
    out.set(a);
    return out;
  }

  /** A zeroed array in the kernels' memory (where they have one), freed by dispose(). */
  protected work(n: number): Float32Array {
    return this.scratch.zeros32(n);
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
    this.scratch.release();
  }
}

export class EgruStepper extends BoundStepper {
  private readonly layer: EGRU;
  private readonly bx: Float32Array;
  private readonly br: Float32Array;
  private readonly thr: Float32Array;
  private readonly keepConst: number;
  /** Working arrays in the kernels' memory (where they have one), so no call copies anything. */
  private readonly x: Float32Array; // [B, I] this step's input
  private readonly a: Float32Array; // [B, 3H] input pre-activations
  private readonly q: Float32Array; // [B, 3H] recurrent pre-activations
  private readonly y: Float32Array; // [B, H] state, updated in place by each step
  private readonly h: Float32Array;
  private readonly tr: Float32Array;
  private readonly o: Float32Array; // [B, H] the cell's tape, written and not used
  private readonly tape: EgruTape<Float32Array>;
  /** The arrays of the fused step (the same every step), made on its first use. */
  private stepArgs: EgruStepArgs | null = null;

  constructor(layer: EGRU, batch: number) {
    super("EGRU", layer, batch, ["kernel", "recurrent_kernel"]);
    this.layer = layer;
    const w = layer.weights;
    this.bx = this.keepResident(w.bias);
    this.br = this.keepResident(w.recurrent_bias);
    this.thr = this.keepResident(layer.thresholds());
    this.keepConst = layer.zoneout > 0 ? 1 - layer.zoneout : 1;
    const n = batch * layer.hiddenSize;
    const g = 3 * n;
    this.x = this.work(batch * layer.inputSize);
    this.a = this.work(g);
    this.q = this.work(g);
    this.y = this.work(n);
    this.h = this.work(n);
    this.tr = this.work(n);
    this.o = this.work(n);
    this.tape = { c: this.work(n), z: this.work(n), r: this.work(n), g: this.work(n), hr: this.work(n) };
  }

  /** The state after the last step: event output y, internal state h, trace tr, each [B, H] (copies). */
  get state(): { y: Float32Array; h: Float32Array; tr: Float32Array } {
    return { y: this.y.slice(), h: this.h.slice(), tr: this.tr.slice() };
  }

  /**
   * One step: the same operations as egruForward over T = 1 (so the same bits), with the state
   * updated in place and every operand already in the kernels' memory.
   */
  step(x: Float32Array): Float32Array {
    this.checkStep(x);
    const { batch: B, inputSize: I, outputSize: H, kernels: k, a, q } = this;
    const G = 3 * H;
    this.x.set(x);
    const fused = this.fusedStep();
    if (fused >= 0) {
      this.count({ executed: fused, dense: B * G * (I + H) });
      return this.y.slice();
    }
    let executed = eventOrDenseNN(k, this.layer.inputEvents, B, G, I, this.x, 0, this.W, a);
    addBiasRows(a, 0, B, G, this.bx);
    executed += eventOrDenseNN(k, true, B, G, H, this.y, 0, this.R, q);
    addBiasRows(q, 0, B, G, this.br);
    k.egruCellForward({
      B,
      H,
      a,
      aOff: 0,
      q,
      qOff: 0,
      hPrev: this.h,
      hPrevOff: 0,
      trPrev: this.tr,
      trPrevOff: 0,
      thr: this.thr,
      keep: null,
      keepOff: 0,
      keepConst: this.keepConst,
      alpha: this.layer.traceDecay,
      event: this.layer.event,
      out: { y: this.y, h: this.h, o: this.o, tr: this.tr, tape: this.tape },
      outOff: 0,
    });
    this.count({ executed, dense: B * G * (I + H) });
    return this.y.slice();
  }

  /**
   * The step in one kernel call where the kernels have one (egruStep: one stream, float or int8
   * weights, the Heaviside event, every array in their memory): the same bits as the calls of step(), one
   * dispatch a layer on several threads. Returns the MACs executed, or −1 (nothing done) where it
   * does not apply.
   */
  private fusedStep(): number {
    const { kernels: k, layer } = this;
    if (!k.egruStep || this.batch !== 1 || layer.event.kind !== "heaviside") return -1;
    this.stepArgs ??= {
      I: this.inputSize,
      H: this.outputSize,
      xMode: layer.inputEvents ? 1 : 0,
      x: this.x,
      W: this.W,
      y: this.y,
      R: this.R,
      bx: this.bx,
      br: this.br,
      h: this.h,
      tr: this.tr,
      thr: this.thr,
      keepConst: this.keepConst,
      alpha: layer.traceDecay,
      o: this.o,
      tape: this.tape,
      a: this.a,
      q: this.q,
    };
    return k.egruStep(this.stepArgs);
  }

  protected resetState(): void {
    this.y.fill(0);
    this.h.fill(0);
    this.tr.fill(0);
  }
}

export class GruStepper extends BoundStepper {
  private readonly params: GruForwardParams<Float32Array>;
  private readonly zoneout: Zoneout<Float32Array>;
  private h: Float32Array;

  constructor(layer: GRU, batch: number) {
    super("GRU", layer, batch, ["kernel", "recurrent_kernel"]);
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
      dims: { T: 1, B, I, H },
      params: this.params,
      x,
      h0: this.h,
      zoneout: this.zoneout,
      kernels: this.kernels,
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

export class LstmStepper extends BoundStepper {
  private readonly params: LstmForwardParams<Float32Array>;
  private h: Float32Array;
  private c: Float32Array;

  constructor(layer: LSTM, batch: number) {
    super("LSTM", layer, batch, ["weight_ih_l0", "weight_hh_l0"]);
    const w = layer.weights;
    this.params = { Wih: this.W, Whh: this.R, bih: w.bias_ih_l0.slice(), bhh: w.bias_hh_l0.slice() };
    this.h = new Float32Array(batch * layer.hiddenSize);
    this.c = new Float32Array(batch * layer.hiddenSize);
  }

  /** The hidden and cell states after the last step, each [B, H]. */
  get state(): { h: Float32Array; c: Float32Array } {
    return { h: this.h, c: this.c };
  }

  step(x: Float32Array): Float32Array {
    this.checkStep(x);
    const { batch: B, inputSize: I, outputSize: H } = this;
    const f = lstmForward({
      dims: { T: 1, B, I, H },
      params: this.params,
      x,
      h0: this.h,
      c0: this.c,
      kernels: this.kernels,
    });
    this.h = f.h;
    this.c = f.c;
    const macs = B * 4 * H * (I + H);
    this.count({ executed: macs, dense: macs });
    return f.h;
  }

  protected resetState(): void {
    this.h.fill(0);
    this.c.fill(0);
  }
}
