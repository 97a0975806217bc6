// The language model: token streams (batchify, segments, AWD random lengths), the tied decoder
// against a float64 reference (dense and event input), the whole model's gradients against central
// differences (every dropout on, the same masks in every evaluation, a carried state; smooth event
// function), carried state semantics per cell, and the trainer: learning on a tiny corpus and an
// exactly continuing restart.

import assert from "node:assert/strict";
import { test } from "node:test";
import { checkParamGradients } from "../helpers.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { batchify, randomBpttLength, segment } from "../../packages/egru/src/model/lm-batches.js";
import { smoothEvent } from "../../packages/egru/src/kernels/activations.js";
import { LanguageModel, type LanguageModelOptions, type LmState } from "../../packages/egru/src/nn/language-model.js";
import { softmaxCrossEntropy } from "../../packages/egru/src/nn/loss.js";
import { Embedding } from "../../packages/egru/src/nn/embedding.js";
import { TiedDecoder } from "../../packages/egru/src/nn/tied-decoder.js";
import { Optimizer } from "../../packages/egru/src/optim/optimizer.js";
import { LmTrainer, type LmTrainerOptions } from "../../packages/cli/src/train/lm-trainer.js";
import { ValueError } from "../../packages/egru/src/core/errors.js";

test("batchify cuts B streams time-major and drops the remainder; segments read inputs and next-token targets", () => {
  const ids = Int32Array.from({ length: 23 }, (_, i) => i);
  const s = batchify(ids, 3); // L = 7: streams 0…6, 7…13, 14…20
  assert.equal(s.length, 7);
  assert.deepEqual(Array.from(s.data.subarray(0, 6)), [0, 7, 14, 1, 8, 15]);
  const g = segment(s, 2, 3);
  assert.equal(g.T, 3);
  assert.deepEqual(Array.from(g.input), [2, 9, 16, 3, 10, 17, 4, 11, 18]);
  assert.deepEqual(Array.from(g.target), [3, 10, 17, 4, 11, 18, 5, 12, 19]);
  const last = segment(s, 4, 10); // only rows 4, 5 have a next token
  assert.equal(last.T, 2);
  assert.deepEqual(Array.from(last.target), [5, 12, 19, 6, 13, 20]);
  assert.throws(() => segment(s, 6, 2), ValueError);
  assert.throws(() => batchify(ids, 12), ValueError);
});

test("AWD random BPTT lengths: at least 5, around bptt, about 5 % around bptt/2", () => {
  const rng = new Rng(5);
  const n = 20000;
  let half = 0;
  let min = Infinity;
  let sumNear = 0;
  let near = 0;
  for (let i = 0; i < n; i++) {
    const t = randomBpttLength(rng, 70);
    min = Math.min(min, t);
    if (t < 52) half++;
    else {
      sumNear += t;
      near++;
    }
  }
  assert.ok(min >= 5);
  assert.ok(Math.abs(half / n - 0.05) < 0.006, `share near bptt/2: ${half / n}`);
  // int() truncation: the mean of ⌊N(70, 5)⌋ is about 69.5
  assert.ok(Math.abs(sumNear / near - 69.5) < 0.15, `mean near bptt: ${sumNear / near}`);
  assert.ok(randomBpttLength(new Rng(1), 2) >= 5);
});

/** float64 reference of the tied decoder: logits = x·Embᵀ + b and its gradients. */
function decoderReference(
  x: Float32Array,
  emb: Float32Array,
  bias: Float32Array,
  dl: Float32Array,
  N: number,
  E: number,
  V: number,
) {
  const logits = new Float64Array(N * V);
  const dEmb = new Float64Array(V * E);
  const dx = new Float64Array(N * E);
  const db = new Float64Array(V);
  for (let n = 0; n < N; n++) {
    for (let v = 0; v < V; v++) {
      let s = bias[v];
      for (let e = 0; e < E; e++) s += x[n * E + e] * emb[v * E + e];
      logits[n * V + v] = s;
      const g = dl[n * V + v];
      db[v] += g;
      for (let e = 0; e < E; e++) {
        dEmb[v * E + e] += g * x[n * E + e];
        dx[n * E + e] += g * emb[v * E + e];
      }
    }
  }
  return { logits, dEmb, dx, db };
}

