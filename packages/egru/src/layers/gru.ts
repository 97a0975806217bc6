// The GRU baseline layer (one layer, whole sequences and single steps): the EGRU cell without
// events, thresholds or trace, numerically the same cell as PyTorch's nn.GRU. Owns the
// parameters in haste's layout, the DropConnect (element or row mask) and zoneout masks, the
// conversion to and from PyTorch's layout, and the per-forward statistics. The math lives in
// kernels/gru.ts.
//
// Parameters (named Float32Arrays, gate blocks ordered z, r, g):
//   kernel [I, 3H]  recurrent_kernel [H, 3H]  bias [3H]  recurrent_bias [3H]
// PyTorch's nn.GRU stores the same numbers as (docs/egru-math.md §4.1; blocks r, z, n):
//   weight_ih_l0 [3H, I]  weight_hh_l0 [3H, H]  bias_ih_l0 [3H]  bias_hh_l0 [3H]
// i.e. transpose and swap the first two gate blocks. Init as PyTorch: every entry uniform in
// [−1/√H, 1/√H).
//
// Int8 weights (quantize(): kernel and recurrent_kernel, see layers/weighted-layer.ts) serve the
// evaluation forward, step() and the stepper; a training forward or a backward is then a StateError.
//
// Gradients: backward ACCUMULATES into layer.grads (call zeroGrad() between steps) and
// RETURNS fresh arrays for the input and the initial state.

import { recycle } from "../core/pool.js";
import type { Rng } from "../core/rng.js";
import { checkPositiveInt, checkProbability } from "../core/validate.js";
import type { SeqDims, Zoneout } from "../kernels/gated-cell.js";
import type { Kernels } from "../kernels/backend.js";
import { GRU_OUTPUTS, gruBackward, gruForward, type GruForwardOut, type GruKernelParams } from "../kernels/gru.js";
import {
  checkNotReleased,
  ResidentCopy,
  accumulateThroughDropConnect,
  addGradient,
  assignWeights,
  checkDropConnectShape,
  checkSequenceInput,
  forwardInput,
  denseStats,
  dropConnect,
  forwardMasks,
  fromTimeMajor,
  layerRng,
  stateArg,
  toTimeMajor,
  uniformWeights,
  upstreamTimeMajor,
  type DropConnectShape,
  type LayerStats,
  type NamedWeights,
  type SequenceShape,
  type InputGradOption,
} from "./common.js";
import { gruBiasSwap, gruMatrixFromTorch, gruMatrixToTorch } from "./gru-layout.js";
import type { Int8Slot } from "./int8-weights.js";
import { WeightedLayer } from "./weighted-layer.js";
import { GruStepper } from "./stepper.js";
import { TapeArena } from "./tape-arena.js";

export interface GruOptions {
  /** I: features per input step. */
  inputSize: number;
  /** H: number of units. */
  hiddenSize: number;
  /** DropConnect probability on recurrent_kernel, in [0, 1). Default 0. */
  dropConnect?: number;
  /**
   * DropConnect's mask: "element" (one entry per weight of R [H, 3H]; default) or "row" (one per gate
   * output, a row of PyTorch's weight_hh_l0 = a column of R: AWD's WeightDrop). See layers/common.ts.
   */
  dropConnectShape?: DropConnectShape;
  /** Zoneout probability on the state, in [0, 1). Default 0. */
  zoneout?: number;
  /** Seed for init and masks (ignored when rng is given). Default 0. */
  seed?: number;
  /** Shared random stream for init and masks. */
  rng?: Rng;
  /** The kernels to compute with; default: the library's default kernels. */
  kernels?: Kernels;
}

/** Streaming state between steps. */
export interface GruState {
  h: Float32Array; // [B, H]
}

