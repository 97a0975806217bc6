// The CNN front-end's operations: Conv2d (im2col) and MaxPool2d against the float64 reference at
// odd sizes (strides, paddings, AlexNet's 11×11 stride-4 first layer), the reference's gradients
// against central differences, accumulation, ties in max pooling, and a conv → relu → pool → conv
// → relu → pool → linear stack against PyTorch's autograd (test/fixtures/cnn-*.json), and the
// time-distributed FrameCnn: the ICLR front-end's size and the fixture stack wired as a module. The
// layers' numbers are checked on every kernel set (test/kernel-sets.ts).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { Conv2d } from "../../packages/egru/src/layers/conv2d.js";
import { Linear } from "../../packages/egru/src/layers/linear.js";
import { MaxPool2d } from "../../packages/egru/src/layers/max-pool2d.js";
import { ALEXNET_FRONT_END, FrameCnn, type CnnLayerSpec } from "../../packages/egru/src/nn/frame-cnn.js";
import { countParams } from "../../packages/egru/src/nn/params.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { buildModel } from "../../packages/cli/src/train/build.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import {
  convRefBackward,
  convRefForward,
  maxPoolRef,
  type ConvRefProblem,
} from "../../packages/egru/src/reference/conv-ref.js";
import { assertClose, centralDiff, dot, loadFixture, randomArray } from "../helpers.js";
import { forEachKernelSet } from "../kernel-sets.js";

const f32 = (a: ArrayLike<number>): Float32Array => Float32Array.from(a);

const GEOMETRIES: ConvRefProblem[] = [
  { N: 1, C: 1, H: 7, W: 7, O: 1, k: 3, stride: 1, pad: 0 },
  { N: 3, C: 2, H: 13, W: 11, O: 5, k: 5, stride: 2, pad: 1 },
  { N: 2, C: 3, H: 9, W: 17, O: 7, k: 3, stride: 1, pad: 1 },
  { N: 2, C: 1, H: 33, W: 31, O: 4, k: 11, stride: 4, pad: 2 }, // AlexNet's first layer, small image
  { N: 1, C: 4, H: 5, W: 5, O: 3, k: 5, stride: 3, pad: 2 },
];

forEachKernelSet((kernels) =>
  test(`Conv2d forward and backward equal the float64 reference at odd sizes; gradients accumulate [${kernels.name}]`, () => {
    for (const p of GEOMETRIES) {
      const rng = new Rng(p.N * 100 + p.k);
      const conv = new Conv2d({
        kernels,
        inChannels: p.C,
        outChannels: p.O,
        kernel: p.k,
        stride: p.stride,
        padding: p.pad,
        height: p.H,
        width: p.W,
        seed: 3,
      });
      const x = randomArray(rng, p.N * p.C * p.H * p.W);
      const r = conv.forward(f32(x), p.N);
      const want = convRefForward(p, f32(x), conv.weights.weight, conv.weights.bias);
      assert.equal(r.y.length, want.length);
      assertClose(r.y, want, { atol: 2e-5, rtol: 2e-5, name: `y ${JSON.stringify(p)}` });
      const dy = randomArray(rng, r.y.length);
      const g = conv.backward(r, f32(dy));
      const ref = convRefBackward(p, f32(x), conv.weights.weight, f32(dy));
      assertClose(g.dx, ref.dx, { atol: 3e-5, rtol: 3e-5, name: "dx" });
      assertClose(conv.grads.weight, ref.dw, { atol: 1e-4, rtol: 3e-5, name: "dW" });
      assertClose(conv.grads.bias, ref.db, { atol: 1e-4, rtol: 3e-5, name: "db" });
      conv.backward(r, f32(dy));
      assertClose(
        conv.grads.bias,
        ref.db.map((v) => 2 * v),
        { atol: 2e-4, rtol: 3e-5, name: "db accumulates" },
      );
    }
    assert.throws(() => new Conv2d({ inChannels: 1, outChannels: 1, kernel: 9, height: 5, width: 5 }), /fits/);
    const c = new Conv2d({ inChannels: 1, outChannels: 1, kernel: 3, height: 5, width: 5 });
    assert.throws(() => c.forward(new Float32Array(24), 1), /x/);
    assert.throws(
      () =>
        c.forward(
          Float32Array.from({ length: 25 }, (_, i) => (i === 3 ? Number.NaN : 0)),
          1,
        ),
      /x/,
    );
  }),
);

