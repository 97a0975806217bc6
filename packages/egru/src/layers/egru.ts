// The EGRU layer (one layer, whole sequences and single steps), as EvNN computes it.
// Owns the parameters in EvNN's layout, the thresholds' two parameterisations, DropConnect
// and zoneout masks, and the per-forward statistics. The math lives in kernels/egru.ts.
//
// Parameters (named Float32Arrays, gate blocks ordered z, r, g):
//   kernel [I, 3H]  recurrent_kernel [H, 3H]  bias [3H]  recurrent_bias [3H]  thr [H]
// In "clamp" mode thr holds ϑ itself (clamped to [0, 1] in place before every forward);
// in "sigmoid" mode thr holds logits θ and ϑ = σ(θ).
//
// Int8 weights (quantize(): kernel and recurrent_kernel, see layers/weighted-layer.ts) serve the
// evaluation forward, step() and the stepper; a training forward or a backward is then a StateError.
//
// Gradients: backward ACCUMULATES into layer.grads (call zeroGrad() between steps) and
// RETURNS fresh arrays for the input and the initial state. With gradClip > 0 (EvNN's grad_clip),
// each call's own contribution is clipped before it is added (layers/grad-clip.ts): what earlier
// calls left in layer.grads is never rescaled; a gradient group clips the sum of several calls.

import { StateError, ValueError } from "../core/errors.js";
import { recycle } from "../core/pool.js";
import type { Rng } from "../core/rng.js";
import { checkPositiveInt, checkProbability, checkRange } from "../core/validate.js";
import { heavisideEvent, sigmoid, type EventFunction } from "../kernels/activations.js";
import type { Kernels } from "../kernels/backend.js";
import { nonzerosOn, type MacCount } from "../kernels/gated-cell.js";
import { countOutside } from "../kernels/train-ops.js";
import { receiveMaskCount } from "../kernels/row-ops.js";
import {
  EGRU_OUTPUTS,
  egruBackward,
  egruForward,
  type EgruForwardOut,
  type EgruKernelParams,
  type SeqDims,
  type Zoneout,
} from "../kernels/egru.js";
import {
  ResidentCopy,
  accumulateThroughDropConnect,
  addGradient,
  checkNotReleased,
  checkMask,
  checkSequenceInput,
  forwardInput,
  dropConnect,
  forwardMasks,
  fromTimeMajor,
  layerRng,
  stateArg,
  toTimeMajor,
  upstreamTimeMajor,
  xavierNormal,
  type LayerStats,
  type NamedWeights,
  type SequenceShape,
  type InputGradOption,
} from "./common.js";
import { ClipGroup, type ClipGroupSums, clipFactorOf, type KernelParamGrads } from "./grad-clip.js";
import type { Int8Slot } from "./int8-weights.js";
import { WeightedLayer } from "./weighted-layer.js";
import { EgruStepper } from "./stepper.js";
import { TapeArena } from "./tape-arena.js";
import { KernelScratch } from "../kernels/scratch.js";

export type ThresholdMode = "clamp" | "sigmoid";

export interface EgruOptions {
  /** I: features per input step. */
  inputSize: number;
  /** H: number of units. */
  hiddenSize: number;
  /** "clamp" (EvNN v0.2: Beta init, clamped to [0, 1]) or "sigmoid" (v0.1: ϑ = σ(θ), θ ~ N(μ, √2)). Default "clamp". */
  thresholdMode?: ThresholdMode;
  /** clamp: mean m of the Beta(3m/(1−m), 3) init, in (0, 1), default 0.3. sigmoid: logit mean μ, default 0. */
  thresholdMean?: number;
  /** γ, peak of the triangular pseudo-derivative. Default 0.7. */
  dampeningFactor?: number;
  /** s, inverse half-width of the pseudo-derivative (support |c − ϑ| < 1/s). Default 1.0. */
  pseudoDerivativeSupport?: number;
  /** α of the output trace tr = α·tr + (1 − α)·y. Default 0.9. */
  traceDecay?: number;
  /** DropConnect probability on recurrent_kernel, in [0, 1). Default 0. */
  dropConnect?: number;
  /** Zoneout probability on the state, in [0, 1). Default 0. */
  zoneout?: number;
  /** Xavier-normal gain for kernel and recurrent_kernel. Default 1. */
  weightGain?: number;
  /**
   * EvNN's grad_clip, the clip inside backward (docs/egru-math.md §3.7): when > 0, each backward
   * call scales its own gradients of y0, kernel, recurrent_kernel, bias, recurrent_bias and thr by
   * clamp(gradClip / (norm + 1e-6), 0, 1), norm = their joint L2 norm (over the effective R and ϑ,
   * as EvNN takes it); dx is not scaled. 0 = off. Default 0.
   */
  gradClip?: number;
  /** Seed for init and masks (ignored when rng is given). Default 0. */
  seed?: number;
  /** Shared random stream for init and masks. */
  rng?: Rng;
  /** Replace the event function (tests use a smooth one). Default: Heaviside with the triangle surrogate. */
  event?: EventFunction;
  /** The kernels to compute with; default: the library's default kernels at each call (see wasm/select.ts). */
  kernels?: Kernels;
  /** The input is the event output of an EGRU layer below (mostly zeros): skip its zeros in the input products. */
  inputEvents?: boolean;
}

