// Data-dependent threshold initialisation of a model's EGRU layers: run the model in evaluation
// mode (no dropout, no DropConnect, no random numbers drawn) over a few batches and set the
// thresholds so that about a target fraction of the internal states c exceed them, layer by layer
// from the bottom (layer l's thresholds are final before layer l + 1's c is measured, since l's
// events are l + 1's input).
//
//   initThresholdsFromData(model, batches, target, { per, rounds, maxSamples })
//     batches  language model: { tokens [T, B], T, B }, consecutive segments of the same B streams
//              (the state is carried from one to the next, as training carries it);
//              classifier: { x [T, B, I], T, B }, each sequence from a zero state
//     per      "unit" (default): each unit's ϑ_j is the (1 − target) quantile of its own c values,
//              so every unit fires at about the target rate; "layer": one ϑ for the whole layer
//
// A layer's own thresholds change its c (the soft reset subtracts ϑ, and its events feed back through
// the recurrent weights), so each layer takes `rounds` passes: measure c, set ϑ from its quantile,
// again. The quantile is kept inside the parameterisation's range: "clamp" stores ϑ in [0, 1];
// "sigmoid" stores the logit θ = log(ϑ / (1 − ϑ)) of ϑ in [SIGMOID_BOUND, 1 − SIGMOID_BOUND] (a finite
// logit). A unit whose quantile lies below the range gets its smallest ϑ and fires at a rate other
// than the target (counted in `atBound`; with "clamp", ϑ = 0 fires wherever c > 0). The result gives
// each layer's activity with its new thresholds on the batches measured.

import { ValueError } from "../core/errors.js";
import { checkPositiveInt, checkRange } from "../core/validate.js";
import { EGRU } from "../layers/egru.js";
import type { SequenceCell } from "./cells.js";
import { SequenceClassifier } from "./classifier.js";
import { LanguageModel, type LmState } from "./language-model.js";

/** One batch to measure c on: token ids (language model) or inputs (classifier), time-major. */
export interface ThresholdBatch {
  T: number;
  B: number;
  /** Language model: ids [T, B]. */
  tokens?: ArrayLike<number>;
  /** Classifier: inputs [T, B, I]. */
  x?: Float32Array;
}

export type ThresholdGranularity = "unit" | "layer";

export interface ThresholdInitOptions {
  /** One threshold per unit (default) or one per layer, each from the quantile of its c values. */
  per?: ThresholdGranularity;
  /** Measure-and-set passes per layer (default 3). */
  rounds?: number;
  /** Values of c kept per unit for the quantile, evenly strided over the batches (default 4096). */
  maxSamples?: number;
}

/** What the initialisation did to one EGRU layer. */
export interface ThresholdLayerInit {
  /** Index among the model's layers (0 = the bottom one). */
  layer: number;
  /** Fraction of (step, row, unit) entries with an event, with the new thresholds, on the batches. */
  activity: number;
  /** The new effective thresholds ϑ: smallest, mean and largest. */
  thresholds: { min: number; mean: number; max: number };
  /** Units whose quantile fell outside the parameterisation's range (their ϑ is its bound). */
  atBound: number;
}

export interface ThresholdInitResult {
  target: number;
  per: ThresholdGranularity;
  rounds: number;
  /** (step, row) positions measured per unit: Σ T·B over the batches. */
  positions: number;
  /** The EGRU layers, bottom up (GRU and LSTM layers have no thresholds and are left out). */
  layers: ThresholdLayerInit[];
}

/** The smallest ϑ (and 1 − the largest) a "sigmoid" layer gets: a logit of about ±13.8. */
export const SIGMOID_BOUND = 1e-6;

/**
 * Set the thresholds of every EGRU layer of `model` from the distribution of its internal states c
 * on `batches`, so that about `target` (in (0, 1)) of them exceed their threshold. Returns each
 * layer's resulting activity. The model is left in the mode (training or evaluation) it was in.
 */
export function initThresholdsFromData(
  model: LanguageModel | SequenceClassifier,
  batches: ThresholdBatch[],
  target: number,
  options: ThresholdInitOptions = {},
): ThresholdInitResult {
  checkRange("target", target, 0, 1, { loOpen: true, hiOpen: true });
  const per = options.per ?? "unit";
  if (per !== "unit" && per !== "layer") throw new ValueError("per", '"unit" or "layer"', JSON.stringify(per));
  const rounds = options.rounds ?? 3;
  checkPositiveInt("rounds", rounds);
  const maxSamples = options.maxSamples ?? 4096;
  checkPositiveInt("maxSamples", maxSamples);
  if (batches.length === 0) throw new ValueError("batches", "at least one batch", "none");
  if (!model.cells.some((c) => c.layer instanceof EGRU))
    throw new ValueError("model", "a model with EGRU layers (thresholds to set)", `${model.cells[0].kind} layers`);
  const lm = model instanceof LanguageModel;
  const wasTraining = model.training;
  model.eval();
  try {
    let inputs = batches.map((b, i) => firstInputs(model, b, i));
    const positions = batches.reduce((s, b) => s + b.T * b.B, 0);
    const layers: ThresholdLayerInit[] = [];
    model.cells.forEach((cell, l) => {
      const layer = cell.layer;
      let atBound = 0;
      if (layer instanceof EGRU) {
        const stride = Math.ceil(positions / maxSamples);
        for (let r = 0; r < rounds; r++) {
          const samples = new UnitSamples(layer.hiddenSize, Math.ceil(positions / stride), stride);
          runCell(cell, inputs, batches, lm, (run) => samples.add(layer.preResetState(run)));
          atBound = setThresholds(layer, samples, target, per);
        }
      }
      let events = 0;
      let entries = 0;
      inputs = runCell(cell, inputs, batches, lm, null, (stats) => {
        events += stats.events;
        entries += stats.entries;
      });
      if (layer instanceof EGRU) {
        const theta = layer.thresholds();
        let sum = 0;
        for (const v of theta) sum += v;
        layers.push({
          layer: l,
          activity: events / entries,
          thresholds: { min: Math.min(...theta), mean: sum / theta.length, max: Math.max(...theta) },
          atBound,
        });
      }
    });
    return { target, per, rounds, positions, layers };
  } finally {
    if (wasTraining) model.train();
  }
}

