// AWD-LSTM's AR and TAR on the GRU and LSTM language models (nn/activation-reg.ts): the terms'
// gradients against central differences in float64; the model's terms equal α·mean(d²) on the
// dropped (or raw) last output and β·mean((h_{t+1} − h_t)²) on the raw one, and are off in
// evaluation; the whole model's gradients against central differences of CE + AR + TAR (and of
// AR + TAR alone, so a term missing from the backward fails) with row DropConnect and every dropout
// on; a training step reports the cross-entropy as its loss and the terms apart, and its update
// changes with them; an EGRU model and bad values are refused by name.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { addArGrad, addTarGrad, arTerm, tarTerm } from "../../packages/egru/src/nn/activation-reg.js";
import { LanguageModel, type LanguageModelOptions, type LmState } from "../../packages/egru/src/nn/language-model.js";
import { softmaxCrossEntropy } from "../../packages/egru/src/nn/loss.js";
import { Optimizer } from "../../packages/egru/src/optim/optimizer.js";
import { LmTrainer } from "../../packages/cli/src/train/lm-trainer.js";
import { assertClose, centralDiff, checkParamGradients, randomArray } from "../helpers.js";

test("AR and TAR of a sequence [T, N]: values by their definition, gradients equal float64 central differences", () => {
  const rng = new Rng(3);
  const alpha = 2;
  const beta = 1.5;
  for (const [T, N] of [
    [5, 6],
    [2, 3],
    [1, 4],
  ]) {
    const h = randomArray(rng, T * N);
    let sq = 0;
    let diff = 0;
    for (let t = 0; t < T; t++) {
      for (let n = 0; n < N; n++) {
        sq += h[t * N + n] ** 2;
        if (t > 0) diff += (h[t * N + n] - h[(t - 1) * N + n]) ** 2;
      }
    }
    const label = `T=${T} N=${N}`;
    assert.ok(Math.abs(arTerm(h, alpha) - (alpha * sq) / (T * N)) < 1e-12, `${label}: AR`);
    const tar = T > 1 ? (beta * diff) / ((T - 1) * N) : 0;
    assert.ok(Math.abs(tarTerm(h, T, beta) - tar) < 1e-12, `${label}: TAR (0 for one step)`);
    const w = 0.375; // a block's share of its batch
    const g = new Float64Array(T * N);
    addArGrad(g, h, alpha, w);
    addTarGrad(g, h, T, beta, w);
    const numeric = centralDiff(() => w * (arTerm(h, alpha) + tarTerm(h, T, beta)), h, 1e-6);
    // quadratic terms: central differences are exact up to rounding, ≈ 1e-16·|L|/ε ≈ 1e-10
    assertClose(g, numeric, { atol: 1e-8, rtol: 1e-7, name: `${label}: gradient` });
    const gTar = new Float64Array(T * N);
    addTarGrad(gTar, h, T, beta, 1);
    if (T === 1)
      assert.ok(
        gTar.every((v) => v === 0),
        "one step: TAR has no gradient",
      );
    else
      assert.ok(
        gTar.some((v) => Math.abs(v) > 0.01),
        "TAR has a gradient",
      );
  }
});

const V = 11;
const E = 5;
const H = 6;
const T = 4;
const B = 3;

function awdModel(opts: Partial<LanguageModelOptions>): LanguageModel {
  return new LanguageModel({
    cell: "gru",
    vocab: V,
    embedding: E,
    hidden: H,
    layers: 2,
    seed: 5,
    dropoutWords: 0.2,
    dropoutEmbedding: 0.3,
    dropoutForward: 0.25,
    dropoutOutput: 0.4,
    dropConnect: 0.4,
    dropConnectShape: "row",
    arWeight: 2,
    tarWeight: 1,
    ...opts,
  });
}

/** α·mean(a²) and β·mean((a_{t+1} − a_t)²) of a time-major [T, B, E] array, directly. */
function direct(a: Float32Array, alpha: number, beta: number): { ar: number; tar: number } {
  const N = B * E;
  let sq = 0;
  let diff = 0;
  for (let k = 0; k < a.length; k++) {
    sq += a[k] * a[k];
    if (k >= N) diff += (a[k] - a[k - N]) ** 2;
  }
  return { ar: (alpha * sq) / a.length, tar: (beta * diff) / (a.length - N) };
}

test("the model's AR reads the dropped (or raw) last output and TAR the raw one; both off in evaluation", () => {
  const tokens = Int32Array.from({ length: T * B }, (_, k) => (k * 5) % V);
  for (const cell of ["gru", "lstm"] as const) {
    const dropped = awdModel({ cell });
    assert.ok(
      dropped.cells.every((c) => "dropConnectShape" in c.layer && c.layer.dropConnectShape === "row"),
      "every layer gets the row mask",
    );
    const run = dropped.forward(tokens, T, B);
    const out = run.saved.drops[2].out; // after the output dropout
    const raw = run.saved.runs[1].out;
    const want = { ar: direct(out, 2, 1).ar, tar: direct(raw, 2, 1).tar };
    assert.ok(Math.abs(run.ar - want.ar) <= 1e-6 * want.ar && want.ar > 0, `${cell} AR ${run.ar} vs ${want.ar}`);
    assert.ok(Math.abs(run.tar - want.tar) <= 1e-6 * want.tar && want.tar > 0, `${cell} TAR ${run.tar} vs ${want.tar}`);
    const rawModel = awdModel({ cell, arOutput: "raw" });
    const r2 = rawModel.forward(tokens, T, B);
    const onRaw = direct(r2.saved.runs[1].out, 2, 1).ar;
    assert.ok(Math.abs(r2.ar - onRaw) <= 1e-6 * onRaw, `${cell} raw AR ${r2.ar} vs ${onRaw}`);
    assert.ok(Math.abs(r2.ar - direct(r2.saved.drops[2].out, 2, 1).ar) > 0.1 * r2.ar, "the two outputs differ");
    const share = awdModel({ cell }).forward(tokens, T, B, null, 0.25);
    assert.ok(Math.abs(share.ar - 0.25 * run.ar) <= 1e-6 * run.ar, "a block's share weights the terms");
    dropped.eval();
    const e = dropped.forward(tokens, T, B);
    assert.deepEqual([e.ar, e.tar, e.regScale], [0, 0, 0], `${cell}: no terms in evaluation`);
    for (const r of [run, r2, share, e]) dropped.release(r);
  }
});