export interface GruForwardInput extends SequenceShape {
  /** [T, B, I] (or [B, T, I] with batchFirst). */
  x: ArrayLike<number>;
  /** Initial state h0 [B, H]; zeros when absent. */
  h0?: ArrayLike<number> | null;
  /**
   * Override the random masks (training mode only), 0/1: dropConnect [H, 3H] (stored layout), or [3H] (one
   * per column of R, gate order z, r, g) with dropConnectShape "row"; zoneout [T, B, H] time-major.
   */
  masks?: { dropConnect?: ArrayLike<number>; zoneout?: ArrayLike<number> };
}

export interface GruForwardResult {
  output: Float32Array; // [T, B, H] in the caller's layout: h_1 … h_T
  /** Final state, to continue a stream or the next BPTT segment. */
  state: GruState;
  stats: LayerStats;
  /** Saved context for backward (treat as opaque). */
  readonly saved: GruSaved;
  /** Hand the output and tape back to the array pool once done (see EgruForwardResult.release). */
  release(): void;
}

interface GruSaved {
  shape: SequenceShape;
  x: Float32Array; // time-major
  h0: Float32Array;
  params: GruKernelParams<Float32Array>;
  zoneout: Zoneout<Float32Array>;
  dropConnectMask: Float32Array | null;
  fwd: GruForwardOut<Float32Array>;
  kernels: Kernels;
  residentTag: number;
  released: boolean;
}

export interface GruUpstreamGrads {
  /** ∂L/∂output [T, B, H] in the forward's layout; absent = 0. */
  dOutput?: ArrayLike<number> | null;
  /** ∂L/∂state.h [B, H]; absent = 0. */
  dhT?: ArrayLike<number> | null;
}

export interface GruInputGrads {
  dx: Float32Array; // [T, B, I] in the forward's layout
  dh0: Float32Array; // [B, H]
}

/** nn.GRU's parameter names. */
export type GruTorchName = "weight_ih_l0" | "weight_hh_l0" | "bias_ih_l0" | "bias_hh_l0";

/** The parameters (or gradients) in nn.GRU's layout. */
export type GruTorchWeights = Record<GruTorchName, Float32Array>;

export class GRU extends WeightedLayer {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly dropConnect: number;
  readonly dropConnectShape: DropConnectShape;
  readonly zoneout: number;
  private readonly residentR = new ResidentCopy();
  /** The training forwards' output and tape in the kernels' memory (tape-arena.ts). */
  private readonly tapes = new TapeArena();
  /** A training forward's input, copied into the kernels' memory when it is not there (stageInput). */
  private readonly inputs = new TapeArena();
  // weights: kernel, recurrent_kernel, bias, recurrent_bias (haste's layout); grads: the same names

  constructor(opts: GruOptions) {
    checkPositiveInt("inputSize", opts.inputSize);
    checkPositiveInt("hiddenSize", opts.hiddenSize);
    const dc = opts.dropConnect ?? 0;
    const zo = opts.zoneout ?? 0;
    const shape = opts.dropConnectShape ?? "element";
    checkProbability("dropConnect", dc);
    checkDropConnectShape(shape);
    checkProbability("zoneout", zo);
    const I = opts.inputSize;
    const H = opts.hiddenSize;
    const rng = layerRng(opts);
    const shapes = { kernel: I * 3 * H, recurrent_kernel: H * 3 * H, bias: 3 * H, recurrent_bias: 3 * H };
    super("GRU", rng, uniformWeights(rng, shapes, H), opts.kernels);
    this.inputSize = I;
    this.hiddenSize = H;
    this.dropConnect = dc;
    this.dropConnectShape = shape;
    this.zoneout = zo;
  }

  /** kernel [I, 3H] and recurrent_kernel [H, 3H] can be int8 (stored as the products take them). */
  override int8Slots(): Record<string, Int8Slot> {
    const G = 3 * this.hiddenSize;
    return {
      kernel: { K: this.inputSize, N: G, transposed: false },
      recurrent_kernel: { K: this.hiddenSize, N: G, transposed: false },
    };
  }

  /** A streaming-inference stepper over `batch` streams with the current weights bound (see layers/stepper.ts). */
  stepper(batch: number): GruStepper {
    return new GruStepper(this, batch);
  }

