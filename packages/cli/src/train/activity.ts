// What a trained network does on real inputs, for pictures: per layer, the outputs for one input
// (the event raster) and the distribution of c − ϑ (the internal state's distance to the
// threshold, whose |·| < 1/s window is where gradients pass) over a batch of inputs. Works on the
// stacks of the classifier and the language model (evaluation mode).

import { ValueError } from "egru";
import type { CellRun, EGRU, LanguageModel, LmState, SequenceCell, SequenceClassifier } from "egru";
import type { ClassificationTask } from "./task.js";

export interface LayerActivity {
  units: number;
  /** Outputs of the first input of the batch, time-major [T, H]. */
  values: Float32Array;
}

/** c − ϑ over a run, binned; plus the window half-width 1/s. */
export interface DistanceHistogram {
  lo: number;
  hi: number;
  /** The EGRU layers' indices in the stack. */
  layers: number[];
  /** Per EGRU layer: counts in equal bins over [lo, hi) (values outside go to the end bins). */
  counts: Float64Array[];
  /** Per EGRU layer: 1/s, the surrogate's half-width. */
  window: number[];
  /** (step, example, unit) entries per layer. */
  entries: number[];
}

/** The outputs of example 0 of a batch of B: time-major [T, H] per layer. */
export function firstExampleOutputs(runs: CellRun[], cells: SequenceCell[], T: number, B: number): LayerActivity[] {
  return runs.map((r, l) => {
    const H = cells[l].hiddenSize;
    const v = new Float32Array(T * H);
    for (let t = 0; t < T; t++) v.set(r.out.subarray(t * B * H, (t * B + 1) * H), t * H);
    return { units: H, values: v };
  });
}

/** Every c − ϑ of the EGRU layers of a forward (c = h + o·ϑ, h the post-reset state). */
export function thresholdDistances(
  runs: CellRun[],
  cells: SequenceCell[],
): { layer: number; values: Float32Array; window: number }[] {
  const out: { layer: number; values: Float32Array; window: number }[] = [];
  runs.forEach((r, l) => {
    if (cells[l].kind !== "egru" || !r.h || !r.o) return;
    const layer = cells[l].layer as EGRU;
    const thr = layer.thresholds();
    const H = cells[l].hiddenSize;
    const d = new Float32Array(r.h.length);
    for (let i = 0; i < d.length; i++) {
      const th = thr[i % H];
      d[i] = r.h[i] + r.o[i] * th - th;
    }
    out.push({ layer: l, values: d, window: 1 / layer.pseudoDerivativeSupport });
  });
  return out;
}

/** Bin the distances of several forwards over [lo, hi) with `bins` bins. */
export function distanceHistogram(
  parts: { layer: number; values: Float32Array; window: number }[][],
  lo: number,
  hi: number,
  bins: number,
): DistanceHistogram {
  const layers = [...new Set(parts.flat().map((p) => p.layer))].sort((a, b) => a - b);
  const counts = layers.map(() => new Float64Array(bins));
  const window = layers.map(() => 0);
  const entries = layers.map(() => 0);
  const w = (hi - lo) / bins;
  for (const part of parts) {
    for (const p of part) {
      const k = layers.indexOf(p.layer);
      window[k] = p.window;
      entries[k] += p.values.length;
      const c = counts[k];
      for (let i = 0; i < p.values.length; i++) {
        const v = p.values[i];
        if (Number.isNaN(v)) continue;
        c[Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / w)))]++;
      }
    }
  }
  return { lo, hi, layers, counts, window, entries };
}

/** A picture's worth of activity: the raster of one input and the c − ϑ histogram over many. */
export interface ActivityReport {
  /** What the raster shows, e.g. "test example 3 (digit 7)". */
  label: string;
  T: number;
  layers: LayerActivity[];
  /** Language models: the input words along the time axis. */
  stepLabels?: string[];
  /** Classifiers: the input of the raster's example, time-major [T, I]. */
  input?: { features: number; values: Float32Array };
  histogram: DistanceHistogram | null;
}

const HIST = { lo: -2, hi: 2, bins: 80 };

/** Raster of test example `input`; c − ϑ over the first `batch` test examples. */
export function classifierActivity(
  model: SequenceClassifier,
  task: ClassificationTask,
  input: number,
  batch = 64,
): ActivityReport {
  const n = task.count("test");
  if (!Number.isInteger(input) || input < 0 || input >= n)
    throw new ValueError("input", `a test example index in 0…${n - 1}`, String(input));
  model.eval();
  const one = task.batch("test", [input]);
  const r1 = model.forward(one.x, task.T, 1);
  const layers = firstExampleOutputs(r1.runs, model.cells, task.T, 1);
  model.release(r1);
  const B = Math.min(batch, n);
  const many = task.batch(
    "test",
    Int32Array.from({ length: B }, (_, i) => i),
  );
  const rB = model.forward(many.x, task.T, B);
  const d = thresholdDistances(rB.runs, model.cells);
  model.release(rB);
  return {
    label: `test example ${input} (label ${one.labels[0]})`,
    T: task.T,
    layers,
    input: { features: task.I, values: one.x },
    histogram: d.length ? distanceHistogram([d], HIST.lo, HIST.hi, HIST.bins) : null,
  };
}

/** The token ids of sentence `index` of a split (the words after the index-th <eos>, with that <eos> first), at most `max`. */
export function sentence(tokens: Int32Array, eos: number, index: number, max = 60): Int32Array {
  let start = 0;
  for (let k = 0; k < index; k++) {
    const next = tokens.indexOf(eos, start);
    if (next < 0) throw new ValueError("input", `a sentence index below ${k}`, String(index));
    start = next + 1;
  }
  const end = tokens.indexOf(eos, start);
  const stop = Math.min(end < 0 ? tokens.length : end + 1, start + max - 1);
  if (stop <= start) throw new ValueError("input", "a sentence with words", `sentence ${index} is empty`);
  const out = new Int32Array(stop - start + 1);
  out[0] = eos;
  out.set(tokens.subarray(start, stop), 1);
  return out;
}

/** Raster of test sentence `input` (from a zero state); c − ϑ over the split's first `segments` bptt-long segments at batch 1. */
export function lmActivity(
  model: LanguageModel,
  test: Int32Array,
  words: string[],
  input: number,
  bptt: number,
  segments = 20,
): ActivityReport {
  const eos = words.indexOf("<eos>");
  if (eos < 0) throw new ValueError("vocabulary", "a vocabulary with <eos>", "none");
  model.eval();
  const s = sentence(test, eos, input);
  const r1 = model.forward(s, s.length, 1);
  const layers = firstExampleOutputs(r1.saved.runs, model.cells, s.length, 1);
  model.release(r1);
  const parts: ReturnType<typeof thresholdDistances>[] = [];
  let state: LmState | null = null;
  for (let k = 0, at = 0; k < segments && at + 1 < test.length; k++) {
    const T = Math.min(bptt, test.length - at);
    const r = model.forward(test.subarray(at, at + T), T, 1, state);
    parts.push(thresholdDistances(r.saved.runs, model.cells));
    state = r.state;
    model.release(r);
    at += T;
  }
  return {
    label: `test sentence ${input}`,
    T: s.length,
    layers,
    stepLabels: Array.from(s, (t) => words[t]),
    histogram: parts.length && parts[0].length ? distanceHistogram(parts, HIST.lo, HIST.hi, HIST.bins) : null,
  };
}
