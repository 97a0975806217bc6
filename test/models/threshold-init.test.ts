// Data-dependent threshold init (initThresholdsFromData): after it, each EGRU layer of a language model
// and of a classifier fires at about the target rate on the batches it measured — checked by an
// independent forward of the whole model, so a layer measured before the one below it was set would
// be off — in both threshold parameterisations, per unit and per layer; it draws no random number,
// leaves the model's mode as it was, and refuses what it cannot do by field.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { ThresholdMode } from "../../packages/egru/src/layers/egru.js";
import { SequenceClassifier } from "../../packages/egru/src/nn/classifier.js";
import { LanguageModel, type LmState } from "../../packages/egru/src/nn/language-model.js";
import { initThresholdsFromData, type ThresholdBatch } from "../../packages/egru/src/nn/threshold-init.js";

const V = 30;
const T = 10;
const B = 6;

const lm = (thresholdMode: ThresholdMode, cell: "egru" | "gru" = "egru"): LanguageModel =>
  new LanguageModel({
    cell,
    vocab: V,
    embedding: 8,
    hidden: 12,
    layers: 3,
    seed: 4,
    dropoutEmbedding: 0.2,
    dropoutForward: 0.2,
    dropoutOutput: 0.5,
    dropConnect: 0.3,
    egru: { thresholdMode },
  });

/** Four consecutive segments of B random token streams. */
function tokenBatches(): ThresholdBatch[] {
  const rng = new Rng(9);
  return Array.from({ length: 4 }, () => ({ tokens: Int32Array.from({ length: T * B }, () => rng.int(V)), T, B }));
}

/** Per layer, the fraction of entries with an event in evaluation forwards of the whole model over the batches (state carried). */
function lmActivity(model: LanguageModel, batches: ThresholdBatch[]): number[] {
  model.eval();
  const events = model.cells.map(() => 0);
  const entries = model.cells.map(() => 0);
  let state: LmState | null = null;
  for (const b of batches) {
    const run = model.forward(b.tokens!, b.T, b.B, state);
    run.saved.runs.forEach((r, l) => {
      events[l] += r.stats.events;
      entries[l] += r.stats.entries;
    });
    state = run.state;
    model.release(run);
  }
  model.train();
  return events.map((e, l) => e / entries[l]);
}

for (const mode of ["clamp", "sigmoid"] as const)
  test(`a language model's layers fire at about the target on the batches measured (${mode} thresholds)`, () => {
    const model = lm(mode);
    const batches = tokenBatches();
    const before = lmActivity(model, batches);
    const rng = model.rng.getState();
    const r = initThresholdsFromData(model, batches, 0.1);
    assert.deepEqual(model.rng.getState(), rng, "no random number drawn");
    assert.equal(model.training, true, "back in training mode");
    assert.equal(r.positions, 4 * T * B);
    assert.deepEqual(
      r.layers.map((l) => l.layer),
      [0, 1, 2],
    );
    const after = lmActivity(model, batches);
    after.forEach((a, l) => {
      assert.ok(Math.abs(a - 0.1) < 0.02, `layer ${l + 1}: activity ${a} (before the init: ${before[l]})`);
      assert.ok(Math.abs(a - r.layers[l].activity) < 1e-12, `layer ${l + 1}: the result says ${r.layers[l].activity}`);
    });
    assert.ok(
      before.some((a) => Math.abs(a - 0.1) > 0.05),
      `the configured thresholds are not already at the target: ${before}`,
    );
    for (const c of model.cells) {
      const stored = c.layer.weights.thr;
      for (const v of stored)
        if (mode === "clamp") assert.ok(v >= 0 && v <= 1, `clamp mode stores ϑ in [0, 1]: ${v}`);
        else assert.ok(Math.abs(v) < 13.9, `sigmoid mode stores a logit within the bound: ${v}`);
    }
  });

for (const mode of ["clamp", "sigmoid"] as const)
  test(`a classifier's layers fire at about the target, per unit and per layer (${mode} thresholds)`, () => {
    const rng = new Rng(2);
    const I = 4;
    const batches: ThresholdBatch[] = Array.from({ length: 3 }, () => ({
      x: Float32Array.from({ length: 12 * 5 * I }, () => rng.normal(0, 1)),
      T: 12,
      B: 5,
    }));
    for (const per of ["unit", "layer"] as const) {
      const model = new SequenceClassifier({
        cell: "egru",
        inputSize: I,
        hiddenSize: 10,
        layers: 2,
        classes: 3,
        readout: "trace",
        seed: 1,
        egru: { thresholdMode: mode },
      });
      const r = initThresholdsFromData(model, batches, 0.2, { per });
      model.eval();
      const events = [0, 0];
      const entries = [0, 0];
      for (const b of batches) {
        const run = model.forward(b.x!, b.T, b.B);
        run.runs.forEach((c, l) => {
          events[l] += c.stats.events;
          entries[l] += c.stats.entries;
        });
        model.release(run);
      }
      events.forEach((e, l) => {
        const a = e / entries[l];
        assert.ok(Math.abs(a - 0.2) < 0.03, `${per}, layer ${l + 1}: activity ${a}`);
        assert.ok(Math.abs(a - r.layers[l].activity) < 1e-12);
      });
      if (per === "layer")
        for (const c of model.cells) assert.equal(new Set(c.layer.weights.thr).size, 1, "one threshold per layer");
    }
  });

test("initThresholdsFromData refuses by field: the target, the batches, a model without EGRU layers", () => {
  const batches = tokenBatches();
  for (const target of [0, 1, -0.1, Number.NaN])
    assert.throws(
      () => initThresholdsFromData(lm("clamp"), batches, target),
      (e: Error) => e instanceof ValueError && /^ValueError: target: expected a number in \(0, 1\)/.test(String(e)),
    );
  assert.throws(() => initThresholdsFromData(lm("clamp"), [], 0.1), /batches: expected at least one batch/);
  assert.throws(
    () => initThresholdsFromData(lm("clamp"), [{ T, B, tokens: [1, 2] }], 0.1),
    /batches\[0\]\.tokens: expected T·B = 10·6 ids, got 2/,
  );
  assert.throws(
    () => initThresholdsFromData(lm("clamp", "gru"), batches, 0.1),
    /model: expected a model with EGRU layers/,
  );
  assert.throws(() => initThresholdsFromData(lm("clamp"), batches, 0.1, { per: "row" as "unit" }), /per: expected/);
});
