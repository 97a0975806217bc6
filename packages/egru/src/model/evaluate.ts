// evaluate() and predict() of the two models (evaluation mode; the mode is restored afterwards).
//   classifier  evaluate({ x [N, T, I], labels [N], T }, { batchSize }) → loss, accuracy, sparsity, MACs
//               predict(x [N, T, I], { T, batchSize }) → logits [N, C] and the arg-max classes [N]
//   LM          evaluate({ tokens }, { batchSize, bptt }) → loss per token, perplexity, sparsity, MACs
//               (batchSize parallel streams walked in bptt segments, the state carried across)
//               predict(tokens [T, B], { B }) → logits [T·B, V] from zero state
// Examples are taken in order, batchSize at a time, so the figures are those of the CLI's
// evaluation at the same batch size, bit for bit.

import type { MacCount } from "../kernels/gated-cell.js";
import type { CellRun } from "../nn/cells.js";
import type { SequenceClassifier } from "../nn/classifier.js";
import type { LanguageModel, LmState } from "../nn/language-model.js";
import { crossEntropySum, softmaxCrossEntropy } from "../nn/loss.js";
import { checkSequenceData, gatherBatch, gatherLabels, segments, type SequenceData, type TokenData } from "./data.js";
import { batchify, segment } from "./lm-batches.js";

/** Activity sparsity over EGRU outputs and MACs, summed over forwards. */
interface Tally {
  zeros: number;
  entries: number;
  macs: MacCount;
}

function tally(t: Tally, runs: CellRun[], extra: MacCount): void {
  t.macs.executed += extra.executed;
  t.macs.dense += extra.dense;
  for (const r of runs) {
    t.macs.executed += r.stats.executedMacs;
    t.macs.dense += r.stats.denseMacs;
    if (r.o === undefined) continue;
    t.zeros += r.stats.activitySparsity * r.stats.entries;
    t.entries += r.stats.entries;
  }
}

const newTally = (): Tally => ({ zeros: 0, entries: 0, macs: { executed: 0, dense: 0 } });

/** Run f in evaluation mode, then return the model to the mode it was in. */
function inEvalMode<M extends { training: boolean; train(): unknown; eval(): unknown }, R>(m: M, f: () => R): R {
  const was = m.training;
  m.eval();
  try {
    return f();
  } finally {
    if (was) m.train();
  }
}

export interface ClassifierEvaluation {
  count: number;
  loss: number;
  accuracy: number;
  /** Over the EGRU layers' outputs (0 for GRU/LSTM). */
  activitySparsity: number;
  /** Forward multiply-accumulates per example: executed, and what dense layers execute. */
  macsPerExample: MacCount;
}

export function evaluateClassifier(
  m: SequenceClassifier,
  data: SequenceData,
  opts: { batchSize?: number } = {},
): ClassifierEvaluation {
  const { inputSize: I, classes } = m.options;
  const n = checkSequenceData(data, I);
  const bs = opts.batchSize ?? 1000;
  return inEvalMode(m, () => {
    let loss = 0;
    let correct = 0;
    const t = newTally();
    for (let b0 = 0; b0 < n; b0 += bs) {
      const idx = Int32Array.from({ length: Math.min(bs, n - b0) }, (_, i) => b0 + i);
      const run = m.forward(gatherBatch(data.x, data.T, I, idx), data.T, idx.length);
      const ce = softmaxCrossEntropy(run.logits, gatherLabels(data.labels, idx), classes, m.kernels);
      loss += ce.loss * idx.length;
      correct += ce.correct;
      tally(t, run.runs, {
        executed: run.head.macs.executed + run.frontEndMacs.executed,
        dense: run.head.macs.dense + run.frontEndMacs.dense,
      });
      m.release(run);
    }
    return {
      count: n,
      loss: loss / n,
      accuracy: correct / n,
      activitySparsity: t.entries ? t.zeros / t.entries : 0,
      macsPerExample: { executed: t.macs.executed / n, dense: t.macs.dense / n },
    };
  });
}

export function predictClassifier(
  m: SequenceClassifier,
  x: ArrayLike<number>,
  opts: { T: number; batchSize?: number },
): { logits: Float32Array; classes: Int32Array } {
  const { inputSize: I, classes: C } = m.options;
  const n = Math.floor(x.length / (opts.T * I));
  checkSequenceData({ x, T: opts.T, labels: new Int32Array(n) }, I);
  const bs = opts.batchSize ?? 1000;
  const logits = new Float32Array(n * C);
  inEvalMode(m, () => {
    for (let b0 = 0; b0 < n; b0 += bs) {
      const idx = Int32Array.from({ length: Math.min(bs, n - b0) }, (_, i) => b0 + i);
      const run = m.forward(gatherBatch(x, opts.T, I, idx), opts.T, idx.length);
      logits.set(run.logits, b0 * C);
      m.release(run);
    }
  });
  const classes = Int32Array.from({ length: n }, (_, k) => {
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[k * C + c] > logits[k * C + best]) best = c;
    return best;
  });
  return { logits, classes };
}

export interface LmEvaluation {
  tokens: number;
  /** Mean cross-entropy per token (nats) and its exponential. */
  loss: number;
  perplexity: number;
  activitySparsity: number;
  macsPerToken: MacCount;
}

export function evaluateLanguageModel(
  m: LanguageModel,
  data: TokenData,
  opts: { batchSize?: number; bptt?: number } = {},
): LmEvaluation {
  const streams = batchify(data.tokens, opts.batchSize ?? 1, "batchSize");
  const V = m.options.vocab;
  return inEvalMode(m, () => {
    let loss = 0;
    let tokens = 0;
    const t = newTally();
    let state: LmState | null = null;
    for (const [i, T] of segments(streams, opts.bptt ?? 35)) {
      const seg = segment(streams, i, T);
      const run = m.forward(seg.input, T, streams.B, state);
      loss += crossEntropySum(run.logits, seg.target, V, m.kernels);
      tokens += T * streams.B;
      tally(t, run.saved.runs, run.decoderMacs);
      state = run.state;
      m.release(run);
    }
    const mean = loss / tokens;
    return {
      tokens,
      loss: mean,
      perplexity: Math.exp(mean),
      activitySparsity: t.entries ? t.zeros / t.entries : 0,
      macsPerToken: { executed: t.macs.executed / tokens, dense: t.macs.dense / tokens },
    };
  });
}

export function predictLanguageModel(
  m: LanguageModel,
  tokens: ArrayLike<number>,
  opts: { B?: number } = {},
): { logits: Float32Array } {
  const B = opts.B ?? 1;
  return inEvalMode(m, () => {
    const run = m.forward(tokens, Math.floor(tokens.length / B), B);
    m.release(run);
    return { logits: run.logits };
  });
}