/** Streaming state between steps, each [B, H]. */
export interface EgruState {
  y: Float32Array; // last event output (feeds the recurrent product)
  h: Float32Array; // internal state after the soft reset
  tr: Float32Array; // output trace
}

export interface EgruForwardInput extends SequenceShape {
  /** [T, B, I] (or [B, T, I] with batchFirst). */
  x: ArrayLike<number>;
  /** Initial previous output y0 [B, H]; zeros when absent. The internal state always starts at 0. */
  y0?: ArrayLike<number> | null;
  /** Override the random masks (training mode only): dropConnect [H, 3H], zoneout [T, B, H] time-major, 0/1. */
  masks?: { dropConnect?: ArrayLike<number>; zoneout?: ArrayLike<number> };
}

/** Result of a forward: outputs in the caller's layout, plus what backward needs. */
export interface EgruForwardResult {
  y: Float32Array; // [T, B, H] graded events
  /** The same array as y: the layer's output, under the name GRU and LSTM results use. */
  output: Float32Array;
  h: Float32Array; // [T, B, H] internal state (post-reset)
  o: Float32Array; // [T, B, H] event gates 0/1
  trace: Float32Array; // [T, B, H]
  /** Final state, to continue a stream or the next BPTT segment. */
  state: EgruState;
  stats: LayerStats;
  /** Saved context for backward (treat as opaque). */
  readonly saved: EgruSaved;
  /**
   * Hand this forward's outputs (y, h, o, trace in the forward's layout, unless batch-first made
   * copies) and its tape back to the array pool once done with them — typically after backward.
   * Training loops should: fresh memory costs the operating system a page fault per 4 KiB on
   * first touch. Afterwards the result's arrays must not be used, and backward refuses it.
   * A training forward on kernels with memory of their own (WebAssembly) writes its outputs and tape
   * into the layer's blocks there (layers/tape-arena.ts): y, h, o and trace are then views into that
   * memory, which the layer's next training forward reuses once this one is released (or, never
   * released, once they are garbage-collected). Copy what must outlive release() (slice()).
   */
  release(): void;
}

interface EgruSaved {
  shape: SequenceShape;
  x: Float32Array; // time-major
  y0: Float32Array;
  params: EgruKernelParams<Float32Array>;
  zoneout: Zoneout<Float32Array>;
  dropConnectMask: Float32Array | null;
  fwd: EgruForwardOut<Float32Array>;
  kernels: Kernels;
  residentTag: number;
  /** x is a copy made by the forward (batch-first or not float32), so release() may recycle it. */
  ownsX: boolean;
  released: boolean;
}

export interface EgruUpstreamGrads {
  /** ∂L/∂y, ∂L/∂h, ∂L/∂o, ∂L/∂trace, each [T, B, H] in the forward's layout; absent = 0. */
  dy?: ArrayLike<number> | null;
  /** ∂L/∂output: dy under the name GRU and LSTM use (give one of the two). */
  dOutput?: ArrayLike<number> | null;
  dh?: ArrayLike<number> | null;
  do?: ArrayLike<number> | null;
  dtrace?: ArrayLike<number> | null;
}

