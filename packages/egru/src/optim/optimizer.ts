// Optimizers with PyTorch's update rules: SGD with momentum, Adam (coupled L2 weight decay, added
// to the gradient) and AdamW (decoupled decay, applied to the weights), with configurable β1 (the
// paper's language models use β1 = 0). Parameter groups: EGRU thresholds take the learning rate
// times their own multiplier and no weight decay. The state (step count and moment buffers) can
// be saved and restored, so a resumed run continues exactly. The updates run on the kernels given
// to step() (kernels/train-ops.ts and its WebAssembly and threaded versions, all with the same
// bits), with the moment buffers kept in those kernels' memory where they have one.

import { clipFactor } from "../core/buffer.js";
import { ShapeError, ValueError } from "../core/errors.js";
import type { Kernels } from "../kernels/backend.js";
import { adamUpdate, sgdUpdate, sumSquares } from "../kernels/train-ops.js";
import type { Param } from "../nn/params.js";

/** The kernels that own buffers and the buffers to return to them once their optimizer is collected. */
interface Held {
  kernels: Kernels | null;
  arrays: Float32Array[];
}

/** Returns an optimizer's resident buffers to their kernels' memory when the optimizer is garbage. */
const release =
  typeof FinalizationRegistry === "function"
    ? new FinalizationRegistry<Held>((h) => {
        for (const a of h.arrays) h.kernels?.free?.(a);
      })
    : null;

export type OptimizerKind = "sgd" | "adam" | "adamw";

export interface OptimizerConfig {
  kind: OptimizerKind;
  /** SGD momentum μ (default 0). */
  momentum?: number;
  /** Adam β1, β2 (defaults 0.9, 0.999) and ε (default 1e-8). */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Weight decay: coupled (SGD, Adam) or decoupled (AdamW). Default 0. */
  weightDecay?: number;
  /** Learning-rate multiplier of the threshold group (default 1; the LM recipe uses 0). */
  thresholdLrMultiplier?: number;
}

/** Saved optimizer state: the step count and one buffer per parameter and slot ("m", "v", "momentum"). */
export interface OptimizerState {
  step: number;
  buffers: Record<string, Float32Array>;
}

export class Optimizer {
  readonly config: Required<OptimizerConfig>;
  private stepCount = 0;
  private readonly buffers = new Map<string, Float32Array>();
  /** The kernels whose memory holds the buffers (null: ordinary arrays), and what to free when collected. */
  private readonly held: Held = { kernels: null, arrays: [] };

  constructor(config: OptimizerConfig) {
    this.config = {
      momentum: 0,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      thresholdLrMultiplier: 1,
      ...config,
    };
    const c = this.config;
    if (!["sgd", "adam", "adamw"].includes(c.kind))
      throw new ValueError("optimizer.kind", '"sgd", "adam" or "adamw"', JSON.stringify(c.kind));
    for (const [k, v, lo, hi] of [
      ["momentum", c.momentum, 0, 1],
      ["beta1", c.beta1, 0, 1],
      ["beta2", c.beta2, 0, 1],
    ] as const) {
      if (!(v >= lo && v < hi)) throw new ValueError(`optimizer.${k}`, `a number in [${lo}, ${hi})`, String(v));
    }
    if (!(c.eps > 0)) throw new ValueError("optimizer.eps", "a number > 0", String(c.eps));
    if (!(c.weightDecay >= 0)) throw new ValueError("optimizer.weightDecay", "a number ≥ 0", String(c.weightDecay));
    if (!(c.thresholdLrMultiplier >= 0))
      throw new ValueError("optimizer.thresholdLrMultiplier", "a number ≥ 0", String(c.thresholdLrMultiplier));
    release?.register(this, this.held);
  }

  get steps(): number {
    return this.stepCount;
  }

  /**
   * One update of every parameter from its gradient: the default group at learning rate lr, the
   * threshold group at thresholdLr (default lr) times its multiplier. (The language model's random
   * BPTT length rescales group 0's rate only, docs/paper-setups.md#language-model-setup: it passes the unscaled rate here.)
   * The updates run on `kernels` (default: the TypeScript twins), which give the same bits on any
   * kernel set; the moment buffers move into their memory where they have one.
   */
  step(params: Param[], lr: number, thresholdLr = lr, kernels?: Kernels): void {
    this.stepCount++;
    const c = this.config;
    if (kernels?.alloc && this.held.kernels !== kernels) this.moveBuffers(kernels);
    for (const p of params) {
      const threshold = p.group === "threshold";
      const plr = threshold ? thresholdLr * c.thresholdLrMultiplier : lr;
      const wd = threshold ? 0 : c.weightDecay;
      if (c.kind === "sgd") this.sgd(p, plr, wd, kernels);
      else this.adam(p, plr, wd, c.kind === "adamw", kernels);
    }
  }

