// Bad input to the EGRU layer raises a typed error that names the argument and what was expected.

import assert from "node:assert/strict";
import { test } from "node:test";
import { EgruError, NonFiniteError, ShapeError, StateError, ValueError } from "../../packages/egru/src/core/errors.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";

/** Assert fn throws an error of the class, whose argument and message contain the given text. */
function throwsTyped(fn: () => unknown, cls: typeof EgruError, argument: string, inMessage?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal((e as EgruError).argument, argument);
    if (inMessage) assert.match((e as Error).message, inMessage);
    return true;
  });
}

const layer = () => new EGRU({ inputSize: 3, hiddenSize: 4, seed: 1 });

test("constructor options are checked", () => {
  throwsTyped(() => new EGRU({ inputSize: 3, hiddenSize: 0 }), ValueError, "hiddenSize", /integer ≥ 1/);
  throwsTyped(() => new EGRU({ inputSize: 2.5, hiddenSize: 4 }), ValueError, "inputSize");
  throwsTyped(() => new EGRU({ inputSize: 3, hiddenSize: 4, dropConnect: 1 }), ValueError, "dropConnect", /\[0, 1\)/);
  throwsTyped(() => new EGRU({ inputSize: 3, hiddenSize: 4, zoneout: -0.1 }), ValueError, "zoneout");
  throwsTyped(() => new EGRU({ inputSize: 3, hiddenSize: 4, zoneout: Number.NaN }), ValueError, "zoneout");
  throwsTyped(
    () => new EGRU({ inputSize: 3, hiddenSize: 4, thresholdMean: 1 }),
    ValueError,
    "thresholdMean",
    /\(0, 1\)/,
  );
  throwsTyped(
    () => new EGRU({ inputSize: 3, hiddenSize: 4, pseudoDerivativeSupport: 0 }),
    ValueError,
    "pseudoDerivativeSupport",
  );
  throwsTyped(() => new EGRU({ inputSize: 3, hiddenSize: 4, traceDecay: 1.5 }), ValueError, "traceDecay");
  throwsTyped(
    () => new EGRU({ inputSize: 3, hiddenSize: 4, thresholdMode: "beta" as "clamp" }),
    ValueError,
    "thresholdMode",
  );
  // sigmoid mode takes any logit mean (the DVS recipe uses −0.2465)
  assert.ok(new EGRU({ inputSize: 3, hiddenSize: 4, thresholdMode: "sigmoid", thresholdMean: -0.2465 }));
});

test("forward checks shapes and values", () => {
  throwsTyped(
    () => layer().forward({ x: new Float32Array(10), T: 2, B: 2 }),
    ShapeError,
    "x",
    /length 12 \(T·B·I = 2·2·3\)/,
  );
  throwsTyped(() => layer().forward({ x: new Float32Array(12), T: 0, B: 2 }), ValueError, "T");
  throwsTyped(
    () => layer().forward({ x: new Float32Array(12), T: 2, B: 2, y0: [1, 2] }),
    ShapeError,
    "y0",
    /B·H = 2·4/,
  );
  throwsTyped(() => layer().forward({ x: [0, 0, Number.NaN], T: 1, B: 1 }), NonFiniteError, "x", /NaN at index 2/);
  throwsTyped(
    () => layer().forward({ x: [0, 0, 0], T: 1, B: 1, masks: { zoneout: [1, 0, 2, 1] } }),
    ValueError,
    "masks.zoneout",
    /0 or 1/,
  );
  throwsTyped(
    () =>
      layer()
        .eval()
        .forward({ x: [0, 0, 0], T: 1, B: 1, masks: { zoneout: [1, 1, 1, 1] } }),
    StateError,
    "masks",
  );
});

test("NaN or Infinity in a weight is named", () => {
  const l = layer();
  l.weights.recurrent_kernel[5] = Infinity;
  throwsTyped(
    () => l.forward({ x: [0, 0, 0], T: 1, B: 1 }),
    NonFiniteError,
    'EGRU weight "recurrent_kernel"',
    /Infinity at index 5/,
  );
  throwsTyped(
    () => layer().setWeights({ bias: new Float32Array(12).fill(Number.NaN) }),
    NonFiniteError,
    'EGRU weight "bias"',
  );
});

test("setWeights checks names and lengths and leaves the layer unchanged on error", () => {
  const l = layer();
  const before = l.getWeights();
  throwsTyped(() => l.setWeights({ thr: [1, 2, 3, 4], kernel: [1] }), ShapeError, 'EGRU weight "kernel"', /length 36/);
  throwsTyped(() => l.setWeights({ thr_reparam: [1, 2, 3, 4] }), ValueError, 'EGRU weight "thr_reparam"', /kernel/);
  assert.deepEqual(l.getWeights(), before);
});

test("backward checks upstream gradient shapes", () => {
  const l = layer();
  const r = l.forward({ x: new Float32Array(12), T: 2, B: 2 });
  throwsTyped(() => l.backward(r, { dy: new Float32Array(3) }), ShapeError, "dy", /T·B·H = 2·2·4/);
  throwsTyped(() => l.backward(r, { dtrace: new Float32Array(16).fill(Number.NaN) }), NonFiniteError, "dtrace");
});

test("errors print without a stack as one line naming the argument", () => {
  try {
    layer().forward({ x: new Float32Array(5), T: 2, B: 2 });
    assert.fail("no error");
  } catch (e) {
    assert.ok(e instanceof EgruError);
    assert.equal(e.name, "ShapeError");
    assert.equal(e.message, "x: expected length 12 (T·B·I = 2·2·3), got length 5");
  }
});