export interface EgruBackwardOptions extends InputGradOption {
  /**
   * [T, B, I] 0/1 in the forward's layout: the input entries whose gradient is needed. In a stack,
   * pass the receiveMask() of the EGRU layer below: its silent units outside the surrogate window
   * drop whatever gradient reaches them, so it need not be computed. dx is 0 where the mask is 0.
   */
  dxMask?: ArrayLike<number> | null;
}

export interface EgruInputGrads {
  dx: Float32Array; // [T, B, I] in the forward's layout (empty with inputGrad false)
  dy0: Float32Array; // [B, H]
  /** Multiply-accumulates of the backward products: executed, and what a dense backward executes. */
  macs: MacCount;
  /**
   * The factor the clip inside backward (gradClip) scaled this call's parameter gradients and dy0
   * by: 1 when it is off or did not act. null inside a gradient group (beginGradGroup), whose
   * factor endGradGroup() returns; dy0 is then returned unscaled.
   */
  clipScale: number | null;
}

/**
 * The defaults of EgruOptions: the one source for the layer, the CLI's configuration schema and the
 * docs. thresholdMean depends on the mode: the Beta init's mean 0.3 for "clamp", the logit mean 0 for
 * "sigmoid".
 */
export const EGRU_DEFAULTS = {
  thresholdMode: "clamp" as ThresholdMode,
  thresholdMean: { clamp: 0.3, sigmoid: 0.0 } as const,
  dampeningFactor: 0.7,
  pseudoDerivativeSupport: 1.0,
  traceDecay: 0.9,
  dropConnect: 0,
  zoneout: 0,
  weightGain: 1,
  gradClip: 0,
} as const;

const { thresholdMean: THRESHOLD_MEANS, ...DEFAULTS } = EGRU_DEFAULTS;

export class EGRU extends WeightedLayer {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly thresholdMode: ThresholdMode;
  readonly dampeningFactor: number;
  readonly pseudoDerivativeSupport: number;
  readonly traceDecay: number;
  readonly dropConnect: number;
  readonly zoneout: number;
  /** The clip inside backward: max norm of each call's gradients, 0 = off (see EgruOptions.gradClip). */
  readonly gradClip: number;
  readonly event: EventFunction;
  readonly inputEvents: boolean;
  private readonly residentR = new ResidentCopy();
  /** The training forwards' outputs and tape in the kernels' memory (tape-arena.ts). */
  private readonly tapes = new TapeArena();
  /** A training forward's input, copied into the kernels' memory when it is not there (stageInput). */
  private readonly inputs = new TapeArena();
  /** The open gradient group (beginGradGroup): its summed gradients when the clip is on. */
  private group: { clip: ClipGroup | null } | null = null;
  // weights and grads: kernel, recurrent_kernel, bias, recurrent_bias, thr

  constructor(opts: EgruOptions) {
    checkPositiveInt("inputSize", opts.inputSize);
    checkPositiveInt("hiddenSize", opts.hiddenSize);
    const o = { ...DEFAULTS, ...dropUndefined(opts) };
    if (o.thresholdMode !== "clamp" && o.thresholdMode !== "sigmoid") {
      throw new ValueError("thresholdMode", '"clamp" or "sigmoid"', JSON.stringify(o.thresholdMode));
    }
    checkRange("dampeningFactor", o.dampeningFactor, 0, Infinity);
    checkRange("pseudoDerivativeSupport", o.pseudoDerivativeSupport, 0, Infinity, { loOpen: true });
    checkRange("traceDecay", o.traceDecay, 0, 1);
    checkProbability("dropConnect", o.dropConnect);
    checkProbability("zoneout", o.zoneout);
    checkRange("weightGain", o.weightGain, 0, Infinity, { loOpen: true });
    checkRange("gradClip", o.gradClip, 0, Infinity);
    const thresholdMean = opts.thresholdMean ?? THRESHOLD_MEANS[o.thresholdMode];
    if (o.thresholdMode === "clamp") checkRange("thresholdMean", thresholdMean, 0, 1, { loOpen: true, hiOpen: true });
    else checkRange("thresholdMean", thresholdMean, -Infinity, Infinity);

    const I = opts.inputSize;
    const H = opts.hiddenSize;
    const rng = layerRng(opts);
    const weights: NamedWeights = {
      kernel: new Float32Array(I * 3 * H),
      recurrent_kernel: new Float32Array(H * 3 * H),
      bias: new Float32Array(3 * H),
      recurrent_bias: new Float32Array(3 * H),
      thr: new Float32Array(H),
    };
    xavierNormal(rng, weights.kernel, I, 3 * H, o.weightGain);
    xavierNormal(rng, weights.recurrent_kernel, H, 3 * H, o.weightGain);
    initThresholds(rng, weights.thr, o.thresholdMode, thresholdMean);
    super("EGRU", rng, weights, opts.kernels);
    this.inputSize = I;
    this.hiddenSize = H;
    this.thresholdMode = o.thresholdMode;
    this.dampeningFactor = o.dampeningFactor;
    this.pseudoDerivativeSupport = o.pseudoDerivativeSupport;
    this.traceDecay = o.traceDecay;
    this.dropConnect = o.dropConnect;
    this.zoneout = o.zoneout;
    this.gradClip = o.gradClip;
    this.event = opts.event ?? heavisideEvent(o.dampeningFactor, o.pseudoDerivativeSupport);
    this.inputEvents = opts.inputEvents ?? false;
  }