/**
 * Gradients of every parameter against central differences of `ce`·CE + AR + TAR, the masks the
 * same in every forward, from a carried state. With ce = 0 only AR and TAR reach the weights.
 */
function gradcheck(opts: Partial<LanguageModelOptions>, ce: number, label: string): void {
  const model = awdModel(opts);
  const rng = new Rng(8);
  const tokens = Int32Array.from({ length: T * B }, () => rng.int(V));
  const targets = Int32Array.from({ length: T * B }, () => rng.int(V));
  const state: LmState = model.zeroState(B).map((l) => l.map((a) => a.map(() => rng.normal(0, 0.5))));
  const masks = model.rng.getState();
  const lossAt = (): number => {
    model.rng.setState(masks);
    model.weightsChanged();
    const run = model.forward(tokens, T, B, state);
    const l = ce * softmaxCrossEntropy(run.logits, targets, V).loss + run.ar + run.tar;
    model.release(run);
    return l;
  };
  model.zeroGrad();
  model.rng.setState(masks);
  const run = model.forward(tokens, T, B, state);
  const dlogits = softmaxCrossEntropy(run.logits, targets, V).dlogits.map((v) => ce * v);
  model.backward(run, dlogits);
  model.release(run);
  // the recurrent weights must carry gradients well above the tolerance, or the check proves nothing
  const big = model.params().filter((p) => /cells\.1/.test(p.name) && p.grad.some((g) => Math.abs(g) > 0.02));
  assert.ok(big.length >= 2, `${label}: the last layer has large gradients`);
  const checked = checkParamGradients(model.params(), lossAt, label, { per: 9, atol: 3e-4, rtol: 1e-2 });
  assert.ok(checked > 50, `${checked} checked`);
}

test("language-model gradients against central differences of CE + AR + TAR: GRU and LSTM, row DropConnect, AR on either output", () => {
  for (const cell of ["gru", "lstm"] as const) {
    for (const arOutput of ["dropped", "raw"] as const) {
      gradcheck({ cell, arOutput, arWeight: 6, tarWeight: 4 }, 1, `${cell} ${arOutput}: CE + AR + TAR`);
      gradcheck({ cell, arOutput, arWeight: 6, tarWeight: 4 }, 0, `${cell} ${arOutput}: AR + TAR alone`);
    }
    gradcheck({ cell, arWeight: 0, tarWeight: 20 }, 0, `${cell}: TAR alone`);
  }
});

function trainer(arWeight: number, tarWeight: number): LmTrainer {
  const rng = new Rng(2);
  const tokens = Int32Array.from({ length: 400 }, () => rng.int(V));
  const model = awdModel({ arWeight, tarWeight });
  return new LmTrainer(model, { train: tokens, valid: tokens, test: tokens }, new Optimizer({ kind: "sgd" }), {
    epochs: 1,
    batchSize: 4,
    evalBatchSize: 4,
    bptt: 8,
    randomBptt: false,
    lr: 0.5,
    clip: 0,
    schedule: { kind: "constant", warmupSteps: 0 },
    seed: 1,
  });
}

test("a training step's loss is the cross-entropy, AR and TAR reported apart, and the update includes their gradients", () => {
  const on = trainer(2, 1);
  const off = trainer(0, 0);
  const a = on.trainStep();
  const b = off.trainStep();
  assert.equal(a.loss, b.loss, "the same cross-entropy (the terms draw no random numbers)");
  assert.ok(a.ar! > 0 && a.tar! > 0, `ar ${a.ar}, tar ${a.tar}`);
  assert.ok(!("ar" in b) && !("tar" in b), "no terms reported when off");
  const moved = on.model.params().map((p, i) => {
    const q = off.model.params()[i];
    return p.value.reduce((s, v, k) => Math.max(s, Math.abs(v - q.value[k])), 0);
  });
  const names = on.model.params().map((p) => p.name);
  for (const [i, name] of names.entries())
    if (/cells\.1\./.test(name) && !/bias_ih/.test(name))
      assert.ok(moved[i] > 1e-4, `${name}: the terms change the update (${moved[i]})`);
});

test("AR/TAR options: refused on an EGRU model and out of range, naming the option", () => {
  const named =
    (argument: string) =>
    (e: unknown): boolean =>
      e instanceof ValueError && e.argument === argument;
  assert.throws(() => awdModel({ cell: "egru", dropConnectShape: "element", arWeight: 2 }), named("arWeight"));
  assert.throws(() => awdModel({ cell: "egru", dropConnectShape: "element", arWeight: 0 }), named("tarWeight"));
  assert.throws(() => awdModel({ tarWeight: -1 }), named("tarWeight"));
  assert.throws(() => awdModel({ arWeight: Number.NaN }), named("arWeight"));
  assert.throws(() => awdModel({ arOutput: "after" as never }), named("arOutput"));
  assert.throws(() => awdModel({ cell: "egru", arWeight: 0, tarWeight: 0 }), named("dropConnectShape"));
});
