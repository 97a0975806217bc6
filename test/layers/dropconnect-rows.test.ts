// DropConnect with row masks on the GRU and LSTM baselines (dropConnectShape "row": AWD-LSTM's
// WeightDrop as EvNN's language model applies it): the drawn masks keep or drop whole gate outputs
// (a row of PyTorch's weight_hh_l0; a column of the GRU's stored R), about 1 − p of them, scaled by
// 1/(1 − p), one mask per forward and none in evaluation; with a fixed row mask the float32 layers
// equal the float64 reference run on the masked matrix, and the stored matrix's gradient is the
// masked matrix's gradient times the scaled mask. Every numeric case runs on every kernel set.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ShapeError, ValueError } from "../../packages/egru/src/core/errors.js";
import { Rng } from "../../packages/egru/src/core/rng.js";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { GRU, type GruForwardResult } from "../../packages/egru/src/layers/gru.js";
import { gruBiasSwap } from "../../packages/egru/src/layers/gru-layout.js";
import { LSTM, type LstmForwardResult } from "../../packages/egru/src/layers/lstm.js";
import { SequenceCell } from "../../packages/egru/src/nn/cells.js";
import { gruRefBackward, gruRefForward } from "../../packages/egru/src/reference/gru-ref.js";
import { lstmRefBackward, lstmRefForward } from "../../packages/egru/src/reference/lstm-ref.js";
import { assertClose, randomArray, randomMask } from "../helpers.js";
import { describeOnKernelSets } from "../kernel-sets.js";

type Torch = Record<"weight_ih_l0" | "weight_hh_l0" | "bias_ih_l0" | "bias_hh_l0", Float32Array>;
type RefGrads = Record<"x" | "h0" | "weight_ih" | "weight_hh" | "bias_ih" | "bias_hh", Float64Array>;

/** What the tests need of a GRU or an LSTM layer, in PyTorch's layout where a layout matters. */
interface Cell {
  name: "GRU" | "LSTM";
  /** Gates G: the recurrent matrix has G·H gate outputs. */
  G: number;
  make(o: { I: number; H: number; seed: number; kernels?: Kernels; dropConnect: number }): GRU | LSTM;
  /** The gate output (PyTorch's row of weight_hh_l0, in the stored gate order) of entry k of the stored matrix. */
  gateOf(k: number, H: number): number;
  /** A row mask in the stored gate order → the same rows in PyTorch's gate order. */
  torchRows(rows: Float64Array, H: number): Float64Array;
  /** The stored recurrent matrix, and the matrix one forward used. */
  stored(l: GRU | LSTM): Float32Array;
  used(r: GruForwardResult | LstmForwardResult): Float32Array;
  /** The float64 reference's forward output [T, B, H] and gradients for weights in PyTorch's layout (h0 = c0 = 0). */
  reference(w: Record<keyof Torch, ArrayLike<number>>, x: Float64Array, dims: Dims, G: Float64Array): RefRun;
}

interface Dims {
  T: number;
  B: number;
  I: number;
  H: number;
}

interface RefRun {
  output: Float64Array;
  grads: RefGrads;
}

/** A GRU's or LSTM's options: row DropConnect at probability o.dropConnect. */
const rowOptions = (o: Parameters<Cell["make"]>[0]) => ({
  inputSize: o.I,
  hiddenSize: o.H,
  seed: o.seed,
  kernels: o.kernels,
  dropConnect: o.dropConnect,
  dropConnectShape: "row" as const,
});

/** A float64 reference problem (either cell) with weights w in PyTorch's names, zero initial states, no masks. */
const refProblem = (w: Record<keyof Torch, ArrayLike<number>>, x: Float64Array, d: Dims) => ({
  ...d,
  x,
  h0: new Float64Array(d.B * d.H),
  c0: new Float64Array(d.B * d.H),
  weight_ih: w.weight_ih_l0,
  weight_hh: w.weight_hh_l0,
  bias_ih: w.bias_ih_l0,
  bias_hh: w.bias_hh_l0,
  dropConnect: null,
  zoneout: { kind: "none" as const },
});