test("the reference convolution's gradients equal central differences", () => {
  const p: ConvRefProblem = { N: 2, C: 2, H: 6, W: 5, O: 3, k: 3, stride: 2, pad: 1 };
  const rng = new Rng(7);
  const x = randomArray(rng, p.N * p.C * p.H * p.W);
  const w = randomArray(rng, p.O * p.C * p.k * p.k);
  const b = randomArray(rng, p.O);
  const dy = randomArray(rng, p.N * p.O * 3 * 3);
  const loss = (): number => dot(convRefForward(p, x, w, b), dy);
  const g = convRefBackward(p, x, w, dy);
  assertClose(g.dx, centralDiff(loss, x), { atol: 1e-7, rtol: 1e-7, name: "dx" });
  assertClose(g.dw, centralDiff(loss, w), { atol: 1e-7, rtol: 1e-7, name: "dw" });
  assertClose(g.db, centralDiff(loss, b), { atol: 1e-7, rtol: 1e-7, name: "db" });
});

test("MaxPool2d equals the reference (floor mode, the first maximum takes the gradient on ties)", () => {
  for (const [N, C, H, W, k, s] of [
    [2, 3, 9, 8, 3, 2],
    [1, 2, 7, 7, 2, 2],
    [3, 1, 15, 13, 3, 2],
    [1, 1, 4, 4, 4, 1],
  ]) {
    const rng = new Rng(H * W);
    const pool = new MaxPool2d({ channels: C, height: H, width: W, kernel: k, stride: s });
    const x = f32(randomArray(rng, N * C * H * W));
    const r = pool.forward(x, N);
    const dy = f32(randomArray(rng, r.y.length));
    const ref = maxPoolRef(N, C, H, W, k, s, x, dy);
    assert.deepEqual(Array.from(r.y), Array.from(ref.y).map(Math.fround));
    assertClose(pool.backward(r, dy), ref.dx, { atol: 1e-6, rtol: 1e-6, name: "dx" });
  }
  const ties = new MaxPool2d({ channels: 1, height: 2, width: 2, kernel: 2 });
  const r = ties.forward(Float32Array.from([1, 1, 1, 1]), 1);
  assert.deepEqual(Array.from(ties.backward(r, Float32Array.from([5]))), [5, 0, 0, 0]);
});

interface CnnFixture {
  N: number;
  C: number;
  H: number;
  W: number;
  layers: (string | number)[][];
  x: number[];
  dy: number[];
  params: Record<string, number[]>;
  outputs: number[][];
  out_shapes: number[][];
  dx: number[];
  grads: Record<string, number[]>;
}

/** One stage of the stack: forward, backward to the input, and the named parameter gradients if any. */
interface Stage {
  kind: string;
  fwd: (x: Float32Array) => Float32Array;
  bwd: (dy: Float32Array) => Float32Array;
  grads?: () => Record<string, Float32Array>;
}

/** The stage of a layer with weights (Conv2d, Linear): its forward's y and its backward's dx. */
function layerStage<R extends { y: Float32Array }>(
  kind: string,
  layer: { forward(x: Float32Array, N: number): R; backward(r: R, dy: Float32Array): { dx: Float32Array } },
  N: number,
  grads: () => Record<string, Float32Array>,
): Stage {
  let r: R;
  return { kind, fwd: (x) => (r = layer.forward(x, N)).y, bwd: (dy) => layer.backward(r, dy).dx, grads };
}

