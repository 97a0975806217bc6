// The paper's figures beside egru's, in the training loops' evaluations, records and tables:
// backward sparsity on the post-reset h (the paper's code) beside egru's on the pre-reset c, and the
// paper's effective MACs (dense × the fraction of active units) beside the executed MACs, each
// against a direct computation from the layers' outputs at odd sizes (a stacked EGRU classifier
// evaluated in uneven batches; a language model over one segment); the names in the records and
// the labels in the summary tables keep the two apart. And the step records: the clip factors of
// EGRU's clip inside backward appear when it is on, and a step run in row blocks clips as the
// whole batch does.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { batchify, segment } from "../../packages/egru/src/model/lm-batches.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { LanguageModel } from "../../packages/egru/src/nn/language-model.js";
import { SequenceClassifier } from "../../packages/egru/src/nn/classifier.js";
import { Optimizer } from "../../packages/egru/src/optim/optimizer.js";
import { evalRecord, resultRows } from "../../packages/cli/src/run/classifier.js";
import { lmEvalRecord, lmResultRows } from "../../packages/cli/src/run/language-model.js";
import { PAPER_LABELS, stepFigures } from "../../packages/cli/src/run/kind.js";
import { LmTrainer } from "../../packages/cli/src/train/lm-trainer.js";
import type { ClassificationTask } from "../../packages/cli/src/train/task.js";
import { Trainer } from "../../packages/cli/src/train/trainer.js";
import type { CellRun } from "../../packages/egru/src/nn/cells.js";
import { randomTask } from "../helpers.js";

/** Direct counts over a forward's EGRU layers: silent outputs, |c − ϑ| and |h − ϑ| beyond 1/s, entries. */
interface Counts {
  zeros: number;
  onC: number;
  onH: number;
  entries: number;
}

function count(runs: CellRun[], layers: EGRU[], into: Counts[]): void {
  runs.forEach((r, l) => {
    const theta = layers[l].thresholds();
    const H = layers[l].hiddenSize;
    const w = 1 / layers[l].pseudoDerivativeSupport;
    const c = (into[l] ??= { zeros: 0, onC: 0, onH: 0, entries: 0 });
    for (let i = 0; i < r.out.length; i++) {
      const th = theta[i % H];
      const h = r.h![i];
      if (r.out[i] === 0) c.zeros++;
      if (Math.abs(h + r.o![i] * th - th) > w) c.onC++; // c = h + o·ϑ
      if (Math.abs(h - th) > w) c.onH++;
    }
    c.entries += r.out.length;
  });
}

