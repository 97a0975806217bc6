// The LSTM baseline layer (one layer, whole sequences and single steps), numerically PyTorch's
// nn.LSTM. Owns the parameters in PyTorch's own layout and names, the DropConnect mask (element or
// row), and the per-forward statistics. The math lives in kernels/lstm.ts.
//
// Parameters (named Float32Arrays, row blocks ordered i, f, g, o):
//   weight_ih_l0 [4H, I]  weight_hh_l0 [4H, H]  bias_ih_l0 [4H]  bias_hh_l0 [4H]
// Init as PyTorch: every entry uniform in [−1/√H, 1/√H). Because the storage is already PyTorch's,
// getTorchWeights / setTorchWeights / torchGrads are getWeights / setWeights / grads copies; they
// exist so code can treat GRU and LSTM alike.
//
// Int8 weights (quantize(): weight_ih_l0 and weight_hh_l0, see layers/weighted-layer.ts; their int8
// copies are transposed, [I, 4H] and [H, 4H], as the products take them) serve the evaluation
// forward, step() and the stepper; a training forward or a backward is then a StateError.
//
// Gradients: backward ACCUMULATES into layer.grads (call zeroGrad() between steps) and
// RETURNS fresh arrays for the input and the initial states.

import { recycle } from "../core/pool.js";
import type { Rng } from "../core/rng.js";
import { checkPositiveInt, checkProbability } from "../core/validate.js";
import type { SeqDims } from "../kernels/gated-cell.js";
import type { Kernels } from "../kernels/backend.js";
import {
  LSTM_OUTPUTS,
  lstmBackward,
  lstmForward,
  type LstmForwardOut,
  type LstmKernelParams,
} from "../kernels/lstm.js";
import {
  checkNotReleased,
  ResidentCopy,
  accumulateThroughDropConnect,
  addGradient,
  checkDropConnectShape,
  checkSequenceInput,
  forwardInput,
  copyWeights,
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
  type SequenceShape,
  type InputGradOption,
} from "./common.js";
import type { Int8Slot } from "./int8-weights.js";
import { LstmStepper } from "./stepper.js";
import { WeightedLayer } from "./weighted-layer.js";
import { TapeArena } from "./tape-arena.js";

export interface LstmOptions {
  /** I: features per input step. */
  inputSize: number;
  /** H: number of units. */
  hiddenSize: number;
  /** DropConnect probability on weight_hh_l0, in [0, 1). Default 0. */
  dropConnect?: number;
  /**
   * DropConnect's mask: "element" (one entry per weight of weight_hh_l0 [4H, H]; default) or "row"
   * (one per row, i.e. per gate output: AWD's WeightDrop). See layers/common.ts.
   */
  dropConnectShape?: DropConnectShape;
  /** Seed for init and masks (ignored when rng is given). Default 0. */
  seed?: number;
  /** Shared random stream for init and masks. */
  rng?: Rng;
  /** The kernels to compute with; default: the library's default kernels. */
  kernels?: Kernels;
}

/** Streaming state between steps, each [B, H]. */
export interface LstmState {
  h: Float32Array; // hidden state (the output)
  c: Float32Array; // cell state
}

export interface LstmForwardInput extends SequenceShape {
  /** [T, B, I] (or [B, T, I] with batchFirst). */
  x: ArrayLike<number>;
  /** Initial hidden state h0 [B, H]; zeros when absent. */
  h0?: ArrayLike<number> | null;
  /** Initial cell state c0 [B, H]; zeros when absent. */
  c0?: ArrayLike<number> | null;
  /** Override the random DropConnect mask (training mode only), 0/1: [4H, H] (stored layout), or [4H] (one per row) with dropConnectShape "row". */
  masks?: { dropConnect?: ArrayLike<number> };
}

export interface LstmForwardResult {
  output: Float32Array; // [T, B, H] in the caller's layout: h_1 … h_T
  /** Final states, to continue a stream or the next BPTT segment. */
  state: LstmState;
  stats: LayerStats;
  /** Saved context for backward (treat as opaque). */
  readonly saved: LstmSaved;
  /** Hand the outputs and tape back to the array pool once done (see EgruForwardResult.release). */
  release(): void;
}

interface LstmSaved {
  shape: SequenceShape;
  x: Float32Array; // time-major
  h0: Float32Array;
  c0: Float32Array;
  params: LstmKernelParams<Float32Array>;
  dropConnectMask: Float32Array | null;
  fwd: LstmForwardOut<Float32Array>;
  kernels: Kernels;
  residentTag: number;
  released: boolean;
}

export interface LstmUpstreamGrads {
  /** ∂L/∂output [T, B, H] in the forward's layout; absent = 0. */
  dOutput?: ArrayLike<number> | null;
  /** ∂L/∂state.h [B, H]; absent = 0. */
  dhT?: ArrayLike<number> | null;
  /** ∂L/∂state.c [B, H]; absent = 0. */
  dcT?: ArrayLike<number> | null;
}