test("tied decoder against a float64 reference at odd sizes, dense and event input (with a receive mask)", () => {
  const rng = new Rng(7);
  const N = 7,
    E = 13,
    V = 29;
  for (const events of [false, true]) {
    const emb = new Embedding({ vocab: V, dim: E, rng: new Rng(2) });
    const dec = new TiedDecoder(emb, { inputEvents: events });
    for (let v = 0; v < V; v++) dec.bias[v] = rng.normal(0, 0.1);
    const x = Float32Array.from({ length: N * E }, () => (events && rng.uniform() < 0.7 ? 0 : rng.normal()));
    const dl = Float32Array.from({ length: N * V }, () => rng.normal());
    const mask = events ? Float32Array.from({ length: N * E }, () => (rng.uniform() < 0.5 ? 1 : 0)) : null;
    const want = decoderReference(x, emb.weights.weight, dec.bias, dl, N, E, V);
    const r = dec.forward(x, N);
    const nz = x.reduce((s, v) => s + (v !== 0 ? 1 : 0), 0);
    assert.equal(r.macs.executed, events ? nz * V : N * E * V);
    for (let i = 0; i < N * V; i++) assert.ok(Math.abs(r.logits[i] - want.logits[i]) < 1e-5, `logits[${i}]`);
    const g = dec.backward(r, dl, mask);
    for (let i = 0; i < V * E; i++)
      assert.ok(Math.abs(emb.grads.weight[i] - want.dEmb[i]) < 1e-4, `dEmb[${i}] ${events}`);
    for (let i = 0; i < V; i++) assert.ok(Math.abs(dec.biasGrad[i] - want.db[i]) < 1e-4, `dbias[${i}]`);
    for (let i = 0; i < N * E; i++) {
      const w = mask && mask[i] === 0 ? 0 : want.dx[i];
      assert.ok(Math.abs(g.dx[i] - w) < 1e-4, `dx[${i}] ${events}`);
    }
  }
});

const V = 11,
  E = 5,
  H = 6,
  T = 4,
  B = 3;

function tinyModel(opts: Partial<LanguageModelOptions>): LanguageModel {
  return new LanguageModel({
    cell: "egru",
    vocab: V,
    embedding: E,
    hidden: H,
    layers: 3,
    seed: 3,
    dropoutWords: 0.2,
    dropoutEmbedding: 0.3,
    dropoutForward: 0.25,
    dropoutOutput: 0.4,
    dropConnect: 0.3,
    egru: { event: smoothEvent(3), thresholdMode: "sigmoid", thresholdMean: -1, weightGain: 1.5 },
    ...opts,
  });
}

function gradcheck(opts: Partial<LanguageModelOptions>, label: string): void {
  const model = tinyModel(opts);
  const rng = new Rng(4);
  const tokens = Int32Array.from({ length: T * B }, () => rng.int(V));
  const targets = Int32Array.from({ length: T * B }, () => rng.int(V));
  const state: LmState = model.zeroState(B).map((l) => l.map((a) => a.map(() => rng.normal(0, 0.5))));
  const masks = model.rng.getState();
  const lossAt = (): number => {
    model.rng.setState(masks); // the same dropout and DropConnect masks every time
    model.weightsChanged();
    const run = model.forward(tokens, T, B, state);
    const l = softmaxCrossEntropy(run.logits, targets, V).loss;
    model.release(run);
    return l;
  };
  model.zeroGrad();
  model.rng.setState(masks);
  const run = model.forward(tokens, T, B, state);
  model.backward(run, softmaxCrossEntropy(run.logits, targets, V).dlogits);
  model.release(run);
  const checked = checkParamGradients(model.params(), lossAt, label, { per: 7 });
  assert.ok(checked > 40, `${checked} checked`);
}

test("language-model gradients against central differences: EGRU stack, step masks, carried state", () =>
  gradcheck({}, "egru step"));
test("language-model gradients: locked masks; GRU and LSTM stacks; one layer", () => {
  gradcheck({ dropoutMask: "locked" }, "egru locked");
  gradcheck({ cell: "gru" }, "gru");
  gradcheck({ cell: "lstm" }, "lstm");
  gradcheck({ layers: 1 }, "egru one layer");
});

test("layer sizes run E→H→…→E and the parameter count follows the spec's formula", () => {
  const m = tinyModel({ layers: 3 });
  assert.deepEqual(
    m.cells.map((c) => [c.inputSize, c.hiddenSize]),
    [
      [E, H],
      [H, H],
      [H, E],
    ],
  );
  const egru = (i: number, h: number): number => 3 * (i * h + h * h + 2 * h) + h;
  const count = m.params().reduce((s, p) => s + p.value.length, 0);
  assert.equal(count, egru(E, H) + egru(H, H) + egru(H, E) + V * E + V);
});

