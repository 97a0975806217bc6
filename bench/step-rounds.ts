// The language-model stack's streaming step (B = 1) measured in rounds that alternate
// onnxruntime-node's process and egru's (bench/baselines.ts --step-rounds), and the ratios of each
// round: onnxruntime's step over egru's EGRU stepper (float32 weights) and egru's float32 stepper
// over its int8 one, per thread count. A ratio within one round compares steps timed seconds
// apart; a ratio of the full run's rows compares steps timed minutes apart, across which a shared
// machine's speed drifts by up to ±10 % (docs/benchmarks.md §18).

import type { BaselineRow } from "./baselines.js";

/** One round's three step times at one thread count, ms per token (NaN where a row is missing). */
export interface RoundSteps {
  ort: number;
  egru: number;
  int8: number;
}

/** Per thread count, the rounds' ratios: onnxruntime ÷ egru and float32 ÷ int8, in round order. */
export interface StepRatios {
  threads: number;
  rounds: RoundSteps[];
  overOrt: number[];
  int8Gain: number[];
}

/** The rows' workload names: onnxruntime's dense GRU stack step and egru's EGRU stack step. */
export interface StepWorkloads {
  ort: string;
  egru: string;
}

/** The three step times of one round at `threads` threads from that round's rows. */
export function roundSteps(rows: BaselineRow[], what: StepWorkloads, threads: number): RoundSteps {
  const find = (pred: (r: BaselineRow) => boolean): number =>
    rows.find((r) => r.threads === threads && pred(r))?.ms ?? Number.NaN;
  const egru = (variant: string) => (r: BaselineRow) =>
    r.tool === "egru" && r.what === what.egru && r.variant === variant;
  return {
    ort: find((r) => r.tool === "onnxruntime-node" && r.what === what.ort),
    egru: find(egru("stepper")),
    int8: find(egru("stepper int8")),
  };
}

/** The ratios of every round, per thread count. */
export function stepRatios(rounds: BaselineRow[][], what: StepWorkloads, threads: number[]): StepRatios[] {
  return threads.map((n) => {
    const steps = rounds.map((rows) => roundSteps(rows, what, n));
    return {
      threads: n,
      rounds: steps,
      overOrt: steps.map((s) => s.ort / s.egru),
      int8Gain: steps.map((s) => s.egru / s.int8),
    };
  });
}

/** Median of the finite values (NaN when none). */
export function medianOf(xs: number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const range = (xs: number[]): string => {
  const f = xs.filter(Number.isFinite);
  return f.length ? `${Math.min(...f).toFixed(2)}-${Math.max(...f).toFixed(2)}×` : "–";
};

/** One line per thread count: the rounds' median times and the median and range of each ratio. */
export function stepRatioLines(ratios: StepRatios[]): string[] {
  return ratios.map((r) => {
    const ms = (k: keyof RoundSteps): string => medianOf(r.rounds.map((s) => s[k])).toFixed(3);
    return (
      `${r.threads} thread(s), ${r.rounds.length} rounds: EGRU ${ms("egru")} ms, int8 ${ms("int8")} ms, ` +
      `onnxruntime ${ms("ort")} ms; onnxruntime ÷ EGRU ${medianOf(r.overOrt).toFixed(2)}× (${range(r.overOrt)}), ` +
      `int8 ${medianOf(r.int8Gain).toFixed(2)}× the float32 step (${range(r.int8Gain)})`
    );
  });
}
