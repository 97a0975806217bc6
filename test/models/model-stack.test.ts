// RecurrentStack: the same numbers as stacking the layers by hand (outputs, states, input, state
// and parameter gradients, bit for bit), gradients against central differences, the EGRU stack's
// event wiring (same results as the unwired stack, fewer MACs, on every kernel set), batch-first,
// the stepper, dropout between layers, and typed errors.

import assert from "node:assert/strict";
import { test } from "node:test";
import { ShapeError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { smoothEvent } from "../../packages/egru/src/kernels/activations.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import { RecurrentStack } from "../../packages/egru/src/model/recurrent-stack.js";
import type { CellKind } from "../../packages/egru/src/nn/cells.js";
import { assertClose, checkParamGradients, dot } from "../helpers.js";
import { forEachKernelSet } from "../kernel-sets.js";

const [T, B, I, H, L] = [5, 3, 4, 6, 3];
const rand = (seed: number, n: number, scale = 1): Float32Array => {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => scale * r.normal(0, 1));
};
const x = rand(1, T * B * I);
const dOut = rand(2, T * B * H);
const thr = { thresholdMean: 0.1 }; // many events in a short sequence

/** The layers of a stack built by hand: the same constructor calls in the same order on one stream. */
function byHand(cell: CellKind, seed: number): (EGRU | GRU | LSTM)[] {
  const rng = new Rng(seed);
  return Array.from({ length: L }, (_, l) => {
    const inputSize = l === 0 ? I : H;
    if (cell === "egru") return new EGRU({ ...thr, inputSize, hiddenSize: H, rng, inputEvents: l > 0 });
    return cell === "gru" ? new GRU({ inputSize, hiddenSize: H, rng }) : new LSTM({ inputSize, hiddenSize: H, rng });
  });
}

for (const cell of ["egru", "gru", "lstm"] as const) {
  test(`${cell} stack equals the layers stacked by hand (forward, backward, initial state)`, () => {
    const h0 = Array.from({ length: L }, (_, l) => rand(10 + l, B * H, 0.3));
    const c0 = cell === "lstm" ? Array.from({ length: L }, (_, l) => rand(20 + l, B * H, 0.3)) : undefined;
    const stack = new RecurrentStack({ cell, inputSize: I, hiddenSize: H, numLayers: L, seed: 7, egru: thr });
    const run = stack.forward({ x, T, B, h0, c0 });
    const g = stack.backward(run, { dOutput: dOut });

    const layers = byHand(cell, 7);
    const results: { out: Float32Array; r: unknown }[] = [];
    let input: Float32Array = x;
    layers.forEach((layer, l) => {
      if (layer instanceof EGRU) {
        const r = layer.forward({ x: input, T, B, y0: h0[l] });
        results.push({ out: r.y, r });
      } else if (layer instanceof GRU) {
        const r = layer.forward({ x: input, T, B, h0: h0[l] });
        results.push({ out: r.output, r });
      } else {
        const r = layer.forward({ x: input, T, B, h0: h0[l], c0: c0![l] });
        results.push({ out: r.output, r });
      }
      input = results[l].out;
    });
    assert.deepEqual(run.output, results[L - 1].out);
    let d: Float32Array = dOut;
    const dh0: Float32Array[] = [];
    for (let l = L - 1; l >= 0; l--) {
      const layer = layers[l];
      const r = results[l].r;
      if (layer instanceof EGRU) {
        const below = layers[l - 1] as EGRU | undefined;
        const dxMask = below ? below.receiveMask(results[l - 1].r as never) : null;
        const gl = layer.backward(r as never, { dy: d }, { dxMask });
        [d, dh0[l]] = [gl.dx, gl.dy0];
      } else {
        const gl = (layer as GRU).backward(r as never, { dOutput: d });
        [d, dh0[l]] = [gl.dx, gl.dh0];
      }
    }
    assert.deepEqual(g.dx, d);
    assert.deepEqual(g.dh0, dh0);
    stack.cells.forEach((c, l) => assert.deepEqual(c.layer.grads, layers[l].grads, `layer ${l} grads`));
    assert.equal(run.state.h.length, L);
    assert.equal(g.dc0?.length, cell === "lstm" ? L : undefined);
    assert.equal(run.stats.layers.length, L);
    run.release();
  });

  test(`${cell} stack gradients (x, h0, parameters) match central differences`, () => {
    const egru = { thresholdMode: "sigmoid" as const, event: smoothEvent(3) }; // smooth event, no clamp: differentiable
    const s = new RecurrentStack({ cell, inputSize: I, hiddenSize: H, numLayers: 2, seed: 3, egru });
    const xs = Float32Array.from(x);
    const h0 = [rand(30, B * H, 0.3), rand(31, B * H, 0.3)];
    const loss = (): number => {
      const r = s.forward({ x: xs, T, B, h0 });
      const v = dot(r.output, dOut);
      r.release();
      return v;
    };
    s.zeroGrad();
    const run = s.forward({ x: xs, T, B, h0 });
    const g = s.backward(run, { dOutput: dOut });
    run.release();
    const n = checkParamGradients(s.params(), loss, `${cell} stack`);
    checkParamGradients(
      [
        { name: "x", value: xs, grad: g.dx },
        { name: "h0[0]", value: h0[0], grad: g.dh0[0] },
        { name: "h0[1]", value: h0[1], grad: g.dh0[1] },
      ],
      loss,
      `${cell} stack inputs`,
    );
    assert.ok(n > 20);
  });
}

