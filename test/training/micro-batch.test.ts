// Micro-batches: a training step run in row blocks gives the whole batch's gradients, loss and
// (after one clipped optimizer step) weights, for the classifier (with the activity and state
// regularisers on) and the language model (state carried per block over two segments; dropout off,
// and with "step" dropout on, whose masks the blocks share; the GRU and LSTM with row DropConnect
// and AR/TAR, weighted by each block's share), also with EGRU's clip inside backward
// acting (the blocks form one gradient group: it clips the batch's gradient once), on every kernel set (TypeScript,
// WebAssembly, WebAssembly on two threads: test/kernel-sets.ts); and the memory estimate refuses,
// before any allocation, a configuration that cannot fit.
//
// Tolerance: the blocks sum the same float32 terms in another order (per-block gradient sums, then
// the sum over blocks; the loss gradient scaled by rows/batch), so agreement is to float32 rounding
// of sums of O(T·B) terms: |a − b| ≤ 2e-6 + 1e-4·|b|.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { StateError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels } from "../../packages/egru/src/kernels/backend.js";
import { setKernels } from "../../packages/egru/src/wasm/select.js";
import { SequenceClassifier } from "../../packages/egru/src/nn/classifier.js";
import { LanguageModel } from "../../packages/egru/src/nn/language-model.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { Optimizer } from "../../packages/egru/src/optim/optimizer.js";
import { buildTrainer } from "../../packages/cli/src/train/build.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { LmTrainer } from "../../packages/cli/src/train/lm-trainer.js";
import {
  classifierCost,
  classifierPlans,
  lmPlans,
  planMicroBatch,
  rowBlocks,
} from "../../packages/cli/src/train/memory.js";
import type { ClassificationTask } from "../../packages/cli/src/train/task.js";
import { Trainer } from "../../packages/cli/src/train/trainer.js";
import { assertClose, randomTask } from "../helpers.js";
import { forEachKernelSet } from "../kernel-sets.js";

const TOL = { atol: 2e-6, rtol: 1e-4 };

function classifierTrainer(task: ClassificationTask, microBatch: number | undefined, gradClip = 0): Trainer {
  const model = new SequenceClassifier({
    cell: "egru",
    inputSize: task.I,
    hiddenSize: 6,
    layers: 2,
    classes: task.classes,
    readout: "trace",
    seed: 3,
    egru: { thresholdMean: 0.1, pseudoDerivativeSupport: 1, gradClip },
    activityWeight: 0.5,
    activityTarget: 0.2,
    stateWeight: 0.1,
    stateMeanWeight: 0.05,
  });
  return new Trainer(model, task, new Optimizer({ kind: "sgd" }), {
    epochs: 1,
    batchSize: 7,
    evalBatchSize: 7,
    lr: 0.1,
    clip: 0.05,
    schedule: { kind: "constant", warmupSteps: 0 },
    seed: 1,
    microBatch,
  });
}

/** Gradients and then weights of two parameter owners agree within TOL. */
function assertSameParams(
  a: { params(): { name: string; value: Float32Array; grad: Float32Array }[] },
  b: typeof a,
  what: string,
): void {
  const pb = b.params();
  a.params().forEach((p, k) => {
    assertClose(p.grad, pb[k].grad, { ...TOL, name: `${what}: ${p.name} gradient` });
    assertClose(p.value, pb[k].value, { ...TOL, name: `${what}: ${p.name} after the step` });
  });
}

