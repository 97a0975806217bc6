// The GRU and LSTM layers on the WebAssembly cells (gruCell*, lstmCell*), at odd sizes, with
// zoneout (GRU) and DropConnect on and off, in training and evaluation, with initial states and
// final-state gradients:
//   - the WebAssembly cells with the TypeScript products give the TypeScript kernels' bits (the cells
//     are the only difference: their float32 forward and float64 backward are the same arithmetic);
//   - the WebAssembly kernels on one and on two threads give the same bits;
//   - the WebAssembly and TypeScript kernel sets agree to float32 accuracy (their products sum in
//     another order, so they are not bit-identical);
//   - the recurrent matrix is read in place from the kernels' memory by every per-step product (the
//     LSTM) or by the whole time loop's one call a pass (the GRU), in the forward and the backward alike.

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { jsKernels, type Kernels } from "../../packages/egru/src/kernels/backend.js";
import { GRU } from "../../packages/egru/src/layers/gru.js";
import { LSTM } from "../../packages/egru/src/layers/lstm.js";
import type { WasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { assertClose, randomArray } from "../helpers.js";
import { KERNEL_SETS } from "../kernel-sets.js";

const [, wasm, threaded] = KERNEL_SETS as [Kernels, WasmKernels, Kernels];

/** The TypeScript kernels with the WebAssembly cells: the products' bits stay the TypeScript ones. */
const wasmCells: Kernels = {
  ...jsKernels,
  name: "js + wasm cells",
  gruCellForward: (a) => wasm.gruCellForward(a),
  gruCellBackward: (a) => wasm.gruCellBackward(a),
  lstmCellForward: (a) => wasm.lstmCellForward(a),
  lstmCellBackward: (a) => wasm.lstmCellBackward(a),
};

type Cell = "GRU" | "LSTM";

interface Variant {
  training: boolean;
  dropConnect: number;
  zoneout: number; // GRU only
}

const VARIANTS: Variant[] = [];
for (const training of [true, false])
  for (const dropConnect of [0, 0.3]) for (const zoneout of [0, 0.2]) VARIANTS.push({ training, dropConnect, zoneout });

/** [T, B, I, H] */
const SIZES = [
  [1, 1, 1, 1],
  [3, 7, 17, 33],
  [7, 3, 33, 17],
  [17, 1, 3, 7],
  [3, 33, 7, 3],
];

/** One forward and backward (upstream on every output and on the final states); every output and gradient. */
function run(kernels: Kernels, cell: Cell, [T, B, I, H]: number[], v: Variant): Record<string, Float32Array> {
  const rng = new Rng(T * 1000 + B * 100 + I * 10 + H);
  const x = Float32Array.from(randomArray(rng, T * B * I, 2));
  const h0 = Float32Array.from(randomArray(rng, B * H));
  const c0 = Float32Array.from(randomArray(rng, B * H, 2));
  const dOutput = Float32Array.from(randomArray(rng, T * B * H));
  const dhT = Float32Array.from(randomArray(rng, B * H));
  const dcT = Float32Array.from(randomArray(rng, B * H));
  const opts = { inputSize: I, hiddenSize: H, seed: H + 1, dropConnect: v.dropConnect, kernels };
  if (cell === "GRU") {
    const layer = new GRU({ ...opts, zoneout: v.zoneout });
    if (!v.training) layer.eval();
    const r = layer.forward({ x, T, B, h0 });
    const d = layer.backward(r, { dOutput, dhT });
    return { output: r.output, h: r.state.h, ...d, ...layer.grads };
  }
  const layer = new LSTM(opts);
  if (!v.training) layer.eval();
  const r = layer.forward({ x, T, B, h0, c0 });
  const d = layer.backward(r, { dOutput, dhT, dcT });
  return { output: r.output, h: r.state.h, c: r.state.c, ...d, ...layer.grads };
}

function label(cell: Cell, size: number[], v: Variant): string {
  const zo = cell === "GRU" ? ` zoneout ${v.zoneout}` : "";
  return `${cell} [T, B, I, H] = [${size}] ${v.training ? "train" : "eval"} DropConnect ${v.dropConnect}${zo}`;
}

/** Every case: both cells, every size, the variants that apply (the LSTM has no zoneout). */
function cases(): [Cell, number[], Variant][] {
  const out: [Cell, number[], Variant][] = [];
  for (const cell of ["GRU", "LSTM"] as Cell[])
    for (const size of SIZES)
      for (const v of VARIANTS) if (cell === "GRU" || v.zoneout === 0) out.push([cell, size, v]);
  return out;
}

test("the WebAssembly cells with the TypeScript products give the TypeScript kernels' bits", () => {
  for (const [cell, size, v] of cases()) {
    const a = run(wasmCells, cell, size, v);
    const b = run(jsKernels, cell, size, v);
    for (const k of Object.keys(b)) assert.deepEqual(a[k], b[k], `${label(cell, size, v)}: ${k}`);
  }
});

test("the WebAssembly kernels on one and on two threads give the same bits", () => {
  for (const [cell, size, v] of cases()) {
    const a = run(threaded, cell, size, v);
    const b = run(wasm, cell, size, v);
    for (const k of Object.keys(b)) assert.deepEqual(a[k], b[k], `${label(cell, size, v)}: ${k}`);
  }
});

test("the WebAssembly and TypeScript kernel sets agree to float32 accuracy", () => {
  for (const [cell, size, v] of cases()) {
    const a = run(wasm, cell, size, v);
    const b = run(jsKernels, cell, size, v);
    for (const k of Object.keys(b)) {
      const tol = ["output", "h", "c"].includes(k) ? { atol: 1e-5, rtol: 1e-4 } : { atol: 1e-4, rtol: 1e-3 };
      assertClose(a[k], b[k], { ...tol, name: `${label(cell, size, v)}: ${k}` });
    }
  }
});

test("the recurrent matrix is read in place from the kernels' memory by every per-step product or time loop", () => {
  const T = 4,
    B = 3,
    I = 5,
    H = 9;
  for (const [cell, kernels] of [
    ["GRU", wasm],
    ["LSTM", wasm],
    ["GRU", threaded],
    ["LSTM", threaded],
  ] as [Cell, Kernels][]) {
    // every per-step product of the forward (h_{t−1}·R) and the backward (dq·Rᵀ, dP·W_hh) reads the
    // [H, 3H] or [4H, H] matrix as its second operand: record those operands
    const matrices: Float32Array[] = [];
    const G = cell === "GRU" ? 3 * H : 4 * H;
    const spy = new Proxy(kernels, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const [M, N, K] = args as number[];
          const perStep = M === B && (prop === "gemmNN" || prop === "gemmNT" || prop === "gemmTN") && N * K === G * H;
          if (perStep && K !== I) matrices.push(args[5] as Float32Array);
          const out = value.apply(target, args);
          // (a whole-loop call that did not apply left the steps to the products above)
          if ((prop === "gruSeqForward" || prop === "gruSeqBackward") && out === true)
            matrices.push((args[0] as { R: Float32Array }).R);
          return out;
        };
      },
    });
    const rng = new Rng(3);
    const x = Float32Array.from(randomArray(rng, T * B * I));
    const dOutput = Float32Array.from(randomArray(rng, T * B * H));
    const opts = { inputSize: I, hiddenSize: H, seed: 4, dropConnect: 0.3, kernels: spy };
    let forwardReads = 0;
    if (cell === "GRU") {
      const layer = new GRU(opts);
      const r = layer.forward({ x, T, B });
      forwardReads = matrices.length;
      layer.backward(r, { dOutput });
    } else {
      const layer = new LSTM(opts);
      const r = layer.forward({ x, T, B });
      forwardReads = matrices.length;
      layer.backward(r, { dOutput });
    }
    // the GRU's time loop is one call a pass on one thread (test/kernels/gru-seq.test.ts; B = 3 rows are
    // one block, which these threaded kernels, splitting every product, leave to the step loop), the LSTM's a product a step
    const perPass = cell === "GRU" && kernels === wasm ? 1 : T;
    assert.equal(forwardReads, perPass, `${cell} on ${kernels.name}: forward`);
    assert.equal(matrices.length, 2 * perPass, `${cell} on ${kernels.name}: and backward`);
    assert.ok(
      matrices.every((m) => m === matrices[0] && wasm.inMemory(m)),
      `${cell} on ${kernels.name}: one copy in the kernels' memory, uploaded once`,
    );
  }
});