forEachKernelSet((kernels) =>
  test(`a conv → relu → pool → conv → relu → pool → linear stack matches PyTorch's autograd (fixtures) [${kernels.name}]`, () => {
    for (const name of ["cnn-conv-s2-p1", "cnn-pool-3-2", "cnn-stack"]) {
      const fx = loadFixture(name) as CnnFixture;
      let shape = [fx.C, fx.H, fx.W];
      const N = fx.N;
      const stages: Stage[] = [];
      fx.layers.forEach((spec, k) => {
        const [kind] = spec as [string];
        const [C, H, W] = shape;
        if (kind === "conv") {
          const [, O, ks, stride, pad] = spec as [string, number, number, number, number];
          const conv = new Conv2d({
            kernels,
            inChannels: C,
            outChannels: O,
            kernel: ks,
            stride,
            padding: pad,
            height: H,
            width: W,
          });
          conv.setWeights({ weight: fx.params[`${k}.weight`], bias: fx.params[`${k}.bias`] });
          stages.push(
            layerStage(kind, conv, N, () => ({ [`${k}.weight`]: conv.grads.weight, [`${k}.bias`]: conv.grads.bias })),
          );
          shape = [O, conv.outHeight, conv.outWidth];
        } else if (kind === "relu") {
          let mask: Float32Array;
          stages.push({
            kind,
            fwd: (x) => ((mask = x.map((v) => (v > 0 ? 1 : 0))), x.map((v) => Math.max(0, v))),
            bwd: (dy) => dy.map((v, i) => v * mask[i]),
          });
        } else if (kind === "pool") {
          const [, ks, s] = spec as [string, number, number];
          const pool = new MaxPool2d({ channels: C, height: H, width: W, kernel: ks, stride: s });
          let r: ReturnType<MaxPool2d["forward"]>;
          stages.push({ kind, fwd: (x) => (r = pool.forward(x, N)).y, bwd: (dy) => pool.backward(r, dy) });
          shape = [C, pool.outHeight, pool.outWidth];
        } else {
          const [, out] = spec as [string, number];
          const lin = new Linear({ kernels, inputSize: C * H * W, outputSize: out });
          lin.setTorchWeights({ weight: fx.params[`${k}.weight`], bias: fx.params[`${k}.bias`] });
          stages.push(
            layerStage(kind, lin, N, () => ({
              [`${k}.weight`]: lin.torchGrads().weight,
              [`${k}.bias`]: lin.grads.bias,
            })),
          );
          shape = [out, 1, 1];
        }
        assert.deepEqual(kind === "linear" ? [shape[0]] : shape, fx.out_shapes[k], `${name} stage ${k} shape`);
      });
      let h = f32(fx.x);
      stages.forEach((s, k) => {
        h = s.fwd(h);
        assertClose(h, fx.outputs[k], { atol: 1e-5, rtol: 1e-5, name: `${name} stage ${k} (${s.kind})` });
      });
      let g = f32(fx.dy);
      for (let k = stages.length - 1; k >= 0; k--) g = stages[k].bwd(g);
      assertClose(g, fx.dx, { atol: 1e-5, rtol: 1e-5, name: `${name} dx` });
      for (const s of stages)
        for (const [n, v] of Object.entries(s.grads?.() ?? {}))
          assertClose(v, fx.grads[n], { atol: 1e-4, rtol: 1e-5, name: `${name} ${n}` });
    }
  }),
);

test("FrameCnn: the ICLR front-end has the spec's 2,585,792 parameters and maps 128×128 frames to 512 features", () => {
  const cnn = new FrameCnn(ALEXNET_FRONT_END, { channels: 1, height: 128, width: 128 }, new Rng(1));
  assert.equal(countParams(cnn.params()), 2_585_792);
  assert.deepEqual(
    cnn.stages.filter((s) => s.kind === "pool").map((s) => (s.kind === "pool" ? s.layer.outHeight : 0)),
    [15, 7, 3, 1],
  );
  assert.equal(cnn.outputSize, 512);
  const r = cnn.forward(f32(randomArray(new Rng(2), 2 * 128 * 128)), 2);
  assert.equal(r.y.length, 2 * 512);
  assert.ok(r.y.every(Number.isFinite));
  assert.throws(
    () =>
      new FrameCnn([{ kind: "linear", out: 3 }, { kind: "relu" }], { channels: 1, height: 4, width: 4 }, new Rng(1)),
    /last layer/,
  );
});