describe("a micro-batched step equals the whole batch's", () => {
  forEachKernelSet((kernels) => {
    for (const gradClip of [0, 0.001]) {
      test(`classifier, 7 rows in blocks of 2, 2, 3, regularisers on, layer clip ${gradClip} (${kernels.name} kernels)`, () => {
        setKernels(kernels);
        assert.deepEqual(rowBlocks(7, 3), [
          [0, 2],
          [2, 4],
          [4, 7],
        ]);
        const task = randomTask(5, 3, 4, 7);
        const whole = classifierTrainer(task, undefined, gradClip);
        const parts = classifierTrainer(task, 3, gradClip);
        const idx = [6, 0, 3, 1, 5, 2, 4];
        const a = whole.trainStep(idx, 1);
        const b = parts.trainStep(idx, 1);
        assert.ok(a.gradNorm > 0.05, "clipping is active (so it must act once, on the batch's gradient)");
        assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.abs(a.loss), `loss ${b.loss} vs ${a.loss}`);
        assert.ok(
          Math.abs(a.gradNorm - b.gradNorm) <= 1e-4 * a.gradNorm,
          `gradient norm ${b.gradNorm} vs ${a.gradNorm}`,
        );
        assert.equal(a.accuracy, b.accuracy);
        if (gradClip > 0)
          assert.ok(
            a.layerClipScale!.every((f) => f < 1),
            `the layer clip acts: ${a.layerClipScale}`,
          );
        assertSameParams(parts.model, whole.model, "classifier");
        setKernels(jsKernels);
      });
    }

    for (const [cell, dropout, gradClip] of [
      ["egru", 0, 0],
      ["egru", 0.3, 0],
      ["egru", 0.3, 0.001],
      ["gru", 0.3, 0],
      ["lstm", 0.3, 0],
    ] as const) {
      // the baselines with AWD's row DropConnect and AR/TAR, each block's terms weighted by its share
      const awd = cell !== "egru";
      test(`language model (${cell}${awd ? ", row DropConnect, AR/TAR" : ""}), 5 streams in blocks of 2 and 3, two segments carrying state, dropout ${dropout}, layer clip ${gradClip} (${kernels.name} kernels)`, () => {
        setKernels(kernels);
        const rng = new Rng(9);
        const V = 11;
        const tokens = Int32Array.from({ length: 5 * 14 }, () => Math.floor(rng.uniform() * V));
        const make = (microBatch: number | undefined): LmTrainer => {
          const model = new LanguageModel({
            cell,
            vocab: V,
            embedding: 4,
            hidden: 5,
            layers: 2,
            seed: 2,
            dropoutWords: dropout,
            dropoutEmbedding: dropout,
            dropoutForward: dropout,
            dropoutOutput: dropout,
            dropConnect: dropout,
            ...(awd
              ? { dropConnectShape: "row", arWeight: 2, tarWeight: 1 }
              : // with the layer clip, weights and thresholds at which units fire, so gradients reach the layers
                { egru: gradClip > 0 ? { thresholdMean: 0.01, weightGain: 2.5, gradClip } : { thresholdMean: 0.05 } }),
          });
          return new LmTrainer(model, { train: tokens, valid: tokens, test: tokens }, new Optimizer({ kind: "sgd" }), {
            epochs: 1,
            batchSize: 5,
            evalBatchSize: 5,
            bptt: 6,
            randomBptt: false,
            lr: 0.5,
            clip: 0.5,
            schedule: { kind: "constant", warmupSteps: 0 },
            seed: 1,
            microBatch,
            evalMicroBatch: microBatch,
          });
        };
        const whole = make(undefined);
        const parts = make(3);
        for (let s = 0; s < 2; s++) {
          const a = whole.trainStep();
          const b = parts.trainStep();
          assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * a.loss, `segment ${s + 1}: loss ${b.loss} vs ${a.loss}`);
          if (awd) {
            assert.ok(a.ar! > 0 && a.tar! > 0, `the terms are on: ${a.ar}, ${a.tar}`);
            assert.ok(Math.abs(a.ar! - b.ar!) <= 1e-5 * a.ar!, `segment ${s + 1}: AR ${b.ar} vs ${a.ar}`);
            assert.ok(Math.abs(a.tar! - b.tar!) <= 1e-5 * a.tar!, `segment ${s + 1}: TAR ${b.tar} vs ${a.tar}`);
          }
          if (gradClip > 0)
            assert.ok(
              a.layerClipScale!.some((f) => f < 1),
              `the layer clip acts: ${a.layerClipScale}`,
            );
          assertSameParams(parts.model, whole.model, `segment ${s + 1}`);
          whole.hidden!.forEach((layer, l) =>
            layer.forEach((h, k) => assertClose(parts.hidden![l][k], h, { ...TOL, name: `carried state ${l}.${k}` })),
          );
        }
        assert.deepEqual(
          parts.model.rng.getState(),
          whole.model.rng.getState(),
          "the blocks draw the whole batch's masks",
        );
        const ev = [whole.evaluate("valid", 5), parts.evaluate("valid", 5)];
        assert.ok(Math.abs(ev[0].loss - ev[1].loss) <= 1e-5 * ev[0].loss, `evaluation ${ev[1].loss} vs ${ev[0].loss}`);
        setKernels(jsKernels);
      });
    }
  });
});