const CELLS: Cell[] = [
  {
    name: "GRU",
    G: 3,
    make: (o) => new GRU(rowOptions(o)),
    gateOf: (k, H) => k % (3 * H), // R [H, 3H]: a gate output is a column
    torchRows: (rows, H) => gruBiasSwap(rows, H), // blocks z, r, g → r, z, n
    stored: (l) => (l as GRU).weights.recurrent_kernel,
    used: (r) => (r as GruForwardResult).saved.params.R,
    reference: (w, x, d, G) => {
      const p = refProblem(w, x, d);
      const f = gruRefForward(p);
      return { output: f.output, grads: gruRefBackward(p, f, { output: G }) };
    },
  },
  {
    name: "LSTM",
    G: 4,
    make: (o) => new LSTM(rowOptions(o)),
    gateOf: (k, H) => Math.floor(k / H), // weight_hh_l0 [4H, H]: a gate output is a row
    torchRows: (rows) => rows,
    stored: (l) => (l as LSTM).weights.weight_hh_l0,
    used: (r) => (r as LstmForwardResult).saved.params.Whh,
    reference: (w, x, d, G) => {
      const p = refProblem(w, x, d);
      const f = lstmRefForward(p);
      return { output: f.output, grads: lstmRefBackward(p, f, { output: G }) };
    },
  },
];

describe("drawn row masks: whole gate outputs, about 1 − p kept, scaled by 1/(1 − p), one per forward, none in evaluation", () => {
  const p = 0.3;
  const dims = { T: 2, B: 2, I: 5, H: 48 };
  for (const cell of CELLS) {
    test(cell.name, () => {
      const { T, B, I, H } = dims;
      const layer = cell.make({ I, H, seed: 7, dropConnect: p });
      const x = randomArray(new Rng(8), T * B * I);
      const raw = cell.stored(layer);
      const GH = cell.G * H;
      let kept = 0;
      let previous: number[] | null = null;
      const forwards = 20;
      for (let n = 0; n < forwards; n++) {
        const r = layer.forward({ x, T, B });
        const mask = r.saved.dropConnectMask!;
        assert.equal(mask.length, GH * H, "a mask over the whole matrix");
        const rows = new Array<number>(GH).fill(-1);
        for (let k = 0; k < mask.length; k++) {
          const j = cell.gateOf(k, H);
          assert.ok(mask[k] === 0 || mask[k] === 1, `mask[${k}] = ${mask[k]}`);
          if (rows[j] === -1) rows[j] = mask[k];
          assert.equal(mask[k], rows[j], `forward ${n}: gate output ${j} has one value along the input dimension`);
        }
        const used = cell.used(r);
        for (let k = 0; k < used.length; k++) {
          if (mask[k] === 0) assert.ok(used[k] === 0, `dropped entry ${k}: ${used[k]}`);
          else assert.ok(Math.abs(used[k] - raw[k] / (1 - p)) <= 1e-6 * Math.abs(raw[k]), `kept entry ${k} scaled`);
        }
        kept += rows.reduce((s, v) => s + v, 0);
        assert.notDeepEqual(rows, previous, `forward ${n} draws a new mask`);
        previous = rows;
        r.release();
      }
      // 20·G·H ≥ 2880 Bernoulli draws: the kept fraction's standard deviation is ≤ 0.0086
      const share = kept / (forwards * GH);
      assert.ok(Math.abs(share - (1 - p)) < 0.035, `kept fraction ${share}`);
      layer.eval();
      const e = layer.forward({ x, T, B });
      assert.equal(e.saved.dropConnectMask, null, "no mask in evaluation");
      assert.deepEqual(cell.used(e), raw, "evaluation uses the stored matrix");
    });
  }

  test("the default element mask is not constant along the input dimension (the row mask is an option)", () => {
    const layer = new GRU({ inputSize: 3, hiddenSize: 16, seed: 1, dropConnect: 0.5 });
    assert.equal(layer.dropConnectShape, "element");
    const mask = layer.forward({ x: new Float32Array(3), T: 1, B: 1 }).saved.dropConnectMask!;
    const H3 = 48;
    let differs = 0;
    for (let k = H3; k < mask.length; k++) if (mask[k] !== mask[k % H3]) differs++;
    assert.ok(differs > 100, `${differs} entries differ from the first input row's`);
  });
});