  /** kernel [I, 3H] and recurrent_kernel [H, 3H] can be int8 (stored as the products take them). */
  override int8Slots(): Record<string, Int8Slot> {
    const G = 3 * this.hiddenSize;
    return {
      kernel: { K: this.inputSize, N: G, transposed: false },
      recurrent_kernel: { K: this.hiddenSize, N: G, transposed: false },
    };
  }

  /** The effective thresholds ϑ [H] (clamps the parameter in place in clamp mode, as EvNN does). */
  thresholds(): Float32Array {
    const thr = this.weights.thr;
    const theta = new Float32Array(thr.length);
    for (let j = 0; j < thr.length; j++) {
      if (this.thresholdMode === "clamp") {
        thr[j] = Math.min(1, Math.max(0, thr[j]));
        theta[j] = thr[j];
      } else theta[j] = sigmoid(thr[j]);
    }
    return theta;
  }

  /** Run the whole sequence. Draws fresh masks in training mode (one DropConnect mask per call). */
  forward(input: EgruForwardInput): EgruForwardResult {
    const I = this.inputSize;
    const H = this.hiddenSize;
    const { T, B } = input;
    const { x, staged, owned } = forwardInput(this.inputs, this.training, this.kernels, input, I);
    this.checkWeights();
    if (this.training) this.checkFloat32("forward in training mode (int8 weights run in evaluation mode: eval())");
    const y0 = stateArg("y0", input.y0, B, H);
    const { dropConnectMask, zoneout } = forwardMasks({
      training: this.training,
      rng: this.rng,
      dropConnect: this.dropConnect,
      recurrentLength: H * 3 * H,
      recurrentHow: `H·3H = ${H}·${3 * H}`,
      zoneout: this.zoneout,
      T,
      B,
      H,
      masks: input.masks,
    });
    const Rstored = this.weights.recurrent_kernel;
    const R = dropConnectMask ? dropConnect(Rstored, dropConnectMask, this.dropConnect) : Rstored;
    const params: EgruKernelParams<Float32Array> = {
      W: this.weights.kernel,
      R,
      bx: this.weights.bias,
      br: this.weights.recurrent_bias,
      thr: this.thresholds(),
    };
    const dims: SeqDims = { T, B, I, H };
    const kernels = this.kernels;
    const W8 = this.int8Operand(kernels, "kernel");
    const R8 = this.int8Operand(kernels, "recurrent_kernel");
    // read in place by the T per-step products (int8 weights are resident already)
    const resident = R8 ? { view: R, tag: 0 } : this.residentR.upload(kernels, R);
    // a training forward's outputs and tape: views into the kernels' memory where there is room
    const lease = this.tapes.takeForTraining(this.training, kernels, EGRU_OUTPUTS, T * B * H);
    const fwd = egruForward({
      dims,
      params: { ...params, W: W8 ?? params.W, R: R8 ?? resident.view },
      x,
      y0,
      zoneout,
      alpha: this.traceDecay,
      event: this.event,
      kernels,
      inputEvents: this.inputEvents,
      outputs: lease?.arrays,
    });
    const shape: SequenceShape = { T, B, batchFirst: input.batchFirst ?? false };
    const last = (T - 1) * B * H;
    const saved: EgruSaved = {
      shape,
      x,
      y0,
      params,
      zoneout,
      dropConnectMask,
      fwd,
      kernels,
      residentTag: resident.tag,
      ownsX: owned,
      released: false,
    };
    const y = fromTimeMajor(fwd.y, shape, H);
    return {
      y,
      output: y,
      h: fromTimeMajor(fwd.h, shape, H),
      o: fromTimeMajor(fwd.o, shape, H),
      trace: fromTimeMajor(fwd.tr, shape, H),
      state: { y: fwd.y.slice(last), h: fwd.h.slice(last), tr: fwd.tr.slice(last) },
      stats: this.stats(kernels, dims, x, y0, fwd, params.thr),
      saved,
      release: () => {
        if (saved.released) return;
        saved.released = true;
        const { y, h, o, tr, tape } = saved.fwd;
        if (lease) lease.release();
        else recycle(y, h, o, tr, tape.c, tape.z, tape.r, tape.g, tape.hr);
        staged?.release();
        if (saved.ownsX) recycle(saved.x);
      },
    };
  }