test("carried state: GRU and LSTM continue exactly; EGRU restarts its internal state and feeds back y (docs/paper-setups.md#initial-state-and-carried-state)", () => {
  const rng = new Rng(9);
  const tokens = Int32Array.from({ length: 6 * B }, () => rng.int(V));
  for (const cell of ["gru", "lstm", "egru"] as const) {
    const m = tinyModel({ cell }).eval();
    const whole = m.forward(tokens, 6, B);
    const first = m.forward(tokens.subarray(0, 3 * B), 3, B);
    const second = m.forward(tokens.subarray(3 * B), 3, B, first.state);
    const tail = whole.logits.subarray(3 * B * V);
    const same = tail.every((v, i) => v === second.logits[i]);
    if (cell === "egru") {
      assert.ok(!same, "EGRU's internal state restarts at each segment");
      // what a segment receives is y0: the first layer's last output of the previous segment
      const y = first.state[0][0];
      assert.ok(
        y.some((v) => v !== 0),
        "a nonzero carried state",
      );
      const direct = m.cells[0].layer.forward({
        x: m.embedding.forward(tokens.subarray(3 * B)).out,
        T: 3,
        B,
        y0: y,
      } as never) as { y: Float32Array };
      assert.deepEqual(Array.from(second.saved.runs[0].out), Array.from(direct.y));
    } else {
      assert.ok(same, `${cell}: two segments with the carried state equal one`);
    }
    const zero = m.forward(tokens.subarray(3 * B), 3, B);
    assert.ok(
      zero.logits.some((v, i) => v !== second.logits[i]),
      `${cell}: the carried state matters`,
    );
  }
});

/** A tiny corpus with structure: the sequence 0 1 2 … 9 repeated with noise. */
function tinyCorpus(n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  return Int32Array.from({ length: n }, (_, i) => (rng.uniform() < 0.1 ? rng.int(V) : i % 10));
}

function tinyTrainer(seed = 1): LmTrainer {
  // the real event function (Heaviside with its surrogate), low thresholds
  const model = tinyModel({
    egru: { thresholdMean: 0.01, weightGain: 2 },
    dropoutWords: 0,
    dropoutEmbedding: 0.1,
    dropoutForward: 0.1,
    dropoutOutput: 0.1,
    dropConnect: 0.1,
  });
  const opts: LmTrainerOptions = {
    epochs: 5,
    batchSize: 4,
    evalBatchSize: 4,
    bptt: 8,
    randomBptt: true,
    lr: 3e-2,
    clip: 1,
    schedule: { kind: "constant" },
    seed,
  };
  return new LmTrainer(
    model,
    { train: tinyCorpus(1200, 1), valid: tinyCorpus(200, 2), test: tinyCorpus(200, 3) },
    new Optimizer({ kind: "adam" }),
    opts,
  );
}

test("the trainer learns a tiny corpus: test perplexity falls far below the vocabulary size", () => {
  const t = tinyTrainer();
  const before = t.evaluate("test", 1);
  assert.ok(before.perplexity > 8, `untrained: ${before.perplexity}`);
  t.run();
  const after = t.evaluate("test", 1);
  assert.ok(after.perplexity < 6, `trained: ${after.perplexity}`);
  assert.ok(after.activitySparsity > 0 && after.activitySparsity < 1, `activity sparsity ${after.activitySparsity}`);
  assert.ok(after.tokens === 199);
  assert.ok(after.macsPerToken.dense > 0 && after.macsPerToken.executed <= after.macsPerToken.dense);
});

test("a trainer restarted from its saved position, state, weights and random streams continues exactly", () => {
  const a = tinyTrainer(2);
  const losses: number[] = [];
  a.run({ onStep: (s) => losses.push(s.loss), stop: () => losses.length >= 12 });
  const b = tinyTrainer(2);
  // what a checkpoint holds
  for (const [i, p] of a.model.params().entries()) b.model.params()[i].value.set(p.value);
  b.model.weightsChanged();
  b.optimizer.loadState(a.optimizer.state(), b.model.params());
  b.model.rng.setState(a.model.rng.getState());
  b.bpttRng.setState(a.bpttRng.getState());
  b.position = { ...a.position };
  b.sums = { ...a.sums };
  b.hidden = a.hidden!.map((l) => l.map((x) => Float32Array.from(Array.from(x))));
  const next: number[] = [];
  const more: number[] = [];
  a.run({ onStep: (s) => next.push(s.loss), stop: () => next.length >= 8 });
  b.run({ onStep: (s) => more.push(s.loss), stop: () => more.length >= 8 });
  assert.deepEqual(more, next);
});
