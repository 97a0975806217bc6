// `egru demo`: one forward and backward pass of each cell type on a seeded random sequence,
// printing activity sparsity, backward sparsity and executed vs dense multiply-accumulates.

import { EGRU, GRU, type Kernels, LSTM, Rng } from "egru";
import type { LayerStats } from "egru";
import { UsageError } from "../run/exit.js";

export interface DemoOptions {
  cell: "egru" | "gru" | "lstm" | "all";
  steps: number;
  batch: number;
  input: number;
  hidden: number;
  seed: number;
  json: boolean;
  /** The kernels the layers compute with (default: the library's default). */
  kernels?: Kernels;
}

export interface DemoRow {
  cell: string;
  T: number;
  B: number;
  I: number;
  H: number;
  parameters: number;
  stats: LayerStats;
  forwardMs: number;
  backwardMs: number;
}

/**
 * Bytes the demo's arrays need at most (inputs, upstream gradients, an LSTM's tape of eight [T, B, H]
 * arrays and its outputs, weights and gradients of 4H(I + H) each): checked before anything is allocated.
 */
export function demoBytes(o: Pick<DemoOptions, "steps" | "batch" | "input" | "hidden">): number {
  const { steps: T, batch: B, input: I, hidden: H } = o;
  return 4 * (2 * T * B * I + 10 * T * B * H + 8 * H * (I + H));
}

/** Run the demo and return one row per cell (no printing); `limitBytes` bounds demoBytes (a UsageError beyond it). */
export function runDemo(o: DemoOptions, limitBytes = Number.POSITIVE_INFINITY): DemoRow[] {
  const cells = o.cell === "all" ? (["egru", "gru", "lstm"] as const) : [o.cell];
  const { steps: T, batch: B, input: I, hidden: H } = o;
  const need = demoBytes(o);
  if (need > limitBytes)
    throw new UsageError(
      "--steps, --batch, --input, --hidden",
      `sizes whose arrays fit in ${(limitBytes / 2 ** 30).toFixed(1)} GiB (a third of this machine's memory)`,
      `T=${T} B=${B} I=${I} H=${H}, an estimate of ${(need / 2 ** 30).toFixed(1)} GiB`,
    );
  const rng = new Rng(o.seed);
  const x = new Float32Array(T * B * I);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal(0, 1);
  const dOut = new Float32Array(T * B * H);
  for (let i = 0; i < dOut.length; i++) dOut[i] = rng.normal(0, 1);

  return cells.map((cell) => {
    const t0 = performance.now();
    let stats: LayerStats;
    let params: Record<string, Float32Array>;
    let t1: number;
    if (cell === "egru") {
      const layer = new EGRU({ inputSize: I, hiddenSize: H, seed: o.seed, kernels: o.kernels });
      const r = layer.forward({ x, T, B });
      t1 = performance.now();
      layer.backward(r, { dtrace: dOut });
      stats = r.stats;
      params = layer.weights;
    } else if (cell === "gru") {
      const layer = new GRU({ inputSize: I, hiddenSize: H, seed: o.seed, kernels: o.kernels });
      const r = layer.forward({ x, T, B });
      t1 = performance.now();
      layer.backward(r, { dOutput: dOut });
      stats = r.stats;
      params = layer.weights;
    } else {
      const layer = new LSTM({ inputSize: I, hiddenSize: H, seed: o.seed, kernels: o.kernels });
      const r = layer.forward({ x, T, B });
      t1 = performance.now();
      layer.backward(r, { dOutput: dOut });
      stats = r.stats;
      params = layer.weights;
    }
    const t2 = performance.now();
    const parameters = Object.values(params).reduce((n, a) => n + a.length, 0);
    return { cell, T, B, I, H, parameters, stats, forwardMs: t1 - t0, backwardMs: t2 - t1 };
  });
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
const big = (v: number): string =>
  v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : String(v);

/** Format rows as an aligned text table. */
export function demoTable(rows: DemoRow[]): string {
  const head = [
    "cell",
    "params",
    "activity sparsity",
    "backward sparsity",
    "MACs executed",
    "MACs dense",
    "executed/dense",
    "fwd ms",
    "bwd ms",
  ];
  const body = rows.map((r) => [
    r.cell,
    big(r.parameters),
    pct(r.stats.activitySparsity),
    pct(r.stats.backwardSparsity),
    big(r.stats.eventMacs),
    big(r.stats.denseMacs),
    pct(r.stats.eventMacs / r.stats.denseMacs),
    r.forwardMs.toFixed(1),
    r.backwardMs.toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cols: string[]): string =>
    cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}