  /**
   * Backpropagation through time for a forward result. Accumulates parameter gradients into
   * this.grads and returns the gradients for the input and for y0. With gradClip > 0 this call's
   * parameter gradients and dy0 are first scaled by the clip's factor (returned as clipScale).
   */
  backward(result: EgruForwardResult, upstream: EgruUpstreamGrads, opts: EgruBackwardOptions = {}): EgruInputGrads {
    const s = result.saved;
    checkNotReleased(s.released);
    this.checkFloat32("backward");
    const H = this.hiddenSize;
    const { T, B } = s.shape;
    const dims: SeqDims = { T, B, I: this.inputSize, H };
    if (upstream.dy != null && upstream.dOutput != null) {
      throw new ValueError("upstream", "dy or dOutput (the same gradient under two names), not both", "both");
    }
    // this call's weight and bias gradients in the kernels' memory where it has room (the products
    // write them in place and carry() adds them there), handed back below
    const temps = new KernelScratch(s.kernels);
    try {
      const g = egruBackward({
        gradients: (n) => temps.zeros32IfRoom(n),
        dims,
        params: { ...s.params, R: this.residentR.ensure(s.kernels, s.params.R, s.residentTag) },
        x: s.x,
        y0: s.y0,
        zoneout: s.zoneout,
        alpha: this.traceDecay,
        event: this.event,
        fwd: s.fwd,
        kernels: s.kernels,
        inputEvents: this.inputEvents,
        dxMask: opts.dxMask
          ? toTimeMajor(
              checkMask("dxMask", opts.dxMask, T * B * this.inputSize, `T·B·I = ${T}·${B}·${this.inputSize}`),
              s.shape,
              this.inputSize,
            )
          : null,
        inputGrad: opts.inputGrad ?? true,
        upstream: {
          dy: upstreamTimeMajor(
            upstream.dy != null ? "dy" : "dOutput",
            upstream.dy ?? upstream.dOutput,
            s.shape,
            H,
            s.kernels,
          ),
          dh: upstreamTimeMajor("dh", upstream.dh, s.shape, H, s.kernels),
          do: upstreamTimeMajor("do", upstream.do, s.shape, H, s.kernels),
          dtr: upstreamTimeMajor("dtrace", upstream.dtrace, s.shape, H, s.kernels),
        },
      });
      // the clip inside backward acts on this call's gradients only (fresh arrays from the kernel)
      let clipScale: number | null = 1;
      const clipGroup = this.group?.clip;
      if (clipGroup) {
        clipGroup.add(g, g.dy0);
        this.carry(g, s, clipGroup.stored, 1);
        clipScale = null;
      } else {
        if (this.gradClip > 0 && !this.group) {
          clipScale = clipFactorOf(this.gradClip, [g.dy0, g.dW, g.dR, g.dbx, g.dbr, g.dthr]);
          if (clipScale < 1) for (let k = 0; k < g.dy0.length; k++) g.dy0[k] *= clipScale;
        }
        this.carry(g, s, this.grads, clipScale);
      }
      const dx = fromTimeMajor(g.dx, s.shape, this.inputSize);
      recycle(g.dW, g.dR, g.dbx, g.dbr, dx === g.dx ? null : g.dx); // this call's own temporaries (pooled ones)
      return { dx, dy0: g.dy0, macs: g.macs, clipScale };
    } finally {
      temps.release();
    }
  }

