// How many batch rows (examples, or LM streams) one forward and backward can hold at once, from
// a memory estimate made before anything is allocated (isomorphic: the limits come from the caller).
//
// A training step's large arrays grow with the rows B of its batch: the BPTT tape and the gradients
// in ordinary memory (per EGRU layer y, h, o, tr, z, r, g, hr, c [T, B, H] and their adjoints), and
// in the WebAssembly memory the layers' working arrays (EGRU's and GRU's a, dp, dq [T, B, 3H], LSTM's
// P, dP [T, B, 4H]) and training tapes (the tape above, kept there up to a cap) on top of the kernels' work region, which keeps the largest operand copies a call
// made (a layer's x, y, dx; the decoder's logits and their gradient): src/train/memory-layers.ts.
// When a batch's rows do not fit, the step runs its rows in blocks (micro-batches) whose gradients
// add up to the whole batch's (src/train/trainer.ts, lm-trainer.ts); when even one row does not fit,
// a StateError says so before anything is allocated.
//
// The per-row figures are deliberate over-estimates (every array of a layer counted at once, the
// longest random BPTT segment), checked against the measured peaks in docs/benchmarks.md. The fixed
// WebAssembly part, twice the parameters, holds the resident recurrent matrices (EGRU's and GRU's R,
// LSTM's W_hh: Σ H·G, within the parameters) and the largest weight matrix one call copies.

import { ALEXNET_FRONT_END, type CnnLayerSpec, StateError } from "egru";
import type { TrainConfig } from "./config.js";
import { layerShapes, stackFloats } from "./memory-layers.js";

const F32 = 4;
/** A 64 KiB WebAssembly page. */
export const WASM_PAGE = 65536;

/** Bytes one batch row costs in each memory; `fixed` is what does not grow with rows (weights, copies). */
export interface MemoryCost {
  wasm: number;
  host: number;
  fixedWasm: number;
  fixedHost: number;
}

/** Bytes available: the WebAssembly memory's maximum (Infinity with the TypeScript kernels) and ordinary memory. */
export interface MemoryLimits {
  wasm: number;
  host: number;
}

/**
 * Floats per frame of a CNN front-end (a shape walk, no allocation): `kept`, the activations a
 * training forward keeps for the backward, and `im2col`, the largest layer's unfolded input, which
 * exists for one layer at a time.
 */
function frontEndFloats(spec: CnnLayerSpec[], C: number, H: number, W: number): { kept: number; im2col: number } {
  let total = C * H * W;
  let im2col = 0;
  for (const s of spec) {
    if (s.kind === "conv") {
      const stride = s.stride ?? 1;
      const pad = s.padding ?? 0;
      const Ho = Math.floor((H + 2 * pad - s.kernel) / stride) + 1;
      const Wo = Math.floor((W + 2 * pad - s.kernel) / stride) + 1;
      im2col = Math.max(im2col, C * s.kernel * s.kernel * Ho * Wo);
      total += 2 * s.out * Ho * Wo;
      [C, H, W] = [s.out, Ho, Wo];
    } else if (s.kind === "pool") {
      const stride = s.stride ?? s.kernel;
      [H, W] = [Math.floor((H - s.kernel) / stride) + 1, Math.floor((W - s.kernel) / stride) + 1];
      total += 2 * C * H * W;
    } else if (s.kind === "relu") total += C * H * W;
    else {
      [C, H, W] = [s.out, 1, 1];
      total += 2 * s.out;
    }
  }
  return { kept: total, im2col };
}

/** The cost of a classifier batch row: T steps of I inputs (frames: channels × height × width). */
export function classifierCost(
  c: TrainConfig,
  task: { T: number; I: number; classes: number; frame?: { channels: number; height: number; width: number } },
  training: boolean,
): MemoryCost {
  const f =
    c.model.frontEnd === "alexnet" && task.frame
      ? frontEndFloats(ALEXNET_FRONT_END, task.frame.channels, task.frame.height, task.frame.width)
      : null;
  const s = stackFloats(c, layerShapes(c, f ? 512 : task.I, c.model.hidden), task.T, training);
  // the front-end's activations (and their gradients in training) and its largest unfolded input
  const perStep = (f ? f.kept * (training ? 2 : 1) + f.im2col : 0) + 2 * task.I;
  const params = s.params + (c.model.hidden + 1) * task.classes + (f ? 4e6 : 0);
  return {
    wasm: (s.working + s.tapes + s.copies) * F32,
    host: (s.host + task.T * perStep) * F32,
    // the weights and gradients (placed by the trainer) and Adam's two moments live in the kernels' memory
    fixedWasm: 4 * params * F32,
    fixedHost: 4 * params * F32,
  };
}