const total = (cs: Counts[], k: keyof Counts): number => cs.reduce((s, c) => s + c[k], 0);
const close = (a: number, b: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

const OPTIONS = {
  epochs: 1,
  evalBatchSize: 4,
  lr: 0.05,
  clip: 0,
  schedule: { kind: "constant" as const, warmupSteps: 0 },
  seed: 1,
};

function classifier(task: ClassificationTask, gradClip: number, microBatch?: number): Trainer {
  const model = new SequenceClassifier({
    cell: "egru",
    inputSize: task.I,
    hiddenSize: 7,
    layers: 2,
    classes: task.classes,
    readout: "trace",
    seed: 4,
    egru: { thresholdMean: 0.1, pseudoDerivativeSupport: 1.7, weightGain: 1.5, gradClip },
  });
  return new Trainer(model, task, new Optimizer({ kind: "sgd" }), { ...OPTIONS, batchSize: 5, microBatch });
}

test("classifier evaluation: the paper's backward sparsity and effective MACs from the layers' outputs", () => {
  const task = randomTask(5, 3, 4, 11, { seed: 3, std: 1.5, evaluated: true }); // batches of 4, 4, 3
  const t = classifier(task, 0);
  t.trainStep([0, 1, 2, 3, 4], 3);
  const r = t.evaluate("valid");
  const model = t.model.eval();
  const layers = model.cells.map((c) => c.layer as EGRU);
  const counts: Counts[] = [];
  let dense = 0;
  for (const idx of [
    [0, 1, 2, 3],
    [4, 5, 6, 7],
    [8, 9, 10],
  ]) {
    const { x } = task.batch("valid", idx);
    const run = model.forward(x, task.T, idx.length);
    count(run.runs, layers, counts);
    // dense MACs, written out: per layer T·B·(I + H)·3H, the readout H·C per example
    dense += layers.reduce((s, l) => s + task.T * idx.length * (l.inputSize + 7) * 21, 0) + idx.length * 7 * 4;
    model.release(run);
  }
  model.train();
  const entries = total(counts, "entries");
  close(r.paperBackwardSparsity, total(counts, "onH") / entries, "backward sparsity on h (paper)");
  close(r.backwardSparsity, total(counts, "onC") / entries, "backward sparsity on c (egru), unchanged");
  assert.notEqual(r.paperBackwardSparsity, r.backwardSparsity, "two different figures");
  close(r.macsPerExample.dense, dense / 11, "dense MACs per example");
  close(r.paperEffectiveMacsPerExample, (dense / 11) * (1 - total(counts, "zeros") / entries), "effective MACs");
  assert.ok(r.paperEffectiveMacsPerExample < r.macsPerExample.dense);

  // the record keeps the old fields and adds the new ones; the table labels keep them apart
  const rec = evalRecord(r);
  assert.equal(rec.backwardSparsity, r.backwardSparsity);
  assert.equal(rec.paperBackwardSparsity, r.paperBackwardSparsity);
  assert.equal(rec.macsExecutedPerExample, r.macsPerExample.executed);
  assert.equal(rec.paperEffectiveMacsPerExample, r.paperEffectiveMacsPerExample);
  const rows = new Map(resultRows(r, "egru"));
  assert.match(rows.get(PAPER_LABELS.backwardOnC) ?? "", /\|c − ϑ\| > 1\/s/);
  assert.match(rows.get(PAPER_LABELS.backwardOnH) ?? "", /\|h − ϑ\| > 1\/s/);
  assert.match(rows.get("MACs per example") ?? "", /executed of .* dense/);
  assert.match(rows.get(PAPER_LABELS.effectiveMacs) ?? "", /per example \(\d+\.\d\d % of dense\)/);
});

test("language-model evaluation: per-layer backward sparsity on h and effective MACs per token", () => {
  const V = 13;
  const E = 5;
  const B = 3;
  const T = 7;
  const rng = new Rng(6);
  const tokens = Int32Array.from({ length: B * (T + 1) }, () => Math.floor(rng.uniform() * V)); // one segment
  const model = new LanguageModel({
    cell: "egru",
    vocab: V,
    embedding: E,
    hidden: 9,
    layers: 3,
    seed: 5,
    egru: { thresholdMean: 0.05, weightGain: 2, pseudoDerivativeSupport: 2.3 },
  });
  const t = new LmTrainer(model, { train: tokens, valid: tokens, test: tokens }, new Optimizer({ kind: "sgd" }), {
    ...OPTIONS,
    batchSize: B,
    evalBatchSize: B,
    bptt: 10,
    randomBptt: false,
  });
  const r = t.evaluate("test", B);
  model.eval();
  const seg = segment(batchify(tokens, B), 0, 10);
  assert.equal(seg.T, T);
  const run = model.forward(seg.input, T, B);
  const counts: Counts[] = [];
  count(
    run.saved.runs,
    model.cells.map((c) => c.layer as EGRU),
    counts,
  );
  model.release(run);
  model.train();
  counts.forEach((c, l) => close(r.layerPaperBackwardSparsity[l], c.onH / c.entries, `layer ${l}: on h`));
  counts.forEach((c, l) => close(r.layerBackwardSparsity[l], c.onC / c.entries, `layer ${l}: on c`));
  const entries = total(counts, "entries");
  close(r.paperBackwardSparsity, total(counts, "onH") / entries, "on h, all layers");
  // dense MACs per token, written out: E→9, 9→9, 9→E layers ((I + H)·3H each) and the decoder E·V
  const dense = (E + 9) * 27 + (9 + 9) * 27 + (9 + E) * 3 * E + E * V;
  close(r.macsPerToken.dense, dense, "dense MACs per token");
  close(r.paperEffectiveMacsPerToken, dense * (1 - total(counts, "zeros") / entries), "effective MACs per token");
  const rec = lmEvalRecord(r);
  assert.deepEqual(rec.layerPaperBackwardSparsity, r.layerPaperBackwardSparsity);
  assert.equal(rec.paperEffectiveMacsPerToken, r.paperEffectiveMacsPerToken);
  const rows = new Map(lmResultRows(null, r, "egru"));
  assert.ok(
    rows.has(PAPER_LABELS.backwardOnC) && rows.has(PAPER_LABELS.backwardOnH) && rows.has(PAPER_LABELS.effectiveMacs),
  );
  // a dense cell: effective = dense, and no backward sparsity
  const gruRows = new Map(lmResultRows(null, { ...r, activitySparsity: 0, paperEffectiveMacsPerToken: dense }, "gru"));
  assert.equal(gruRows.get("backward sparsity"), "none");
  assert.match(gruRows.get(PAPER_LABELS.effectiveMacs) ?? "", /\(100\.00 % of dense\)/);
});

test("step records: the paper's backward sparsity per layer; the clip factors only when EGRU clips inside backward", () => {
  const task = randomTask(5, 3, 4, 10, { seed: 3, std: 1.5, evaluated: true });
  const idx = [3, 1, 4, 0, 2];
  const plain = classifier(task, 0).trainStep(idx, 2);
  assert.equal(plain.layerPaperBackwardSparsity.length, 2);
  assert.ok(plain.layerPaperBackwardSparsity.every((v) => v >= 0 && v <= 1));
  assert.equal(plain.layerClipScale, undefined);
  assert.ok(!("layerClipScale" in stepFigures(plain)), "no clip field when the clip is off");
  const clipped = classifier(task, 0.01).trainStep(idx, 2);
  assert.ok(
    clipped.layerClipScale?.every((s) => s > 0 && s < 1),
    JSON.stringify(clipped.layerClipScale),
  );
  assert.deepEqual(stepFigures(clipped).layerClipScale, clipped.layerClipScale);
  // the same step in row blocks of 2, 3: one gradient group, the whole batch's factor
  const blocks = classifier(task, 0.01, 2).trainStep(idx, 2);
  blocks.layerClipScale!.forEach((s, l) =>
    assert.ok(
      Math.abs(s - clipped.layerClipScale![l]) <= 1e-5 * s,
      `layer ${l}: ${s} vs ${clipped.layerClipScale![l]}`,
    ),
  );
});