  /** into += factor · a call's kernel gradients carried to the stored parameters (DropConnect, thresholds). */
  private carry(g: KernelParamGrads, s: EgruSaved, into: NamedWeights, factor: number): void {
    addGradient(s.kernels, into.kernel, g.dW, factor);
    addGradient(s.kernels, into.bias, g.dbx, factor);
    addGradient(s.kernels, into.recurrent_bias, g.dbr, factor);
    accumulateThroughDropConnect(s.kernels, into.recurrent_kernel, g.dR, s.dropConnectMask, this.dropConnect, factor);
    // through the threshold parameterisation
    const theta = s.params.thr;
    for (let j = 0; j < this.hiddenSize; j++) {
      // (each term rounded to float32 first, as accumulateThroughDropConnect's)
      into.thr[j] += Math.fround(
        factor * (this.thresholdMode === "clamp" ? g.dthr[j] : g.dthr[j] * theta[j] * (1 - theta[j])),
      );
    }
  }

  /**
   * Open a gradient group: the backward calls until endGradGroup() are clipped together, as one
   * call, by the norm of their summed gradients. For a batch run in row blocks (micro-batches), so
   * that the clip sees the whole batch's gradient; their dy0 come back unscaled (clipScale null).
   * With the clip off the calls accumulate as usual and the group changes nothing.
   */
  beginGradGroup(): void {
    if (this.group) throw new StateError("beginGradGroup", "no gradient group open", "one already open");
    this.group = { clip: this.gradClip > 0 ? new ClipGroup(this.grads) : null };
  }

  /** Close the gradient group: clip its summed gradients and add them to grads. Returns the factor (1: off or not acting). */
  endGradGroup(): number {
    const group = this.group;
    if (!group) throw new StateError("endGradGroup", "an open gradient group (beginGradGroup)", "none open");
    this.group = null;
    return group.clip ? group.clip.finish(this.gradClip, this.grads) : 1;
  }

  /**
   * Close the gradient group without clipping: its sums, for a replica of this layer on another
   * thread to send to the trainer's (null: the clip is off, the calls accumulated into grads as usual).
   */
  takeGradGroup(): ClipGroupSums | null {
    const group = this.group;
    if (!group) throw new StateError("takeGradGroup", "an open gradient group (beginGradGroup)", "none open");
    this.group = null;
    return group.clip ? group.clip.take() : null;
  }

  /** Add a replica's group sums (takeGradGroup) into the open group, in the row blocks' order. */
  mergeGradGroup(sums: ClipGroupSums | null): void {
    const group = this.group;
    if (!group) throw new StateError("mergeGradGroup", "an open gradient group (beginGradGroup)", "none open");
    if (group.clip && sums) group.clip.merge(sums);
  }

  /**
   * [T, B, H] 0/1 in the forward's layout: 1 where a unit's output can pass gradient back into the
   * layer (it fired, or c − ϑ lies inside the surrogate window). Feed it as dxMask to the layer above.
   */
  receiveMask(result: EgruForwardResult): Float32Array {
    const s = result.saved;
    checkNotReleased(s.released);
    const n = s.shape.T * s.shape.B * this.hiddenSize;
    const out = new Float32Array(n);
    receiveMaskCount(s.kernels, s.fwd.o, s.fwd.tape.c, s.params.thr, this.event, this.hiddenSize, 0, n, out, 0);
    return fromTimeMajor(out, s.shape, this.hiddenSize);
  }

  /**
   * [T, B, H] the internal state c before the soft reset, in the forward's layout: what the event gate
   * compares with ϑ (o = 1 where c > ϑ). Data-dependent threshold init (nn/threshold-init.ts) reads it.
   */
  preResetState(result: EgruForwardResult): Float32Array {
    const s = result.saved;
    checkNotReleased(s.released);
    const c = s.fwd.tape.c;
    const out = fromTimeMajor(c, s.shape, this.hiddenSize);
    return out === c ? c.slice() : out;
  }

  /** A streaming-inference stepper over `batch` streams with the current weights bound (see layers/stepper.ts). */
  stepper(batch: number): EgruStepper {
    return new EgruStepper(this, batch);
  }

