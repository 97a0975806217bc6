// The baselines harness (bench/baselines.ts): row format and parsing, egru's rows at tiny sizes,
// PyTorch's rows at tiny sizes where python3-torch exists (an empty list where it does not), and
// the egru ↔ onnxruntime cross-check where the exported models are in bench/.cache/. Needs no python.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkRow,
  CROSS_CHECK_TOLERANCE,
  crossCheckLine,
  egruDenseGruRows,
  int8Ratios,
  modelsPresent,
  onnxCrossCheck,
  onnxRows,
  parseRows,
  pythonHasTorch,
  pytorchRows,
  rowsTable,
  type BaselineRow,
} from "../../bench/baselines.js";
import { medianOf, stepRatioLines, stepRatios } from "../../bench/step-rounds.js";

function assertRow(r: BaselineRow, tool: string): void {
  checkRow(r);
  assert.equal(r.tool, tool);
  assert.ok(r.ms > 0 && Number.isFinite(r.ms), `ms of ${r.what}`);
  assert.ok(Number.isInteger(r.threads) && r.threads >= 1);
}

test("rows: checkRow accepts the format, parseRows reads JSON lines, rowsTable aligns", () => {
  const text = [
    "bench_pytorch: a progress line that is not a row",
    '{"tool":"pytorch","what":"GRU H=16 step B=1","threads":2,"ms":0.5,"samples":10,"blas":"openblas"}',
    '{"tool":"pytorch","what":"matmul 64x64x64","threads":1,"ms":0.1,"gflops":5.2}',
    "",
  ].join("\n");
  const rows = parseRows(text);
  assert.equal(rows.length, 2);
  assert.equal(rows[0].blas, "openblas");
  assert.equal(rows[1].gflops, 5.2);
  for (const bad of [
    { what: "x", threads: 1, ms: 1 },
    { tool: "t", what: "x", threads: 0, ms: 1 },
    { tool: "t", what: "x", threads: 1, ms: -1 },
    { tool: "t", what: "x", threads: 1, ms: 1, tokensPerSecond: Number.NaN },
    { tool: "t", what: "x", threads: 1, ms: 1, activitySparsity: 1.5 },
  ]) {
    assert.throws(() => checkRow(bad), /row/);
  }
  assert.throws(() => parseRows('{"tool":"t"}'), /what/);
  const table = rowsTable([
    ...rows,
    { tool: "egru", what: "GRU H=16 step B=1", threads: 1, ms: 2, variant: "stepper", kernels: "js" },
  ]).split("\n");
  assert.equal(table.length, 2 + 3);
  assert.match(table[0], /^what\s+tool/);
  // rows of the same workload are adjacent, PyTorch first
  assert.match(table[2], /GRU H=16.*pytorch/);
  assert.match(table[3], /GRU H=16.*egru.*stepper, kernels js/);
});

test("egruDenseGruRows at tiny sizes: every row well formed, EGRU rows report their activity sparsity", async () => {
  const rows = await egruDenseGruRows({
    sizes: [6, 10, 10, 6],
    single: 8,
    steps: 12,
    warmup: 2,
    trainB: 3,
    trainT: 5,
    trainSteps: 1,
    matmul: 16,
    progress: false,
  });
  for (const r of rows) assertRow(r, "egru");
  const whats = rows.map((r) => `${r.what} ${r.variant ?? ""}`.trim());
  assert.deepEqual(whats, [
    "GRU stack 6->10->10->6 step B=1 step()",
    "GRU stack 6->10->10->6 step B=1 stepper",
    "GRU stack 6->10->10->6 step B=1 stepper int8",
    "GRU H=8 step B=1 step()",
    "GRU H=8 step B=1 stepper",
    "GRU stack 6->10->10->6 train fwd+bwd B=3 T=5",
    "EGRU stack 6->10->10->6 step B=1 step()",
    "EGRU stack 6->10->10->6 step B=1 stepper",
    "EGRU stack 6->10->10->6 step B=1 stepper int8",
    "EGRU stack 6->10->10->6 train fwd+bwd B=3 T=5 events",
    "EGRU stack 6->10->10->6 train fwd+bwd B=3 T=5 dense",
    "matmul 16x16x16",
  ]);
  for (const r of rows.filter((x) => x.what.includes("train"))) {
    assert.equal(r.T, 5);
    assert.equal(r.note, undefined);
    assert.ok(r.tokensPerSecond! > 0);
    assert.ok(Math.abs(r.tokensPerSecond! - (3 * 5) / (r.ms / 1000)) < 1e-6 * r.tokensPerSecond!);
  }
  for (const r of rows.filter((x) => x.what.startsWith("EGRU"))) {
    assert.ok(r.activitySparsity !== undefined && r.activitySparsity >= 0 && r.activitySparsity <= 1);
  }
  const events = rows.find((x) => x.what.startsWith("EGRU") && x.variant === "events")!;
  assert.ok(events.backwardSparsity !== undefined && events.backwardSparsity >= 0 && events.backwardSparsity <= 1);
  assert.ok(rows.at(-1)!.gflops! > 0);
  // one ratio line per int8 stepper row, against the float32 stepper of the same stack
  const ratios = int8Ratios(rows);
  assert.equal(ratios.length, 2);
  assert.match(
    ratios[1],
    /^EGRU stack 6->10->10->6 step B=1, 1 thread\(s\): float32 [\d.]+ ms, int8 [\d.]+ ms, int8 [\d.]+× the float32 step; activity sparsity [\d.]+ % float32, [\d.]+ % int8$/,
  );
});