/** The bottom layer's input for batch i, time-major [T, B, I]: the embedding (language model) or x through the front-end. */
function firstInputs(model: LanguageModel | SequenceClassifier, b: ThresholdBatch, i: number): Float32Array {
  checkPositiveInt(`batches[${i}].T`, b.T);
  checkPositiveInt(`batches[${i}].B`, b.B);
  if (model instanceof LanguageModel) {
    if (!b.tokens || b.tokens.length !== b.T * b.B)
      throw new ValueError(`batches[${i}].tokens`, `T·B = ${b.T}·${b.B} ids`, String(b.tokens?.length ?? "none"));
    return model.embedding.forward(b.tokens).out;
  }
  if (!b.x) throw new ValueError(`batches[${i}].x`, "inputs [T, B, I]", "none");
  return model.frontEnd ? model.frontEnd.forward(b.x, b.T * b.B).y : b.x;
}

/**
 * Run one cell over every batch's input (a language model carries its state from batch to batch
 * while B stays the same); `seeC` sees each run's pre-reset c, `count` its statistics. Returns the
 * outputs (the next layer's inputs).
 */
function runCell(
  cell: SequenceCell,
  inputs: Float32Array[],
  batches: ThresholdBatch[],
  carry: boolean,
  seeC: ((run: Parameters<EGRU["preResetState"]>[0]) => void) | null,
  count?: (stats: { events: number; entries: number }) => void,
): Float32Array[] {
  let state: LmState[number] | null = null;
  let lastB = -1;
  return inputs.map((x, i) => {
    const { T, B } = batches[i];
    const run = cell.forward(x, T, B, carry && B === lastB ? state : null);
    try {
      if (seeC && cell.layer instanceof EGRU) seeC(run.result as Parameters<EGRU["preResetState"]>[0]);
      count?.(run.stats);
      state = run.state;
      lastB = B;
      return run.out.slice();
    } finally {
      run.release();
    }
  });
}

/** Values of c per unit, every `stride`-th (step, row) position across the batches, unit-major. */
class UnitSamples {
  readonly values: Float32Array;
  count = 0;
  private position = 0;

  constructor(
    readonly H: number,
    readonly capacity: number,
    private readonly stride: number,
  ) {
    this.values = new Float32Array(H * capacity);
  }

  /** Take c [T, B, H] (time-major) of one batch. */
  add(c: Float32Array): void {
    const H = this.H;
    for (let p = 0; p < c.length / H; p++, this.position++) {
      if (this.position % this.stride !== 0 || this.count >= this.capacity) continue;
      for (let j = 0; j < H; j++) this.values[j * this.capacity + this.count] = c[p * H + j];
      this.count++;
    }
  }

  /** Unit j's values (a view). */
  unit(j: number): Float32Array {
    return this.values.subarray(j * this.capacity, j * this.capacity + this.count);
  }
}

/** A value that about `target` of the sorted values exceed: between the k-th and (k+1)-th largest, k = round(n·target). */
function upperQuantile(sorted: Float32Array, target: number): number {
  const n = sorted.length;
  const k = Math.round(n * target);
  if (k <= 0) return sorted[n - 1];
  if (k >= n) return sorted[0] - 1e-6;
  return (sorted[n - 1 - k] + sorted[n - k]) / 2;
}

/** Set the layer's thresholds from the samples (per unit or one for the layer); returns how many hit the range's bound. */
function setThresholds(layer: EGRU, samples: UnitSamples, target: number, per: ThresholdGranularity): number {
  const H = layer.hiddenSize;
  const theta = new Float64Array(H);
  if (per === "layer") {
    const all = new Float32Array(H * samples.count);
    for (let j = 0; j < H; j++) all.set(samples.unit(j), j * samples.count);
    theta.fill(upperQuantile(all.sort(), target));
  } else for (let j = 0; j < H; j++) theta[j] = upperQuantile(samples.unit(j).slice().sort(), target);
  const sigmoid = layer.thresholdMode === "sigmoid";
  const [lo, hi] = sigmoid ? [SIGMOID_BOUND, 1 - SIGMOID_BOUND] : [0, 1];
  const thr = layer.weights.thr;
  let atBound = 0;
  for (let j = 0; j < H; j++) {
    const v = Math.min(hi, Math.max(lo, theta[j]));
    if (v !== theta[j]) atBound++;
    thr[j] = sigmoid ? Math.log(v / (1 - v)) : v;
  }
  return atBound;
}