  /**
   * One step of streaming inference: x [B, I], state from the previous step (zeros when absent).
   * Always uses evaluation semantics (no DropConnect; zoneout as the expected mix).
   */
  step(
    x: ArrayLike<number>,
    B: number,
    state?: EgruState | null,
  ): { y: Float32Array; o: Float32Array; state: EgruState } {
    const I = this.inputSize;
    const H = this.hiddenSize;
    checkSequenceInput(x, { T: 1, B }, I);
    this.checkWeights();
    const y0 = stateArg("state.y", state?.y, B, H);
    const h0 = stateArg("state.h", state?.h, B, H);
    const tr0 = stateArg("state.tr", state?.tr, B, H);
    const zoneout: Zoneout<Float32Array> = this.zoneout > 0 ? { kind: "eval", p: this.zoneout } : { kind: "none" };
    const kernels = this.kernels;
    const fwd = egruForward({
      dims: { T: 1, B, I, H },
      params: {
        W: this.int8Operand(kernels, "kernel") ?? this.weights.kernel,
        R: this.int8Operand(kernels, "recurrent_kernel") ?? this.weights.recurrent_kernel,
        bx: this.weights.bias,
        br: this.weights.recurrent_bias,
        thr: this.thresholds(),
      },
      x: toTimeMajor(x, { T: 1, B }, I),
      y0,
      h0,
      tr0,
      zoneout,
      alpha: this.traceDecay,
      event: this.event,
      kernels,
      inputEvents: this.inputEvents,
    });
    return { y: fwd.y, o: fwd.o, state: { y: fwd.y, h: fwd.h, tr: fwd.tr } };
  }

  /**
   * Sparsity and MAC counts of one forward: backward sparsity on the pre-reset c (egru's) and on the
   * post-reset h (the paper's); executed MACs and the paper's effective MACs (dense × active fraction).
   */
  private stats(
    kernels: Kernels,
    dims: SeqDims,
    x: Float32Array,
    y0: Float32Array,
    fwd: EgruForwardOut<Float32Array>,
    theta: Float32Array,
  ): LayerStats {
    const { T, B, I, H } = dims;
    const G = 3 * H;
    const n = T * B * H;
    const support = 1 / this.pseudoDerivativeSupport;
    const { y, o, h } = fwd;
    const outsideOf = (a: Float32Array): number =>
      kernels.countOutside
        ? kernels.countOutside(T * B, H, a, 0, theta, support)
        : countOutside(T * B, H, a, 0, theta, support);
    const fired = nonzerosOn(kernels, y, 0, n);
    const zeros = n - fired;
    const events = nonzerosOn(kernels, o, 0, n);
    const outside = outsideOf(fwd.tape.c);
    const outsideH = outsideOf(h);
    // the recurrent product of step t reads y_{t−1}: y0, then y_1 … y_{T−1} (all of y but its last step)
    const last = (T - 1) * B * H;
    const activeInputs = nonzerosOn(kernels, y0, 0, y0.length) + fired - nonzerosOn(kernels, y, last, n - last);
    const denseMacs = T * B * (I * G + H * G);
    return {
      activitySparsity: zeros / n,
      backwardSparsity: outside / n,
      paperBackwardSparsity: outsideH / n,
      denseMacs,
      eventMacs:
        (this.inputEvents ? (fwd.inputNonzeros ?? nonzerosOn(kernels, x, 0, x.length)) * G : T * B * I * G) +
        activeInputs * G,
      executedMacs: fwd.macs.executed,
      paperEffectiveMacs: denseMacs * (1 - zeros / n),
      events,
      entries: n,
    };
  }
}

/**
 * Threshold init as EvNN: clamp mode draws ϑ ~ Beta(3m/(1−m), 3), whose mean is m (v0.2);
 * sigmoid mode draws logits θ ~ N(μ, √2) (v0.1).
 */
export function initThresholds(rng: Rng, out: Float32Array, mode: ThresholdMode, mean: number): void {
  for (let j = 0; j < out.length; j++) {
    out[j] = mode === "clamp" ? rng.beta((3 * mean) / (1 - mean), 3) : rng.normal(mean, Math.SQRT2);
  }
}

/** Drop keys whose value is undefined so that spreading over defaults keeps the defaults. */
export function dropUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
