// Training tapes in the kernels' memory (layers/tape-arena.ts): EGRU, GRU and LSTM layers trained a
// few steps with their outputs and tape as views into the WebAssembly memory give the bits of the
// same layers on ordinary (copied) arrays, on one thread and on two; repeated forward/backward/release
// pairs do not grow the memory; above the cap, and on the TypeScript kernels, tapes are ordinary
// arrays; results never released give their memory back once collected; an EGRU layer's gradient
// temporaries where the memory has no room for them are ordinary arrays, with the same bits.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { StateError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import { EGRU } from "../../packages/egru/src/layers/egru.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import { setTapeArenaCap, tapeArenaBytes } from "../../packages/egru/src/layers/tape-arena.js";
import { createThreadedKernels } from "../../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { randomArray, settleGarbage } from "../helpers.js";

const wasm = await loadWasmKernels();
assert.ok(wasm, "WebAssembly SIMD kernels must load in Node 20");
const threaded = createThreadedKernels(wasm, 2, { minWork: 0, minColumnWork: 0, minPointwise: 0 });
assert.equal(threaded.threads, 2);
after(() => threaded.close());

const T = 5,
  B = 7,
  I = 9,
  H = 13;

type Layer = EGRU | GRU | LSTM;
interface Result {
  output: Float32Array;
  release(): void;
}
const makers: Record<string, (k: Kernels) => Layer> = {
  EGRU: (kernels) =>
    new EGRU({ inputSize: I, hiddenSize: H, seed: 5, weightGain: 2, dropConnect: 0.2, zoneout: 0.2, kernels }),
  GRU: (kernels) => new GRU({ inputSize: I, hiddenSize: H, seed: 5, dropConnect: 0.2, zoneout: 0.2, kernels }),
  LSTM: (kernels) => new LSTM({ inputSize: I, hiddenSize: H, seed: 5, dropConnect: 0.2, kernels }),
};

/** One training step: forward, backward with a fixed upstream gradient, SGD on the weights; the bits it saw. */
function step(layer: Layer, s: number, keep?: Result[]): { bits: Float32Array[]; result: Result } {
  const x = Float32Array.from(randomArray(new Rng(10 + s), T * B * I, 1.5));
  const dy = Float32Array.from(randomArray(new Rng(20 + s), T * B * H));
  layer.zeroGrad();
  const r = layer.forward({ x, T, B }) as Result;
  const output = r.output.slice();
  const d = backward(layer, r, dy);
  const grads = Object.values(layer.grads).map((g) => g.slice());
  for (const [k, w] of Object.entries(layer.weights))
    for (let i = 0; i < w.length; i++) w[i] -= 0.05 * layer.grads[k][i];
  if (keep) keep.push(r);
  else r.release();
  return { bits: [output, ...d, ...grads], result: r };
}

/** The layer's backward with ∂L/∂output = dy: its input gradients. */
function backward(layer: Layer, r: Result, dy: Float32Array): Float32Array[] {
  if (layer instanceof EGRU) {
    const d = layer.backward(r as ReturnType<EGRU["forward"]>, { dOutput: dy });
    return [d.dx, d.dy0];
  }
  if (layer instanceof GRU) {
    const d = layer.backward(r as ReturnType<GRU["forward"]>, { dOutput: dy });
    return [d.dx, d.dh0];
  }
  const d = layer.backward(r as ReturnType<LSTM["forward"]>, { dOutput: dy });
  return [d.dx, d.dh0, d.dc0];
}

function inKernelMemory(a: Float32Array): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}

/** Run fn with the arena cap set to bytes. */
function withCap<R>(bytes: number, fn: () => R): R {
  const previous = setTapeArenaCap(bytes);
  try {
    return fn();
  } finally {
    setTapeArenaCap(previous);
  }
}

for (const [name, make] of Object.entries(makers)) {
  for (const kernels of [wasm, threaded] as Kernels[]) {
    test(`${name} [${kernels.name}]: tapes in kernel memory train bit-identically to copied ones (4 steps)`, () => {
      const inPlace = make(kernels).train();
      const copied = make(kernels).train();
      for (let s = 0; s < 4; s++) {
        const a = step(inPlace, s);
        const b = withCap(0, () => step(copied, s));
        assert.ok(inKernelMemory(a.result.output), "the arena's tape is a view into the kernels' memory");
        assert.ok(!inKernelMemory(b.result.output), "cap 0: an ordinary array");
        b.bits.forEach((v, i) => assert.deepEqual(a.bits[i], v, `step ${s}, array ${i}`));
      }
    });
  }
}

test("a training forward's ordinary input is copied into the kernels' memory once: no kernel call of the forward or backward gets the caller's array", () => {
  for (const [name, make] of Object.entries(makers)) {
    for (const [training, expectCopies] of [
      [true, false],
      [false, true], // the check can fail: an evaluation forward hands its ordinary input to the kernels
    ] as const) {
      const ordinary: string[] = [];
      const x = Float32Array.from(randomArray(new Rng(3), T * B * I));
      const spy = new Proxy(wasm!, {
        get(target, prop) {
          const v = Reflect.get(target, prop, target);
          if (typeof v !== "function") return v;
          if (prop === "inMemory") return v.bind(target); // (the staging's own question)
          return (...args: unknown[]) => {
            for (const a of args.flatMap((a) => (a && typeof a === "object" ? [a, ...Object.values(a)] : [])))
              if (a === x) ordinary.push(String(prop));
            return v.apply(target, args);
          };
        },
      }) as Kernels;
      const layer = make(spy);
      if (training) layer.train();
      else layer.eval();
      const r = layer.forward({ x, T, B }) as Result;
      if (training) backward(layer, r, Float32Array.from(randomArray(new Rng(4), T * B * H)));
      r.release();
      if (expectCopies) assert.ok(ordinary.length > 0, `${name} evaluation: ${ordinary.join(", ")}`);
      else assert.deepEqual(ordinary, [], `${name} training`);
    }
  }
});