forEachKernelSet((kernels) =>
  test(`the EGRU stack's event wiring: exactly the unwired stack's results, with fewer MACs [${kernels.name}]`, () => {
    const make = (events: boolean): RecurrentStack =>
      new RecurrentStack({
        cell: "egru",
        inputSize: I,
        hiddenSize: 32,
        numLayers: L,
        seed: 5,
        events,
        kernels,
        egru: { thresholdMean: 0.5 },
      });
    const [wired, plain] = [make(true), make(false)];
    const xs = rand(8, T * B * I, 2);
    const d = rand(9, T * B * 32);
    const [rw, rp] = [wired.forward({ x: xs, T, B }), plain.forward({ x: xs, T, B })];
    assert.deepEqual(rw.output, rp.output);
    assert.ok(rw.stats.activitySparsity > 0.3, `sparsity ${rw.stats.activitySparsity}`);
    assert.ok(
      rw.stats.executedMacs < rp.stats.executedMacs,
      `forward MACs ${rw.stats.executedMacs} vs ${rp.stats.executedMacs}`,
    );
    assert.equal(rw.stats.denseMacs, rp.stats.denseMacs);
    const [gw, gp] = [wired.backward(rw, { dOutput: d }), plain.backward(rp, { dOutput: d })];
    assert.deepEqual(gw.dx, gp.dx);
    wired.cells.forEach((c, l) => assert.deepEqual(c.layer.grads, plain.cells[l].layer.grads, `layer ${l}`));
    assert.ok(gw.macs.executed < gp.macs.executed, `backward MACs ${gw.macs.executed} vs ${gp.macs.executed}`);
  }),
);

test("batch-first arrays give the time-major results transposed", () => {
  const tm = new RecurrentStack({ cell: "gru", inputSize: I, hiddenSize: H, numLayers: 2, seed: 4 });
  const bf = new RecurrentStack({ cell: "gru", inputSize: I, hiddenSize: H, numLayers: 2, seed: 4, batchFirst: true });
  const swap = (a: Float32Array, d0: number, d1: number, F: number): Float32Array => {
    const out = new Float32Array(a.length);
    for (let i = 0; i < d0; i++)
      for (let j = 0; j < d1; j++) out.set(a.subarray((i * d1 + j) * F, (i * d1 + j + 1) * F), (j * d0 + i) * F);
    return out;
  };
  const r1 = tm.forward({ x, T, B });
  const r2 = bf.forward({ x: swap(x, T, B, I), T, B });
  assert.deepEqual(r2.output, swap(r1.output, T, B, H));
  const g1 = tm.backward(r1, { dOutput: dOut });
  const g2 = bf.backward(r2, { dOutput: swap(dOut, T, B, H) });
  assert.deepEqual(g2.dx, swap(g1.dx, T, B, I));
});