export interface LstmInputGrads {
  dx: Float32Array; // [T, B, I] in the forward's layout
  dh0: Float32Array; // [B, H]
  dc0: Float32Array; // [B, H]
}

/** nn.LSTM's parameter names. */
export type LstmTorchName = "weight_ih_l0" | "weight_hh_l0" | "bias_ih_l0" | "bias_hh_l0";

export class LSTM extends WeightedLayer {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly dropConnect: number;
  readonly dropConnectShape: DropConnectShape;
  private readonly residentWhh = new ResidentCopy();
  /** The training forwards' outputs and tape in the kernels' memory (tape-arena.ts). */
  private readonly tapes = new TapeArena();
  /** A training forward's input, copied into the kernels' memory when it is not there (stageInput). */
  private readonly inputs = new TapeArena();
  // weights: weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0 (nn.LSTM's layout); grads: the same names

  constructor(opts: LstmOptions) {
    checkPositiveInt("inputSize", opts.inputSize);
    checkPositiveInt("hiddenSize", opts.hiddenSize);
    const dc = opts.dropConnect ?? 0;
    const shape = opts.dropConnectShape ?? "element";
    checkProbability("dropConnect", dc);
    checkDropConnectShape(shape);
    const I = opts.inputSize;
    const H = opts.hiddenSize;
    const rng = layerRng(opts);
    const shapes = { weight_ih_l0: 4 * H * I, weight_hh_l0: 4 * H * H, bias_ih_l0: 4 * H, bias_hh_l0: 4 * H };
    super("LSTM", rng, uniformWeights(rng, shapes, H), opts.kernels);
    this.inputSize = I;
    this.hiddenSize = H;
    this.dropConnect = dc;
    this.dropConnectShape = shape;
  }

  /** weight_ih_l0 [4H, I] and weight_hh_l0 [4H, H] can be int8 (their int8 copies transposed, [K, 4H]). */
  override int8Slots(): Record<string, Int8Slot> {
    const G = 4 * this.hiddenSize;
    return {
      weight_ih_l0: { K: this.inputSize, N: G, transposed: true },
      weight_hh_l0: { K: this.hiddenSize, N: G, transposed: true },
    };
  }

  /** A streaming-inference stepper over `batch` streams with the current weights bound (see layers/stepper.ts). */
  stepper(batch: number): LstmStepper {
    return new LstmStepper(this, batch);
  }

  /** Same as getWeights: the storage is nn.LSTM's. */
  getTorchWeights(): Record<LstmTorchName, Float32Array> {
    return copyWeights(this.weights) as Record<LstmTorchName, Float32Array>;
  }

  /** Same as setWeights, typed with nn.LSTM's names. */
  setTorchWeights(w: Partial<Record<LstmTorchName, ArrayLike<number>>>): void {
    this.setWeights(w as Record<string, ArrayLike<number>>);
  }

  /** Copies of the accumulated gradients (already in nn.LSTM's layout). */
  torchGrads(): Record<LstmTorchName, Float32Array> {
    return copyWeights(this.grads) as Record<LstmTorchName, Float32Array>;
  }