  /** The parameters as nn.GRU holds them (fresh arrays). */
  getTorchWeights(): GruTorchWeights {
    return this.toTorch(this.weights);
  }

  /**
   * Set some or all parameters from nn.GRU's names and layout; names, lengths and finiteness are
   * checked before anything changes, and names not given keep their values.
   */
  setTorchWeights(w: Partial<Record<GruTorchName, ArrayLike<number>>>): void {
    const I = this.inputSize;
    const H = this.hiddenSize;
    const theirs: NamedWeights = {
      weight_ih_l0: new Float32Array(3 * H * I),
      weight_hh_l0: new Float32Array(3 * H * H),
      bias_ih_l0: new Float32Array(3 * H),
      bias_hh_l0: new Float32Array(3 * H),
    };
    assignWeights(theirs, w as Record<string, ArrayLike<number>>, "GRU");
    const ours: NamedWeights = {};
    if (w.weight_ih_l0) ours.kernel = gruMatrixFromTorch(theirs.weight_ih_l0, I, H);
    if (w.weight_hh_l0) ours.recurrent_kernel = gruMatrixFromTorch(theirs.weight_hh_l0, H, H);
    if (w.bias_ih_l0) ours.bias = gruBiasSwap(theirs.bias_ih_l0, H);
    if (w.bias_hh_l0) ours.recurrent_bias = gruBiasSwap(theirs.bias_hh_l0, H);
    this.setWeights(ours);
  }

  /** The accumulated gradients in nn.GRU's layout and names (fresh arrays). */
  torchGrads(): GruTorchWeights {
    return this.toTorch(this.grads);
  }

  /** Run the whole sequence. Draws fresh masks in training mode (one DropConnect mask per call). */
  forward(input: GruForwardInput): GruForwardResult {
    const I = this.inputSize;
    const H = this.hiddenSize;
    const { T, B } = input;
    const { x, staged, owned: ownsX } = forwardInput(this.inputs, this.training, this.kernels, input, I);
    this.checkWeights();
    if (this.training) this.checkFloat32("forward in training mode (int8 weights run in evaluation mode: eval())");
    const h0 = stateArg("h0", input.h0, B, H);
    const { dropConnectMask, zoneout } = forwardMasks({
      training: this.training,
      rng: this.rng,
      dropConnect: this.dropConnect,
      recurrentLength: H * 3 * H,
      recurrentHow: `H·3H = ${H}·${3 * H}`,
      rows: this.dropConnectShape === "row" ? { gates: 3, axis: "columns" } : null,
      zoneout: this.zoneout,
      T,
      B,
      H,
      masks: input.masks,
    });
    const R = this.weights.recurrent_kernel;
    const params: GruKernelParams<Float32Array> = {
      W: this.weights.kernel,
      R: dropConnectMask ? dropConnect(R, dropConnectMask, this.dropConnect) : R,
      bx: this.weights.bias,
      br: this.weights.recurrent_bias,
    };
    const dims: SeqDims = { T, B, I, H };
    const kernels = this.kernels;
    const W8 = this.int8Operand(kernels, "kernel");
    const R8 = this.int8Operand(kernels, "recurrent_kernel");
    // read in place by the T per-step products (int8 weights are resident already)
    const resident = R8 ? { view: params.R, tag: 0 } : this.residentR.upload(kernels, params.R);
    // a training forward's output and tape: views into the kernels' memory where there is room
    const lease = this.tapes.takeForTraining(this.training, kernels, GRU_OUTPUTS, T * B * H);
    const fwd = gruForward({
      dims,
      params: { ...params, W: W8 ?? params.W, R: R8 ?? resident.view },
      x,
      h0,
      zoneout,
      kernels,
      outputs: lease?.arrays,
    });
    const shape: SequenceShape = { T, B, batchFirst: input.batchFirst ?? false };
    const saved: GruSaved = {
      shape,
      x,
      h0,
      params,
      zoneout,
      dropConnectMask,
      fwd,
      kernels,
      residentTag: resident.tag,
      released: false,
    };
    return {
      output: fromTimeMajor(fwd.h, shape, H),
      state: { h: fwd.h.slice((T - 1) * B * H) },
      stats: denseStats(fwd.h, dims, 3, kernels),
      saved,
      release: () => {
        if (saved.released) return;
        saved.released = true;
        const t = saved.fwd.tape;
        if (lease) lease.release();
        else recycle(saved.fwd.h, t.z, t.r, t.g, t.hr);
        staged?.release();
        if (ownsX) recycle(saved.x);
      },
    };
  }