test("egruDenseGruRows with gru and train off gives the EGRU stack's streaming rows alone (the step rounds)", async () => {
  const rows = await egruDenseGruRows({
    sizes: [6, 10, 6],
    single: 0,
    steps: 5,
    warmup: 1,
    matmul: 0,
    stepApi: false,
    gru: false,
    train: false,
    progress: false,
  });
  for (const r of rows) assertRow(r, "egru");
  assert.deepEqual(
    rows.map((r) => `${r.what} ${r.variant}`),
    ["EGRU stack 6->10->6 step B=1 stepper", "EGRU stack 6->10->6 step B=1 stepper int8"],
  );
});

test("step rounds: each round's ratios from its own rows, medians and ranges over the rounds", () => {
  const what = { ort: "GRU stack 4->6 step B=1", egru: "EGRU stack 4->6 step B=1" };
  const round = (ort: number, egru: number, int8: number, threads = 1): BaselineRow[] => [
    { tool: "onnxruntime-node", what: what.ort, threads, ms: ort },
    { tool: "egru", what: what.egru, variant: "stepper", threads, ms: egru },
    { tool: "egru", what: what.egru, variant: "stepper int8", threads, ms: int8 },
    // rows of other workloads and thread counts are not taken
    { tool: "egru", what: "GRU stack 4->6 step B=1", variant: "stepper", threads, ms: 99 },
    { tool: "onnxruntime-node", what: what.ort, threads: threads + 1, ms: 99 },
  ];
  const rounds = [round(3, 1, 0.5), round(3.3, 1.1, 0.5), round(2.4, 0.8, 0.5)];
  const [r] = stepRatios(rounds, what, [1]);
  assert.deepEqual(r.rounds[1], { ort: 3.3, egru: 1.1, int8: 0.5 });
  assert.deepEqual(
    r.overOrt.map((v) => v.toFixed(6)),
    ["3.000000", "3.000000", "3.000000"],
  );
  assert.deepEqual(r.int8Gain, [2, 2.2, 1.6]);
  assert.equal(medianOf(r.int8Gain), 2);
  assert.equal(medianOf([4, Number.NaN, 1, 3]), 3);
  assert.ok(Number.isNaN(medianOf([Number.NaN])));
  const [line] = stepRatioLines([r]);
  assert.equal(
    line,
    "1 thread(s), 3 rounds: EGRU 1.000 ms, int8 0.500 ms, onnxruntime 3.000 ms; onnxruntime ÷ EGRU 3.00× (3.00-3.00×), int8 2.00× the float32 step (1.60-2.20×)",
  );
  // a round without onnxruntime's row: NaN there, left out of the medians and ranges
  const [m] = stepRatios([round(3, 1, 0.5), round(3, 1, 0.4).slice(1)], what, [1]);
  assert.ok(Number.isNaN(m.overOrt[1]));
  assert.match(
    stepRatioLines([m])[0],
    /onnxruntime ÷ EGRU 3\.00× \(3\.00-3\.00×\), int8 2\.25× the float32 step \(2\.00-2\.50×\)$/,
  );
});

test("egruDenseGruRows cuts T to the training time budget and says so", async () => {
  const rows = await egruDenseGruRows({
    sizes: [4, 6],
    single: 0,
    steps: 3,
    warmup: 0,
    trainB: 2,
    trainT: 1000,
    trainSteps: 1,
    trainBudgetMs: 1e-6,
    egru: false,
    matmul: 0,
    progress: false,
  });
  const train = rows.find((r) => r.what.includes("train"))!;
  assert.match(train.what, /B=2 T=1000$/); // the workload named stays the BPTT length asked for
  assert.equal(train.T, 1);
  assert.match(train.note ?? "", /ran at T=1, cut from 1000/);
  assert.ok(Math.abs(train.tokensPerSecond! - 2 / (train.ms / 1000)) < 1e-6 * train.tokensPerSecond!);
});

test("pytorchRows: tiny sizes where python3-torch exists, [] with a message where it does not", async (t) => {
  assert.deepEqual(await pytorchRows({ python: "/nonexistent/python3", quiet: true }), []);
  if (!pythonHasTorch()) {
    t.skip("python3-torch not available: only the missing-interpreter path was checked");
    return;
  }
  const rows = await pytorchRows({ quick: true, threads: [1], quiet: true });
  assert.equal(rows.length, 4);
  for (const r of rows) {
    assertRow(r, "pytorch");
    assert.equal(typeof r.blas, "string");
  }
  assert.ok(rows.some((r) => r.tokensPerSecond! > 0));
  assert.ok(rows.some((r) => r.gflops! > 0));
});

test("egru's GRU equals onnxruntime on the exported LM stack (one step, within 1e-4)", async (t) => {
  if (!modelsPresent()) {
    t.skip("ONNX models not in bench/.cache/: export them with /usr/bin/python3 tools/export_onnx.py");
    return;
  }
  // the LM stack only (the single layer is checked by every bench run): it is the slow one to load
  const checks = await onnxCrossCheck({ allowExport: false, stacks: ["gru-lm"] });
  if (checks === null) {
    t.skip("onnxruntime-node not available");
    return;
  }
  assert.equal(checks.length, 1);
  for (const c of checks) {
    t.diagnostic(crossCheckLine(c));
    assert.ok(c.egruVsOrt <= CROSS_CHECK_TOLERANCE, crossCheckLine(c));
    assert.ok(c.ortVsTorch <= CROSS_CHECK_TOLERANCE, crossCheckLine(c));
    assert.ok(c.egruVsTorch <= CROSS_CHECK_TOLERANCE, crossCheckLine(c));
  }
  const rows = await onnxRows({ allowExport: false, models: ["gru-h1024"], threads: [1], steps: 5, warmup: 1 });
  assert.equal(rows.length, 1);
  assertRow(rows[0], "onnxruntime-node");
  assert.equal(rows[0].what, "GRU H=1024 step B=1");
});