  /** Run the whole sequence. Draws a fresh DropConnect mask in training mode (one per call). */
  forward(input: LstmForwardInput): LstmForwardResult {
    const I = this.inputSize;
    const H = this.hiddenSize;
    const { T, B } = input;
    const { x, staged, owned: ownsX } = forwardInput(this.inputs, this.training, this.kernels, input, I);
    this.checkWeights();
    if (this.training) this.checkFloat32("forward in training mode (int8 weights run in evaluation mode: eval())");
    const h0 = stateArg("h0", input.h0, B, H);
    const c0 = stateArg("c0", input.c0, B, H);
    const { dropConnectMask } = forwardMasks({
      training: this.training,
      rng: this.rng,
      dropConnect: this.dropConnect,
      recurrentLength: 4 * H * H,
      recurrentHow: `4H·H = ${4 * H}·${H}`,
      rows: this.dropConnectShape === "row" ? { gates: 4, axis: "rows" } : null,
      zoneout: 0,
      T,
      B,
      H,
      masks: { dropConnect: input.masks?.dropConnect },
    });
    const Whh = this.weights.weight_hh_l0;
    const params: LstmKernelParams<Float32Array> = {
      Wih: this.weights.weight_ih_l0,
      Whh: dropConnectMask ? dropConnect(Whh, dropConnectMask, this.dropConnect) : Whh,
      bih: this.weights.bias_ih_l0,
      bhh: this.weights.bias_hh_l0,
    };
    const dims: SeqDims = { T, B, I, H };
    const kernels = this.kernels;
    // Int8 weights are read as they are; a float32 W_hh is copied into the kernels' memory (where they
    // have one), read in place by the T per-step products.
    const whhI8 = this.int8Operand(kernels, "weight_hh_l0");
    const resident = whhI8 ? { view: params.Whh, tag: 0 } : this.residentWhh.upload(kernels, params.Whh);
    // a training forward's outputs and tape: views into the kernels' memory where there is room
    const lease = this.tapes.takeForTraining(this.training, kernels, LSTM_OUTPUTS, T * B * H);
    const fwd = lstmForward({
      dims,
      params: {
        ...params,
        Wih: this.int8Operand(kernels, "weight_ih_l0") ?? params.Wih,
        Whh: whhI8 ?? resident.view,
      },
      x,
      h0,
      c0,
      kernels,
      outputs: lease?.arrays,
    });
    const shape: SequenceShape = { T, B, batchFirst: input.batchFirst ?? false };
    const last = (T - 1) * B * H;
    const saved: LstmSaved = {
      shape,
      x,
      h0,
      c0,
      params,
      dropConnectMask,
      fwd,
      kernels,
      residentTag: resident.tag,
      released: false,
    };
    return {
      output: fromTimeMajor(fwd.h, shape, H),
      state: { h: fwd.h.slice(last), c: fwd.c.slice(last) },
      stats: denseStats(fwd.h, dims, 4, kernels),
      saved,
      release: () => {
        if (saved.released) return;
        saved.released = true;
        const t = saved.fwd.tape;
        if (lease) lease.release();
        else recycle(saved.fwd.h, saved.fwd.c, t.i, t.f, t.g, t.o, t.k);
        staged?.release();
        if (ownsX) recycle(saved.x);
      },
    };
  }

  /**
   * Backpropagation through time for a forward result. Accumulates parameter gradients into
   * this.grads and returns the gradients for the input and for h0, c0.
   */
  backward(result: LstmForwardResult, upstream: LstmUpstreamGrads, opts: InputGradOption = {}): LstmInputGrads {
    const s = result.saved;
    checkNotReleased(s.released);
    this.checkFloat32("backward");
    const H = this.hiddenSize;
    const { T, B } = s.shape;
    const g = lstmBackward({
      kernels: s.kernels,
      dims: { T, B, I: this.inputSize, H },
      params: { ...s.params, Whh: this.residentWhh.ensure(s.kernels, s.params.Whh, s.residentTag) },
      x: s.x,
      h0: s.h0,
      c0: s.c0,
      fwd: s.fwd,
      dOut: upstreamTimeMajor("dOutput", upstream.dOutput, s.shape, H, s.kernels),
      dhT: stateArg("dhT", upstream.dhT, B, H),
      dcT: stateArg("dcT", upstream.dcT, B, H),
      inputGrad: opts.inputGrad ?? true,
    });
    const gr = this.grads;
    addGradient(s.kernels, gr.weight_ih_l0, g.dWih);
    addGradient(s.kernels, gr.bias_ih_l0, g.dbih);
    addGradient(s.kernels, gr.bias_hh_l0, g.dbhh);
    accumulateThroughDropConnect(s.kernels, gr.weight_hh_l0, g.dWhh, s.dropConnectMask, this.dropConnect);
    const dx = fromTimeMajor(g.dx, s.shape, this.inputSize);
    recycle(g.dWih, g.dWhh, g.dbih, g.dbhh, dx === g.dx ? null : g.dx); // this call's own temporaries
    return { dx, dh0: g.dh0, dc0: g.dc0 };
  }

  /**
   * One step of streaming inference: x [B, I], states from the previous step (zeros when absent).
   * Always uses evaluation semantics (no DropConnect).
   */
  step(x: ArrayLike<number>, B: number, state?: LstmState | null): { h: Float32Array; state: LstmState } {
    const I = this.inputSize;
    const H = this.hiddenSize;
    checkSequenceInput(x, { T: 1, B }, I);
    this.checkWeights();
    const kernels = this.kernels;
    const fwd = lstmForward({
      kernels,
      dims: { T: 1, B, I, H },
      params: {
        Wih: this.int8Operand(kernels, "weight_ih_l0") ?? this.weights.weight_ih_l0,
        Whh: this.int8Operand(kernels, "weight_hh_l0") ?? this.weights.weight_hh_l0,
        bih: this.weights.bias_ih_l0,
        bhh: this.weights.bias_hh_l0,
      },
      x: toTimeMajor(x, { T: 1, B }, I),
      h0: stateArg("state.h", state?.h, B, H),
      c0: stateArg("state.c", state?.c, B, H),
    });
    return { h: fwd.h, state: { h: fwd.h, c: fwd.c } };
  }
}