for (const cell of ["egru", "lstm"] as const) {
  test(`${cell} stepper: step by step, the evaluation-mode forward`, () => {
    const s = new RecurrentStack({
      cell,
      inputSize: I,
      hiddenSize: H,
      numLayers: 2,
      seed: 6,
      egru: thr,
      dropout: 0.3,
    }).eval();
    const full = s.forward({ x, T, B }).output;
    const st = s.stepper(B);
    for (let t = 0; t < T; t++)
      assertClose(st.step(x.subarray(t * B * I, (t + 1) * B * I)), full.subarray(t * B * H, (t + 1) * B * H), {
        atol: 1e-6,
        rtol: 1e-5,
        name: `step ${t}`,
      });
    st.reset();
    assertClose(st.step(x.subarray(0, B * I)), full.subarray(0, B * H), {
      atol: 1e-6,
      rtol: 1e-5,
      name: "after reset",
    });
  });
}

test("dropout between layers: training only, and the backward applies the same mask", () => {
  const s = new RecurrentStack({ cell: "gru", inputSize: I, hiddenSize: H, numLayers: 2, seed: 2, dropout: 0.5 });
  const noDrop = new RecurrentStack({ cell: "gru", inputSize: I, hiddenSize: H, numLayers: 2, seed: 2 });
  assert.deepEqual(s.eval().forward({ x, T, B }).output, noDrop.eval().forward({ x, T, B }).output);
  s.train();
  const r = s.forward({ x, T, B });
  assert.notDeepEqual(r.output, noDrop.forward({ x, T, B }).output);
  const mask = r.saved.drops[0]!.mask!;
  assert.ok(mask.some((m) => m === 0) && mask.some((m) => m === 2));
  // the lower layer's gradient is the upper layer's input gradient times the mask
  const g = s.backward(r, { dOutput: dOut });
  assert.equal(g.dx.length, T * B * I);
  assert.equal(r.saved.drops[1], null);
});

test("typed errors: x, h0, c0 and options", () => {
  const s = new RecurrentStack({ cell: "gru", inputSize: I, hiddenSize: H, numLayers: 2 });
  assert.throws(() => s.forward({ x: new Float32Array(7), T, B }), ShapeError);
  assert.throws(
    () => s.forward({ x, T, B, h0: [new Float32Array(B * H)] }),
    (e: unknown) => e instanceof ShapeError && /h0/.test(e.message),
  );
  assert.throws(() => s.forward({ x, T, B, h0: [new Float32Array(B * H), new Float32Array(3)] }), ShapeError);
  assert.throws(() => s.forward({ x, T, B, c0: [new Float32Array(B * H), new Float32Array(B * H)] }), ValueError);
  assert.throws(() => new RecurrentStack({ cell: "gru", inputSize: I, hiddenSize: H, numLayers: 0 }), ValueError);
  assert.throws(() => new RecurrentStack({ cell: "gru", inputSize: I, hiddenSize: H, dropout: 1 }), ValueError);
  const bf = new RecurrentStack({ cell: "gru", inputSize: I, hiddenSize: H, batchFirst: true });
  assert.throws(() => bf.forward({ x: new Float32Array(7), T, B }), ShapeError);
  const r = s.forward({ x, T, B });
  assert.throws(() => s.backward(r, { dOutput: new Float32Array(3) }), ShapeError);
});
