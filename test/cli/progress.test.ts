// The progress display's ETA: the time-left formatter (never cli-progress's "LLs"/"NFs" for an
// unknown rate) and the smoother (a moving average weighted by units of work, steady under noisy
// batch times and variable-length BPTT segments).

import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { formatEta } from "../../packages/cli/src/run/format.js";
import { EtaSmoother } from "../../packages/cli/src/run/progress.js";

test("formatEta: whole seconds, minutes with seconds, hours with minutes; '--' while unknown", () => {
  assert.equal(formatEta(0), "0s");
  assert.equal(formatEta(44.6), "45s");
  assert.equal(formatEta(59.4), "59s");
  assert.equal(formatEta(59.6), "1m00s");
  assert.equal(formatEta(307), "5m07s");
  assert.equal(formatEta(3599.4), "59m59s");
  assert.equal(formatEta(3600), "1h00m");
  assert.equal(formatEta(2 * 3600 + 5 * 60 + 10), "2h05m");
  assert.equal(formatEta(3600 * 30), "30h00m");
  for (const unknown of [null, NaN, Infinity, -Infinity, -3]) {
    assert.equal(formatEta(unknown), "--", String(unknown));
  }
});

test("EtaSmoother: unknown before the second observation, exact for a steady rate", () => {
  const e = new EtaSmoother(100);
  assert.equal(e.remaining(0), null);
  e.observe(0, 10);
  assert.equal(e.remaining(0), null, "one observation gives no rate");
  e.observe(0, 12);
  assert.equal(e.remaining(0), null, "time without progress gives no rate");
  for (let v = 1; v <= 40; v++) e.observe(v, 12 + 0.5 * v);
  assert.ok(Math.abs(e.remaining(40)! - 30) < 0.01, `${e.remaining(40)}`);
  assert.equal(e.remaining(100), 0);
  assert.equal(e.remaining(120), 0, "never negative");
});

test("EtaSmoother: noisy step times give an estimate that does not jump", () => {
  // steps of 1 s ± 60 %: a per-step estimate would swing by more than a factor of 2 between steps
  const rng = new Rng(5);
  const total = 2000;
  const e = new EtaSmoother(total);
  let t = 0;
  e.observe(0, t);
  const etas: number[] = [];
  for (let v = 1; v <= total / 2; v++) {
    t += 1 + 0.6 * (2 * rng.uniform() - 1);
    e.observe(v, t);
    if (v >= 100) etas.push(e.remaining(v)! / (total - v));
  }
  const jumps = etas.slice(1).map((x, i) => Math.abs(x / etas[i] - 1));
  assert.ok(
    Math.max(...jumps) < 0.03,
    `from one step to the next the estimate moves by less than 3 %: ${Math.max(...jumps)}`,
  );
  const lo = Math.min(...etas);
  const hi = Math.max(...etas);
  assert.ok(hi / lo < 1.3, `the seconds per step estimate stays within 30 %: ${lo.toFixed(3)}..${hi.toFixed(3)}`);
  assert.ok(Math.abs(etas[etas.length - 1] - 1) < 0.15, `and near the true 1 s per step: ${etas[etas.length - 1]}`);
});

test("EtaSmoother: steps of varying size are weighed by their units (BPTT segments by tokens)", () => {
  // the same rate (0.01 s per token) in segments of 5 and 70 tokens alternately
  const e = new EtaSmoother(10_000);
  let v = 0;
  let t = 0;
  e.observe(v, t);
  for (let i = 0; i < 60; i++) {
    const T = i % 2 === 0 ? 5 : 70;
    v += T;
    t += 0.01 * T;
    e.observe(v, t);
    assert.ok(Math.abs(e.remaining(v)! - 0.01 * (10_000 - v)) < 1e-6, `step ${i}: ${e.remaining(v)}`);
  }
});

test("EtaSmoother: adapts when the rate really changes, and restarts when the value goes back", () => {
  const e = new EtaSmoother(1000, 20);
  let t = 0;
  for (let v = 0; v <= 200; v++) e.observe(v, (t = v * 1));
  for (let v = 201; v <= 400; v++) e.observe(v, (t += 2));
  assert.ok(Math.abs(e.remaining(400)! / 600 - 2) < 0.01, `${e.remaining(400)! / 600}`);
  e.observe(0, t + 1); // a new bar over the same work
  e.observe(10, t + 11);
  assert.ok(e.remaining(10)! > 0);
});