describeOnKernelSets("a fixed row mask: the layer equals the float64 reference on the masked matrix", (kernels) => {
  const cases: (Dims & { p: number })[] = [
    { T: 3, B: 2, I: 4, H: 5, p: 0.4 },
    { T: 7, B: 3, I: 17, H: 7, p: 0.6 },
  ];
  for (const cell of CELLS) {
    for (const d of cases) {
      test(`${cell.name} T=${d.T} B=${d.B} I=${d.I} H=${d.H}, p=${d.p}`, () => {
        const { T, B, I, H, p } = d;
        const layer = cell.make({ I, H, seed: T + H, kernels, dropConnect: p });
        const rng = new Rng(H * 13 + T);
        const x = randomArray(rng, T * B * I);
        const G = randomArray(rng, T * B * H);
        const rows = randomMask(rng, cell.G * H, p); // stored gate order
        assert.ok(rows.includes(0) && rows.includes(1), "the mask keeps and drops");
        const r = layer.forward({ x, T, B, masks: { dropConnect: rows } });
        if (layer instanceof GRU) layer.backward(r as GruForwardResult, { dOutput: G });
        else layer.backward(r as LstmForwardResult, { dOutput: G });
        // the masked matrix in PyTorch's layout: row j of weight_hh_l0 times mask_j / (1 − p)
        const w = layer.getTorchWeights();
        const torchRows = cell.torchRows(rows, H);
        const scaled = (j: number): number => torchRows[j] / (1 - p);
        const masked = Float64Array.from(w.weight_hh_l0, (v, k) => v * scaled(Math.floor(k / H)));
        const ref = cell.reference({ ...w, weight_hh_l0: masked }, x, d, G);
        assertClose(r.output, ref.output, { atol: 1e-5, rtol: 1e-4, name: "output" });
        const g = layer.torchGrads();
        const tol = { atol: 1e-4, rtol: 1e-3 };
        assertClose(g.weight_ih_l0, ref.grads.weight_ih, { ...tol, name: "dweight_ih" });
        assertClose(g.bias_ih_l0, ref.grads.bias_ih, { ...tol, name: "dbias_ih" });
        assertClose(g.bias_hh_l0, ref.grads.bias_hh, { ...tol, name: "dbias_hh" });
        // the stored matrix's gradient: the masked matrix's gradient times the scaled row mask
        const want = ref.grads.weight_hh.map((v, k) => v * scaled(Math.floor(k / H)));
        assertClose(g.weight_hh_l0, want, { ...tol, name: "dweight_hh (stored)" });
        g.weight_hh_l0.forEach((v, k) => {
          if (torchRows[Math.floor(k / H)] === 0) assert.ok(v === 0, `dropped row ${Math.floor(k / H)}: gradient ${v}`);
        });
        assert.ok(
          ref.grads.weight_hh.some((v, k) => torchRows[Math.floor(k / H)] === 0 && Math.abs(v) > 1e-3),
          "a dropped row has an effective gradient that the mask removes",
        );
      });
    }
  }
});

describe("row masks: bad options and masks raise typed errors naming them", () => {
  test("an unknown shape, a row mask of the wrong length, a row mask on an EGRU", () => {
    const named =
      (argument: string, Err: typeof ValueError | typeof ShapeError) =>
      (e: unknown): boolean =>
        e instanceof Err && e.argument === argument;
    assert.throws(
      () => new GRU({ inputSize: 2, hiddenSize: 3, dropConnectShape: "column" as never }),
      named("dropConnectShape", ValueError),
    );
    assert.throws(
      () => new LSTM({ inputSize: 2, hiddenSize: 3, dropConnectShape: "rows" as never }),
      named("dropConnectShape", ValueError),
    );
    for (const cell of CELLS) {
      const layer = cell.make({ I: 2, H: 3, seed: 1, dropConnect: 0.2 });
      // an element mask's length is refused where a row mask [G·H] is expected
      const masks = { dropConnect: new Float32Array(cell.G * 3 * 3).fill(1) };
      assert.throws(
        () => layer.forward({ x: new Float32Array(2), T: 1, B: 1, masks }),
        named("masks.dropConnect", ShapeError),
        cell.name,
      );
    }
    assert.throws(
      () => new SequenceCell("egru", 2, 3, new Rng(1), { dropConnect: 0.2, dropConnectShape: "row" }),
      named("dropConnectShape", ValueError),
    );
    const gru = new SequenceCell("gru", 2, 3, new Rng(1), { dropConnect: 0.2, dropConnectShape: "row" });
    assert.equal((gru.layer as GRU).dropConnectShape, "row", "a cell passes the shape on");
  });
});