describe("the memory estimate", () => {
  const presets = loadPresets();
  const smnist = parseConfig(presets["smnist-paper"], "smnist-paper");
  const task = { T: 784, I: 1, classes: 10 };

  test("splits the sMNIST paper batch under a 1 GiB WebAssembly memory and keeps it whole where it fits", () => {
    const cost = classifierCost(smnist, task, true);
    const tight = planMicroBatch("preset smnist-paper: batchSize", "auto", 500, cost, {
      wasm: 2 ** 30,
      host: 8 * 2 ** 30,
    });
    assert.ok(tight.blocks >= 2 && tight.rows * tight.blocks >= 500, JSON.stringify(tight));
    assert.ok(tight.wasmBytes <= 2 ** 30);
    const roomy = planMicroBatch("preset smnist-paper: batchSize", "auto", 500, cost, { wasm: Infinity, host: 1e13 });
    assert.deepEqual([roomy.rows, roomy.blocks], [500, 1]);
    // evaluation: as many rows as fit, at most max(batchSize, 256), never an error for rows that do not fit
    const plans = classifierPlans(smnist, task, { limits: { wasm: 2 ** 30, host: 8 * 2 ** 30 }, source: "p" });
    assert.ok(plans.eval.rows <= 500 && plans.eval.rows * plans.eval.blocks >= 1000, JSON.stringify(plans.eval));
    const roomyEval = classifierPlans(smnist, task, { limits: { wasm: Infinity, host: 1e13 }, source: "p" }).eval;
    assert.deepEqual([roomyEval.rows, roomyEval.blocks], [500, 2]);
    // weights that fit, but not one row besides them: the batch is named, with the per-row estimate
    const fixed = cost.fixedWasm + cost.wasm / 2;
    assert.throws(
      () => planMicroBatch("preset smnist-paper: batchSize", "auto", 500, cost, { wasm: fixed, host: 1e13 }),
      (e: unknown) =>
        e instanceof StateError &&
        e.argument === "preset smnist-paper: batchSize" &&
        /per row \d+ MiB WebAssembly \+ \d+ MiB ordinary memory \(\d+ \+ \d+ bytes\)/.test(e.got),
    );
  });

  test("a configuration that cannot fit one row is a StateError naming the preset, field, estimate and limit, before any allocation", () => {
    // 400,000 units: the model alone would be ~2·10¹² bytes, so reaching an allocation would fail otherwise
    const huge = parseConfig({
      ...presets["smnist-paper"],
      model: { cell: "egru", hidden: 400_000, readout: "trace" },
    });
    const limits = { limits: { wasm: 2 ** 32, host: 8 * 2 ** 30 }, source: "preset smnist-paper" };
    const t0 = performance.now();
    assert.throws(
      () => buildTrainer(huge, randomTask(784, 1, 10, 2), { budget: limits }),
      (e: unknown) => {
        assert.ok(e instanceof StateError, String(e));
        // the weights alone do not fit: the model is named, not the batch
        assert.equal(e.argument, "preset smnist-paper: model");
        assert.match(e.got, /\d+ MiB WebAssembly \+ \d+ MiB ordinary memory for the weights \(\d+ \+ \d+ bytes\)/);
        assert.match(
          e.expected,
          /a model whose weights fit \(limits 4294967296 bytes of WebAssembly memory and 8589934592 bytes of ordinary memory\)/,
        );
        return true;
      },
    );
    assert.ok(performance.now() - t0 < 1000, "refused at once");
    // a micro-batch asked for that does not fit names the field
    assert.throws(
      () =>
        planMicroBatch("preset smnist-paper: batchSize", 400, 500, classifierCost(smnist, task, true), {
          wasm: 2 ** 30,
          host: 2 ** 33,
        }),
      (e: unknown) => e instanceof StateError && e.argument === "preset smnist-paper: microBatch",
    );
  });

  test("the LM presets plan within the limits (wikitext-2-v0.2 under 1 GiB needs blocks)", () => {
    const c = parseConfig(presets["wikitext-2-v0.2"], "wikitext-2-v0.2");
    const p = lmPlans(c, 33_278, { limits: { wasm: 2 ** 30, host: 8 * 2 ** 30 }, source: "preset wikitext-2-v0.2" });
    assert.ok(p.train.blocks >= 2 && p.train.wasmBytes <= 2 ** 30, JSON.stringify(p.train));
  });
});