forEachKernelSet((kernels) =>
  test(`FrameCnn wires its stack as PyTorch does: the fixture stack's outputs and every gradient [${kernels.name}]`, () => {
    const fx = loadFixture("cnn-stack") as CnnFixture;
    const spec = fx.layers.map((l): CnnLayerSpec => {
      const [kind, a, b, c, d] = l as [string, number, number, number, number];
      return kind === "conv"
        ? { kind, out: a, kernel: b, stride: c, padding: d }
        : kind === "pool"
          ? { kind, kernel: a, stride: b }
          : kind === "linear"
            ? { kind, out: a }
            : { kind: "relu" };
    });
    const cnn = new FrameCnn(spec, { channels: fx.C, height: fx.H, width: fx.W }, new Rng(1), kernels);
    cnn.stages.forEach((s, k) => {
      if (s.kind === "conv") s.layer.setWeights({ weight: fx.params[`${k}.weight`], bias: fx.params[`${k}.bias`] });
      if (s.kind === "linear")
        s.layer.setTorchWeights({ weight: fx.params[`${k}.weight`], bias: fx.params[`${k}.bias`] });
    });
    const r = cnn.forward(f32(fx.x), fx.N);
    assertClose(r.y, fx.outputs[fx.outputs.length - 1], { atol: 1e-5, rtol: 1e-5, name: "features" });
    const g = cnn.backward(r, f32(fx.dy));
    assertClose(g.dx, fx.dx, { atol: 1e-5, rtol: 1e-5, name: "dx" });
    for (const p of cnn.params()) {
      const [, k, w] = p.name.split(".");
      const stage = cnn.stages[Number(k)];
      const got = stage.kind === "linear" && w === "weight" ? stage.layer.torchGrads().weight : p.grad;
      assertClose(got, fx.grads[`${k}.${w}`], { atol: 1e-4, rtol: 1e-5, name: p.name });
    }
    assert.ok(r.macs.executed > 0 && g.macs.executed === 2 * r.macs.executed);
  }),
);

test("the DVS presets build: dvs-iclr has the spec's 5,717,308 parameters (CNN 2,585,792 + EGRU(512→795) + Linear(795, 11))", () => {
  const presets = loadPresets();
  const count = (name: string): number => {
    const c = parseConfig(presets[name], name);
    const C = c.dvs.mergePolarities ? 1 : 2;
    const S = c.dvs.size;
    const task = {
      name: "dvs-gesture",
      T: 68,
      I: C * S * S,
      classes: 11,
      count: () => 0,
      batch: () => ({ x: new Float32Array(0), labels: new Uint8Array(0) }),
      frame: { channels: C, height: S, width: S },
    };
    return countParams(buildModel(c, task).params());
  };
  assert.equal(count("dvs-iclr"), 5_717_308);
  const egru = (i: number, h: number): number => 3 * (i * h + h * h + 2 * h) + h;
  // paper v1: two layers of 1024 on 2×32×32 frames, the paper's 15.75 M parameters
  assert.equal(count("dvs-paper-v1"), egru(2 * 32 * 32, 1024) + egru(1024, 1024) + 1024 * 11 + 11);
  assert.equal(count("dvs-paper-v1"), 15_754_251);
  // and its 15.73 M dense recurrent-layer MACs per frame (input and recurrent products of both layers)
  const v1 = parseConfig(presets["dvs-paper-v1"], "dvs-paper-v1");
  const I = 2 * 32 * 32;
  const model = buildModel(v1, {
    name: "dvs-gesture",
    T: 2,
    I,
    classes: 11,
    count: () => 0,
    batch: () => ({ x: new Float32Array(0), labels: new Uint8Array(0) }),
    frame: { channels: 2, height: 32, width: 32 },
  });
  model.eval();
  const run = model.forward(new Float32Array(2 * I).fill(0.5), 2, 1);
  const dense = run.runs.reduce((n, r) => n + r.stats.denseMacs, 0) / 2;
  model.release(run);
  assert.equal(dense, 15_728_640);
  const mnistLike = {
    name: "mnist-row",
    T: 28,
    I: 28,
    classes: 10,
    count: () => 0,
    batch: () => ({ x: new Float32Array(0), labels: new Uint8Array(0) }),
  };
  assert.throws(() => buildModel(parseConfig({ model: { frontEnd: "alexnet" } }, "x"), mnistLike), /images/);
});
