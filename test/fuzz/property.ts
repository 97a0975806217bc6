// The fuzz suites' property: every case of a format (harness.ts) ends in a valid result or a typed
// error naming the damaged file, never in a crash, a hang, unbounded memory or garbage accepted.
// Seeded (FUZZ_SEED), so a failure reproduces; fast-check's report gives the seed, the path and the
// shrunk case.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { FAILURES, type FuzzFormat, FuzzRun, fuzzCases, type Outcome } from "./harness.js";

export const FUZZ_SEED = 20261203;

/** Run `runs` cases of `format`; returns how many ended in each outcome. */
export function checkFormat(format: FuzzFormat, runs: number): Record<Outcome, number> {
  const run = new FuzzRun(format);
  const counts: Record<Outcome, number> = { valid: 0, typed: 0, unnamed: 0, crash: 0, hang: 0, memory: 0, garbage: 0 };
  try {
    fc.assert(
      fc.property(fuzzCases(format), (c) => {
        const v = run.run(c);
        counts[v.outcome]++;
        if (FAILURES.includes(v.outcome)) throw new Error(`${format.name}: ${v.outcome}: ${v.detail}`);
      }),
      { seed: FUZZ_SEED, numRuns: runs },
    );
  } finally {
    run.dispose();
  }
  // the damage bites: most cases end in a typed error, and the intact-looking ones read
  assert.ok(counts.typed > runs / 3, `${format.name}: only ${counts.typed} typed errors in ${runs} cases`);
  return counts;
}

/** Run `f` in a new temporary directory, removed afterwards (the suites' regression examples). */
export function inTempDir(f: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "egru-fuzz-"));
  try {
    f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
