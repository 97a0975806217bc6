// What the PyTorch-bridge suites (test/bridge/) share: running tools/egru_pytorch.py with Debian's
// python3-torch, egru's own logits and event counts for the same inputs, and the one comparison.
//
// The comparison, and why it is well-posed: egru's forward pointwise math is float32 with polynomial
// exp/tanh (within 2–3 ulp), PyTorch's float32 exp/tanh differ from those by ulps, so the internal
// states differ by ~1e-7 relative. An event o = [c − ϑ > 0] can only come out differently where
// |c − ϑ| is that small. The Python side reports, per EGRU layer, the smallest |c − ϑ| it saw; each
// comparison first asserts it is at least MARGIN (1e-4, three orders above the state differences),
// and only then asserts identical event counts per layer and logits within 1e-5 of the largest
// logit's magnitude (elementwise relative error is not meaningful for logits near 0). Nothing is
// loosened: inputs whose margin is too small are redrawn from the next seed (wellPosedTorchOutputs,
// as tools/gen_fixtures.py redraws its cases), choosing on the PyTorch side alone.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeSafetensors, type Model, type Tensor } from "../packages/egru/src/index.js";
import { ROOT } from "./helpers.js";

export const PYTHON = "/usr/bin/python3";
export const TOOL = join(ROOT, "tools", "egru_pytorch.py");
export const CONVERTER = join(ROOT, "tools", "evnn_to_safetensors.py");
/** The smallest |c − ϑ| that makes the event comparison well-posed (see the header). */
export const MARGIN = 1e-4;
/** Logits agree within this fraction of the largest logit's magnitude. */
export const LOGIT_TOLERANCE = 1e-5;

export const tmp = (): string => mkdtempSync(join(tmpdir(), "egru-bridge-"));

/** Run a Python tool; a failure shows its stderr. */
export function python(args: string[]): string {
  try {
    return execFileSync(PYTHON, args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${PYTHON} ${args.join(" ")} failed (it needs python3-torch): ${err.stderr ?? err.message}`);
  }
}

export interface Outputs {
  logits: ArrayLike<number>;
  /** Per layer: EGRU events (o = 1), null for GRU/LSTM. */
  events: (number | null)[];
  /** Per layer (PyTorch side): the smallest |c − ϑ|, null for GRU/LSTM. */
  margins?: (number | null)[];
}

/** tools/egru_pytorch.py run on a config and weights, with inputs x [T, B, I] or tokens [T, B]. */
export function torchOutputs(config: string, weights: string, input: Record<string, Tensor>): Outputs {
  const dir = tmp();
  const inputs = join(dir, "inputs.safetensors");
  writeFileSync(inputs, encodeSafetensors(input));
  const out = JSON.parse(python([TOOL, "run", "--config", config, "--weights", weights, "--inputs", inputs])) as {
    logits: number[];
    layers: ({ events: number; margin: number } | null)[];
  };
  return {
    logits: out.logits,
    events: out.layers.map((l) => l?.events ?? null),
    margins: out.layers.map((l) => l?.margin ?? null),
  };
}

/**
 * PyTorch's outputs on the first input `draw(seed)` (seed = 0, 1, …) whose every EGRU layer keeps
 * |c − ϑ| ≥ MARGIN, so that both sides must make the same event decisions; that input with them.
 */
export function wellPosedTorchOutputs(
  config: string,
  weights: string,
  draw: (seed: number) => Record<string, Tensor>,
): { input: Record<string, Tensor>; torch: Outputs } {
  for (let seed = 0; seed < 20; seed++) {
    const input = draw(seed);
    const torch = torchOutputs(config, weights, input);
    if ((torch.margins ?? []).every((m) => m === null || m >= MARGIN)) return { input, torch };
  }
  throw new Error(`${weights}: no input of 20 seeds keeps every |c − ϑ| ≥ ${MARGIN}`);
}

/** egru's logits and events per layer for x [T, B, I] (classifier) or tokens [T, B] (language model), in evaluation mode. */
export function egruOutputs(model: Model, input: ArrayLike<number>, T: number, B: number): Outputs {
  model.eval();
  if ("decoder" in model) {
    const run = model.forward(input, T, B);
    return { logits: run.logits, events: run.saved.runs.map((r) => (r.o ? r.stats.events : null)) };
  }
  const run = model.forward(Float32Array.from(input), T, B);
  return { logits: run.logits, events: run.runs.map((r) => (r.o ? r.stats.events : null)) };
}

/** Assert the two agree as the header says; returns the measured max |Δlogit| / max |logit|. */
export function assertAgree(egru: Outputs, torch: Outputs, what: string): number {
  for (const [l, m] of (torch.margins ?? []).entries())
    if (m !== null)
      assert.ok(
        m >= MARGIN,
        `${what}: layer ${l}'s nearest event decision is ${m} from its threshold, under ${MARGIN}: the comparison is not well-posed for these inputs`,
      );
  assert.deepEqual(egru.events, torch.events, `${what}: events per layer`);
  assert.equal(egru.logits.length, torch.logits.length, `${what}: number of logits`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < egru.logits.length; i++) {
    diff = Math.max(diff, Math.abs(egru.logits[i] - torch.logits[i]));
    scale = Math.max(scale, Math.abs(torch.logits[i]));
  }
  const rel = diff / scale;
  assert.ok(rel <= LOGIT_TOLERANCE, `${what}: logits differ by ${diff} of ${scale} (${rel} relative)`);
  return rel;
}