/** Longest segment a training step of random BPTT can draw (bptt + 6σ of AWD's normal(bptt, 5)). */
export function longestSegment(c: TrainConfig): number {
  return c.lm.randomBptt ? c.lm.bptt + 30 : c.lm.bptt;
}

/** The cost of a language-model batch row (one stream) over a segment of T tokens, V words. */
export function lmCost(c: TrainConfig, vocab: number, T: number, training: boolean): MemoryCost {
  const E = c.lm.embedding;
  const s = stackFloats(c, layerShapes(c, E, E), T, training);
  // the decoder per step: in training, its logits [T, V] and their gradient live in the kernels'
  // memory from the forward to the end of the decoder's backward (before the layers' backward), its
  // products copy its input, mask and dx [T, E]; in evaluation, the product copies the logits and the
  // input through the work region
  const decoderWasm = training ? 2 * vocab + 2 * E : vocab + E;
  const decoderHost = training ? vocab : 2 * vocab;
  const params = s.params + vocab * E + vocab;
  // Embᵀ [E, V] resident, and in training the weight gradient's [E, V] beside it
  const decoderFixed = (training ? 2 : 1) * vocab * E;
  return {
    // the work region grows to the largest copies, the layers' or the decoder's, and the layers'
    // working arrays and training tapes come on top of it (the decoder's backward runs before the layers')
    wasm: (s.working + s.tapes + Math.max(s.copies, T * decoderWasm)) * F32,
    host: (s.host + T * (decoderHost + 4 * E)) * F32,
    fixedWasm: (4 * params + decoderFixed) * F32,
    fixedHost: 4 * params * F32,
  };
}