  /** A new zeroed buffer: in the kernels' memory where the buffers live there, else an ordinary array. */
  private newBuffer(n: number): Float32Array {
    const k = this.held.kernels;
    if (!k?.alloc) return new Float32Array(n);
    const b = k.alloc(n);
    this.held.arrays.push(b);
    return b;
  }

  /** Move every buffer into the memory of `kernels` (freeing the old resident copies). */
  private moveBuffers(kernels: Kernels): void {
    const old = this.held.kernels;
    const oldArrays = this.held.arrays.splice(0);
    this.held.kernels = kernels;
    for (const [k, b] of this.buffers) this.adopt(k, b);
    for (const a of oldArrays) old?.free?.(a);
  }

  /** Keep a copy of b as the buffer `name`, where newBuffer() puts buffers now. */
  private adopt(name: string, b: Float32Array): void {
    const nb = this.newBuffer(b.length);
    nb.set(b);
    this.buffers.set(name, nb);
  }

  private buffer(name: string, n: number): Float32Array {
    let b = this.buffers.get(name);
    if (!b) this.buffers.set(name, (b = this.newBuffer(n)));
    return b;
  }

  private sgd(p: Param, lr: number, wd: number, kernels?: Kernels): void {
    const { value: w, grad: g } = p;
    const mu = this.config.momentum;
    const first = !this.buffers.has(`momentum.${p.name}`);
    const buf = mu > 0 ? this.buffer(`momentum.${p.name}`, w.length) : null;
    const u = { w, g, buf, first, lr, wd, mu };
    if (kernels?.sgdUpdate) kernels.sgdUpdate(u);
    else sgdUpdate(u);
  }

  private adam(p: Param, lr: number, wd: number, decoupled: boolean, kernels?: Kernels): void {
    const { value: w, grad: g } = p;
    const { beta1: b1, beta2: b2, eps } = this.config;
    const m = this.buffer(`m.${p.name}`, w.length);
    const v = this.buffer(`v.${p.name}`, w.length);
    const t = this.stepCount;
    const bc1 = 1 - b1 ** t;
    const bc2 = Math.sqrt(1 - b2 ** t);
    const stepSize = lr / bc1;
    const shrink = decoupled ? 1 - lr * wd : 1;
    const u = { w, g, m, v, b1, b2, eps, stepSize, bc2, shrink, wd, decoupled };
    if (kernels?.adamUpdate) kernels.adamUpdate(u);
    else adamUpdate(u);
  }

  state(): OptimizerState {
    const buffers: Record<string, Float32Array> = {};
    for (const [k, b] of this.buffers) buffers[k] = b.slice();
    return { step: this.stepCount, buffers };
  }

  /** Restore a saved state (buffers are checked against the parameters' sizes). */
  loadState(s: OptimizerState, params: Param[]): void {
    if (!Number.isInteger(s.step) || s.step < 0)
      throw new ValueError("optimizer state: step", "a whole number ≥ 0", String(s.step));
    const sizes = new Map(params.map((p) => [p.name, p.value.length]));
    for (const [k, b] of Object.entries(s.buffers)) {
      const n = sizes.get(k.slice(k.indexOf(".") + 1));
      if (n === undefined)
        throw new ShapeError(`optimizer state: ${k}`, "a buffer of a model parameter", "an unknown name");
      if (b.length !== n) throw new ShapeError(`optimizer state: ${k}`, `${n} values`, String(b.length));
    }
    this.buffers.clear();
    for (const a of this.held.arrays.splice(0)) this.held.kernels?.free?.(a);
    for (const [k, b] of Object.entries(s.buffers)) this.adopt(k, b);
    this.stepCount = s.step;
  }
}

/**
 * Scale all gradients so that their global L2 norm is at most maxNorm (PyTorch's
 * clip_grad_norm_: factor maxNorm / (norm + 1e-6) when that is below 1). Returns the norm before
 * clipping; maxNorm ≤ 0 only measures. The squares are summed in float64 per parameter in the fixed
 * chunks of kernels/train-ops.ts (sumSquares, on `kernels` where given: the same bits on any kernel
 * set and thread count), the parameters' sums added in order.
 */
export function clipGradNorm(params: Param[], maxNorm: number, kernels?: Kernels): number {
  let sq = 0;
  for (const p of params) {
    const n = p.grad.length;
    sq += kernels?.sumSquares ? kernels.sumSquares(p.grad, 0, n) : sumSquares(p.grad, 0, n);
  }
  const norm = Math.sqrt(sq);
  const f = clipFactor(maxNorm, norm);
  if (f < 1) for (const p of params) for (let i = 0; i < p.grad.length; i++) p.grad[i] *= f;
  return norm;
}
