// The optimizer on kernels: Optimizer.step on no kernels (the TypeScript twins), the one-thread
// WebAssembly kernels (moment buffers resident in their memory) and two threads gives the same
// bits for SGD with momentum, Adam and AdamW over several steps; state() hands out ordinary arrays
// and a state saved on one kernel set and loaded on another continues bit for bit.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import type { Param } from "../../packages/egru/src/nn/params.js";
import { createThreadedKernels } from "../../packages/egru/src/node/threaded-kernels.js";
import { Optimizer, type OptimizerConfig } from "../../packages/egru/src/optim/optimizer.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20");
const two = createThreadedKernels(wasm, 2, { minPointwise: 0 });
after(() => two.close());

const KERNELS: [string, Kernels | undefined][] = [
  ["none", undefined],
  ["wasm", wasm],
  ["wasm×2", two],
];

const CONFIGS: OptimizerConfig[] = [
  { kind: "sgd", momentum: 0.9, weightDecay: 1e-3 },
  { kind: "adam", weightDecay: 1e-2 },
  { kind: "adamw", beta1: 0, weightDecay: 1.2e-6, thresholdLrMultiplier: 0.5 },
];

/** Parameters of odd sizes, the last one in the threshold group. */
function makeParams(seed: number): Param[] {
  const rng = new Rng(seed);
  return [
    ["w", 4099, "default"],
    ["b", 7, "default"],
    ["thr", 33, "threshold"],
  ].map(([name, n, group]) => {
    const value = new Float32Array(n as number);
    for (let i = 0; i < value.length; i++) value[i] = rng.normal(0, 0.5);
    return { name: `cells.0.${name}`, value, grad: new Float32Array(n as number), group: group as Param["group"] };
  });
}

function setGrads(params: Param[], step: number): void {
  const rng = new Rng(1000 + step);
  for (const p of params) for (let i = 0; i < p.grad.length; i++) p.grad[i] = rng.normal(0, step === 2 ? 10 : 0.1);
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.slice().buffer));

test("Optimizer.step gives the same bits on every kernel set (SGD, Adam, AdamW)", () => {
  for (const config of CONFIGS) {
    const results = KERNELS.map(([, k]) => {
      const params = makeParams(3);
      const opt = new Optimizer(config);
      for (let t = 1; t <= 4; t++) {
        setGrads(params, t);
        opt.step(params, 1e-2, 2e-2, k);
      }
      return { w: params.map((p) => bits(p.value)), state: opt.state() };
    });
    const w0 = makeParams(3).map((p) => bits(p.value));
    assert.notDeepEqual(results[0].w, w0, `${config.kind}: the steps moved the weights`);
    for (let i = 1; i < results.length; i++) {
      assert.deepEqual(results[i].w, results[0].w, `${config.kind} on ${KERNELS[i][0]}`);
      const s = results[i].state;
      assert.deepEqual(Object.keys(s.buffers), Object.keys(results[0].state.buffers));
      for (const [k, b] of Object.entries(s.buffers)) {
        assert.ok(!wasm.inMemory(b), `${k}: state() returns an ordinary array`);
        assert.deepEqual(bits(b), bits(results[0].state.buffers[k]), `${config.kind} ${k} on ${KERNELS[i][0]}`);
      }
    }
  }
});

test("a state saved on one kernel set and loaded on another continues bit for bit", () => {
  const config: OptimizerConfig = { kind: "adam" };
  const straight = makeParams(5);
  const opt = new Optimizer(config);
  for (let t = 1; t <= 4; t++) {
    setGrads(straight, t);
    opt.step(straight, 1e-3, 1e-3);
  }
  const resumed = makeParams(5);
  const first = new Optimizer(config);
  for (let t = 1; t <= 2; t++) {
    setGrads(resumed, t);
    first.step(resumed, 1e-3, 1e-3, wasm);
  }
  const saved = first.state();
  const second = new Optimizer(config);
  second.loadState(saved, resumed);
  for (let t = 3; t <= 4; t++) {
    setGrads(resumed, t);
    second.step(resumed, 1e-3, 1e-3, t === 3 ? two : wasm); // the buffers move between kernel sets
  }
  assert.deepEqual(
    resumed.map((p) => bits(p.value)),
    straight.map((p) => bits(p.value)),
  );
  // the saved state was a copy: later steps did not change it
  assert.equal(saved.step, 2);
  assert.deepEqual(bits(saved.buffers["m.cells.0.w"]), bits(first.state().buffers["m.cells.0.w"]));
});