/** A plan: rows per block and the estimate behind it (bytes). */
export interface MicroBatchPlan {
  rows: number;
  blocks: number;
  /** Estimated peak of one block, WebAssembly and ordinary memory. */
  wasmBytes: number;
  hostBytes: number;
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** The estimated peak of one block of `rows` rows under `cost` (MicroBatchPlan's two figures). */
export function blockPeak(cost: MemoryCost, rows: number): { wasmBytes: number; hostBytes: number } {
  return { wasmBytes: cost.fixedWasm + rows * cost.wasm, hostBytes: cost.fixedHost + rows * cost.host };
}

/**
 * Rows per block for a batch of `batch` rows: `want` ("auto": as many as fit both memories; a number:
 * that many, checked against the WebAssembly memory), balanced so the blocks differ by at most one row. Throws a StateError naming
 * `where` (e.g. "preset smnist-paper: batchSize") when not even one row fits, before any allocation.
 */
export function planMicroBatch(
  where: string,
  want: "auto" | number,
  batch: number,
  cost: MemoryCost,
  limits: MemoryLimits,
  /** With "auto": at most this many rows even where more would fit. */
  maxRows = Number.POSITIVE_INFINITY,
): MicroBatchPlan {
  const wasmRoom = limits.wasm - cost.fixedWasm;
  const hostRoom = limits.host - cost.fixedHost;
  const fitWasm = Math.floor(wasmRoom / cost.wasm);
  const fit = Math.min(batch, fitWasm, Math.floor(hostRoom / cost.host));
  const need =
    `per row ${mib(cost.wasm)} WebAssembly + ${mib(cost.host)} ordinary memory (${cost.wasm} + ${cost.host} bytes) besides ` +
    `${mib(cost.fixedWasm)} + ${mib(cost.fixedHost)} for the weights`;
  const limit = `limits ${Number.isFinite(limits.wasm) ? `${limits.wasm} bytes of WebAssembly memory` : "no WebAssembly memory"} and ${limits.host} bytes of ordinary memory`;
  if (!(wasmRoom >= 0 && hostRoom >= 0)) {
    // the weights alone do not fit: the model's sizes are at fault, not the batch
    throw new StateError(
      where.replace(/: batchSize$/, ": model"),
      `a model whose weights fit (${limit})`,
      `an estimate of ${mib(cost.fixedWasm)} WebAssembly + ${mib(cost.fixedHost)} ordinary memory for the weights (${cost.fixedWasm} + ${cost.fixedHost} bytes)`,
    );
  }
  if (!(fit >= 1)) {
    throw new StateError(where, `a configuration whose one batch row fits (${limit})`, `an estimate of ${need}`);
  }
  // a number asked for is held to the WebAssembly memory's hard limit only (ordinary memory's is a budget)
  if (want !== "auto" && want > fitWasm && want <= batch) {
    throw new StateError(
      `${where.replace(/: .*$/, "")}: microBatch`,
      `at most ${fitWasm} rows (${limit})`,
      `${want} rows, an estimate of ${need}`,
    );
  }
  const cap = want === "auto" ? Math.min(fit, maxRows) : Math.min(want, batch);
  const blocks = Math.ceil(batch / cap);
  const rows = Math.ceil(batch / blocks);
  return { rows, blocks, ...blockPeak(cost, rows) };
}

/** Split rows [0, B) into blocks of at most `rows` that differ by at most one: [start, end) pairs. */
export function rowBlocks(B: number, rows: number): [number, number][] {
  const n = Math.ceil(B / Math.max(1, Math.min(rows, B)));
  const out: [number, number][] = [];
  for (let k = 0; k < n; k++) out.push([Math.floor((k * B) / n), Math.floor(((k + 1) * B) / n)]);
  return out;
}

/** What a builder needs to plan its blocks: the limits and the configuration's source for errors. */
export interface MemoryBudget {
  limits: MemoryLimits;
  /** Where the configuration came from, e.g. "preset smnist-paper" (errors name its fields). */
  source: string;
}

/** Rows per block of a training step and of an evaluation batch. */
export interface RowPlans {
  train: MicroBatchPlan;
  eval: MicroBatchPlan;
}

/** The classifier's plans: training at batchSize, evaluation at evalBatchSize (exact in any blocks). */
/** The rows of an evaluation forward beyond which a classifier's evaluation runs in blocks (at least the training batch). */
export const EVAL_ROWS = 256;

export function classifierPlans(
  c: TrainConfig,
  task: Parameters<typeof classifierCost>[1],
  budget: MemoryBudget,
): RowPlans {
  return {
    train: planMicroBatch(
      `${budget.source}: batchSize`,
      c.microBatch,
      c.batchSize,
      classifierCost(c, task, true),
      budget.limits,
    ),
    // evaluation forwards hold at most max(batchSize, EVAL_ROWS) rows (the results are the same in
    // blocks): a forward keeps its tape, and 1,000 rows of it cost ~180 MB in the default run
    eval: planMicroBatch(
      `${budget.source}: evalBatchSize`,
      "auto",
      c.evalBatchSize,
      classifierCost(c, task, false),
      budget.limits,
      Math.max(c.batchSize, EVAL_ROWS),
    ),
  };
}

/** The language model's plans: training at batchSize over the longest segment, evaluation at batchSize over bptt. */
export function lmPlans(c: TrainConfig, vocab: number, budget: MemoryBudget): RowPlans {
  return {
    train: planMicroBatch(
      `${budget.source}: batchSize`,
      c.microBatch,
      c.batchSize,
      lmCost(c, vocab, longestSegment(c), true),
      budget.limits,
    ),
    eval: planMicroBatch(
      `${budget.source}: batchSize`,
      "auto",
      Math.max(c.batchSize, c.lm.testBatchSize),
      lmCost(c, vocab, c.lm.bptt, false),
      budget.limits,
    ),
  };
}

/** Rows [r0, r1) of a time-major batch x [T, B, I]: [T, r1 − r0, I]. */
export function blockRows<A extends Float32Array | Int32Array>(
  x: A,
  T: number,
  B: number,
  I: number,
  r0: number,
  r1: number,
): A {
  const b = r1 - r0;
  const out = new (x.constructor as new (n: number) => A)(T * b * I);
  for (let t = 0; t < T; t++) out.set(x.subarray((t * B + r0) * I, (t * B + r1) * I), t * b * I);
  return out;
}