test("the TypeScript kernels and evaluation mode keep ordinary arrays", () => {
  const r = makers
    .EGRU(jsKernels)
    .train()
    .forward({ x: new Float32Array(T * B * I), T, B });
  assert.ok(!inKernelMemory(r.output));
  const e = makers
    .EGRU(wasm)
    .eval()
    .forward({ x: new Float32Array(T * B * I), T, B });
  assert.ok(!inKernelMemory(e.output), "an inference forward's result is the caller's to keep");
});

test("repeated forward/backward/release pairs do not grow the kernel memory", () => {
  for (const make of Object.values(makers)) {
    const layer = make(wasm).train();
    for (let s = 0; s < 3; s++) step(layer, s); // warm-up
    const bytes = wasm.memoryBytes();
    const arena = tapeArenaBytes();
    for (let s = 3; s < 30; s++) step(layer, s);
    assert.equal(wasm.memoryBytes(), bytes, "the memory did not grow");
    assert.equal(tapeArenaBytes(), arena, "the arena holds what it held after warm-up");
  }
});

test("above the cap a training forward falls back to ordinary arrays, with the same bits", () => {
  const a = makers.EGRU(wasm).train();
  const b = makers.EGRU(wasm).train();
  const before = tapeArenaBytes();
  const ra = step(a, 0);
  const held = tapeArenaBytes() - before;
  assert.equal(
    held,
    (9 * H + I) * T * B * 4,
    "one slot of nine [T, B, H] arrays and one of the staged input [T, B, I]",
  );
  // room for a's slot only: b's forward does not fit and uses the pool
  const rb = withCap(before + held + 16, () => step(b, 0));
  assert.ok(inKernelMemory(ra.result.output));
  assert.ok(!inKernelMemory(rb.result.output));
  rb.bits.forEach((v, i) => assert.deepEqual(ra.bits[i], v, `array ${i}`));
  // a keeps reusing its slot under that cap
  const again = withCap(before + held + 16, () => step(a, 1));
  assert.ok(inKernelMemory(again.result.output));
});

test("a second result held while the first is alive gets its own slot; unreleased results are given back when collected", async () => {
  const settle = settleGarbage;
  for (let i = 0; i < 3; i++) await settle(); // the earlier tests' layers go first
  const before = tapeArenaBytes();
  const slot = (9 * H + I) * T * B * 4; // the tape's slot and the staged input's
  let layer: Layer | null = makers.EGRU(wasm).train();
  const kept: Result[] = [];
  const first = step(layer, 0, kept).bits;
  step(layer, 1, kept);
  assert.equal(tapeArenaBytes() - before, 2 * slot, "two live results, two slots");
  // the first result's arrays were not overwritten by the second forward
  assert.deepEqual(kept[0].output, first[0]);
  kept.length = 0; // dropped without release()
  for (let i = 0; i < 5 && tapeArenaBytes() - before > slot; i++) await settle();
  assert.equal(tapeArenaBytes() - before, slot, "one idle slot kept for the next forward");
  step(layer, 2);
  assert.equal(tapeArenaBytes() - before, slot, "and reused by it");
  layer = null; // the layer is collected: its arena frees its slots
  for (let i = 0; i < 5 && tapeArenaBytes() > before; i++) await settle();
  assert.equal(tapeArenaBytes(), before);
});

test("an EGRU layer's gradient temporaries fall back to ordinary memory where the kernels' memory has no room, with the same bits", () => {
  const [Ts, Bs, Is, Hs] = [6, 16, 300, 24]; // dW [I, 3H] larger than anything else the step allocates
  const dW = Is * 3 * Hs;
  const full = new Proxy(wasm, {
    get(target, key) {
      // the kernels' memory refuses the weight gradient's temporary, as a full one would
      if (key === "alloc")
        return (n: number, zeroed?: boolean) => {
          if (n === dW) throw new StateError("WebAssembly memory", `room for ${4 * n} more bytes`, "full");
          return target.alloc(n, zeroed);
        };
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  const rng = new Rng(4);
  const x = Float32Array.from(randomArray(rng, Ts * Bs * Is)).map((v) => (Math.abs(v) > 1.2 ? v : 0));
  const dy = Float32Array.from(randomArray(rng, Ts * Bs * Hs));
  const train = (kernels: Kernels) => {
    const layer = new EGRU({ inputSize: Is, hiddenSize: Hs, seed: 3, kernels, inputEvents: true });
    for (let s = 0; s < 2; s++) {
      const r = layer.forward({ x, T: Ts, B: Bs });
      layer.backward(r, { dy });
      r.release();
    }
    return Object.fromEntries(Object.entries(layer.grads).map(([k, g]) => [k, Float32Array.from(g)]));
  };
  assert.deepEqual(train(full), train(wasm));
});