  /**
   * Backpropagation through time for a forward result. Accumulates parameter gradients into
   * this.grads and returns the gradients for the input and for h0.
   */
  backward(result: GruForwardResult, upstream: GruUpstreamGrads, opts: InputGradOption = {}): GruInputGrads {
    const s = result.saved;
    checkNotReleased(s.released);
    this.checkFloat32("backward");
    const H = this.hiddenSize;
    const { T, B } = s.shape;
    const g = gruBackward({
      dims: { T, B, I: this.inputSize, H },
      x: s.x,
      h0: s.h0,
      zoneout: s.zoneout,
      fwd: s.fwd,
      params: { ...s.params, R: this.residentR.ensure(s.kernels, s.params.R, s.residentTag) },
      kernels: s.kernels,
      dOut: upstreamTimeMajor("dOutput", upstream.dOutput, s.shape, H, s.kernels),
      dhT: stateArg("dhT", upstream.dhT, B, H),
      inputGrad: opts.inputGrad ?? true,
    });
    const gr = this.grads;
    addGradient(s.kernels, gr.kernel, g.dW);
    addGradient(s.kernels, gr.bias, g.dbx);
    addGradient(s.kernels, gr.recurrent_bias, g.dbr);
    accumulateThroughDropConnect(s.kernels, gr.recurrent_kernel, g.dR, s.dropConnectMask, this.dropConnect);
    const dx = fromTimeMajor(g.dx, s.shape, this.inputSize);
    recycle(g.dW, g.dR, g.dbx, g.dbr, dx === g.dx ? null : g.dx); // this call's own temporaries
    return { dx, dh0: g.dh0 };
  }

  /**
   * One step of streaming inference: x [B, I], state from the previous step (zeros when absent).
   * Always uses evaluation semantics (no DropConnect; zoneout as the expected mix).
   */
  step(x: ArrayLike<number>, B: number, state?: GruState | null): { h: Float32Array; state: GruState } {
    const I = this.inputSize;
    const H = this.hiddenSize;
    checkSequenceInput(x, { T: 1, B }, I);
    this.checkWeights();
    const h0 = stateArg("state.h", state?.h, B, H);
    const zoneout: Zoneout<Float32Array> = this.zoneout > 0 ? { kind: "eval", p: this.zoneout } : { kind: "none" };
    const kernels = this.kernels;
    const fwd = gruForward({
      dims: { T: 1, B, I, H },
      params: {
        W: this.int8Operand(kernels, "kernel") ?? this.weights.kernel,
        R: this.int8Operand(kernels, "recurrent_kernel") ?? this.weights.recurrent_kernel,
        bx: this.weights.bias,
        br: this.weights.recurrent_bias,
      },
      x: toTimeMajor(x, { T: 1, B }, I),
      h0,
      zoneout,
      kernels,
    });
    return { h: fwd.h, state: { h: fwd.h } };
  }

  private toTorch(w: NamedWeights): GruTorchWeights {
    const I = this.inputSize;
    const H = this.hiddenSize;
    return {
      weight_ih_l0: gruMatrixToTorch(w.kernel, I, H),
      weight_hh_l0: gruMatrixToTorch(w.recurrent_kernel, H, H),
      bias_ih_l0: gruBiasSwap(w.bias, H),
      bias_hh_l0: gruBiasSwap(w.recurrent_bias, H),
    };
  }
}
