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
//
// Training (tools/pytorch_train_step.py): gradients from torch.autograd and egru's backward for the
// same upstream gradient at the logits, both under the PyTorch names, compared tensor by tensor
// within 1e-5 of each tensor's largest gradient (same events: the inputs are chosen as above).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  decodeSafetensors,
  encodeSafetensors,
  type LanguageModelConfig,
  type Model,
  pytorchStateDict,
  Rng,
  type StateDict,
  type Tensor,
} from "../packages/egru/src/index.js";
import { ROOT } from "./helpers.js";

export const PYTHON = "/usr/bin/python3";
export const TOOL = join(ROOT, "tools", "egru_pytorch.py");
export const CONVERTER = join(ROOT, "tools", "evnn_to_safetensors.py");
export const TRAIN_TOOL = join(ROOT, "tools", "pytorch_train_step.py");
/** The smallest |c − ϑ| that makes the event comparison well-posed (see the header). */
export const MARGIN = 1e-4;
/** Logits agree within this fraction of the largest logit's magnitude. */
export const LOGIT_TOLERANCE = 1e-5;
/** Gradients agree within this fraction of their tensor's largest gradient. */
export const GRAD_TOLERANCE = 1e-5;

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

/** Write `input` as an inputs safetensors file (for tools/egru_pytorch.py and tools/pytorch_train_step.py). */
export function inputsFile(input: Record<string, Tensor>): string {
  const file = join(tmp(), "inputs.safetensors");
  writeFileSync(file, encodeSafetensors(input));
  return file;
}

/** The tensors of a safetensors file. */
export const readTensors = (file: string): StateDict => decodeSafetensors(readFileSync(file), file).tensors;

/** tools/pytorch_train_step.py grad: every trainable parameter's gradient under its PyTorch name. */
export function torchGradients(config: string, weights: string, input: Record<string, Tensor>): StateDict {
  const out = join(tmp(), "grads.safetensors");
  python([TRAIN_TOOL, "grad", "--config", config, "--weights", weights, "--inputs", inputsFile(input), "--out", out]);
  return readTensors(out);
}

/** A random upstream gradient for `n` logits. */
export const randomDlogits = (n: number, seed: number): Float32Array => {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.normal(0, 1));
};

/**
 * egru's backward for the upstream gradient `dlogits` at the logits of x [T, B, I] (classifier) or
 * tokens [T, B] (language model), in training mode (the models tested have no dropout): every
 * parameter's gradient under its PyTorch name (the state dict of the model with its gradients as
 * weights; the layouts are linear maps), and each layer's clip factor (EGRU's clip inside backward).
 */
export function egruGradients(
  model: Model,
  input: ArrayLike<number>,
  T: number,
  B: number,
  dlogits: Float32Array,
): { grads: StateDict; clipScales: (number | null)[] } {
  model.train();
  model.zeroGrad();
  let layers: { clipScale: number | null }[];
  if ("decoder" in model) {
    const run = model.forward(input, T, B);
    model.backward(run, dlogits);
    model.release(run);
    layers = run.layers;
  } else {
    const run = model.forward(Float32Array.from(input), T, B);
    model.backward(run, dlogits);
    model.release(run);
    layers = run.layers;
  }
  const params = model.params();
  const weights = params.map((p) => p.value.slice());
  try {
    for (const p of params) p.value.set(p.grad);
    return { grads: pytorchStateDict(model), clipScales: layers.map((l) => l.clipScale) };
  } finally {
    for (const [i, p] of params.entries()) p.value.set(weights[i]);
    if ("decoder" in model) model.weightsChanged();
  }
}

/** Every tensor of `torch` against `egru`'s, within tolerance × the tensor's largest |value|; returns the worst ratio. */
export function assertTensorsClose(egru: StateDict, torch: StateDict, tolerance: number, what: string): number {
  let worst = 0;
  for (const [name, t] of Object.entries(torch)) {
    const e = egru[name];
    assert.ok(e, `${what}: egru has no ${name}`);
    assert.deepEqual(e.shape, t.shape, `${what}: ${name}: shape`);
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < t.data.length; i++) {
      diff = Math.max(diff, Math.abs(e.data[i] - t.data[i]));
      scale = Math.max(scale, Math.abs(t.data[i]));
    }
    const rel = scale > 0 ? diff / scale : diff;
    assert.ok(rel <= tolerance, `${what}: ${name} differs by ${diff} of ${scale} (${rel} relative)`);
    worst = Math.max(worst, rel);
  }
  return worst;
}

const biasRng = new Rng(11);

/** The model with every bias drawn (fresh models have zero biases, which would hide a bias's name or order). */
export function withBiases<M extends Model>(m: M): M {
  const dict = m.stateDict();
  for (const [name, t] of Object.entries(dict))
    if (/bias/.test(name) && !name.startsWith("decoder.weight"))
      t.data.forEach((_, i) => (t.data[i] = biasRng.normal(0, 0.2)));
  m.loadStateDict(dict);
  return m;
}

/** A small three-layer EGRU language model (E 8, H 12) of `vocab` words with these EGRU options. */
export const smallLmConfig = (vocab: number, egru: LanguageModelConfig["egru"]): LanguageModelConfig => ({
  type: "language-model",
  cell: "egru",
  vocab,
  embedding: 8,
  hidden: 12,
  layers: 3,
  seed: 2,
  egru,
});

/** EvNN's fixed scalars of an EGRU layer: not trained, carried through a step unchanged. */
export const EVNN_CONSTANT = /\.(dampening_factor|pseudo_derivative_support|_max_norm)$/;

/** Largest |a − b| over two tensors of the same shape. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
  return d;
}

/** tools/pytorch_train_step.py step: one optimizer step on `batch`, the state dict saved to `out` (.pt or .safetensors). */
export function torchStep(
  config: string,
  weights: string,
  batch: Record<string, Tensor>,
  o: { optimizer: string; lr: number; out: string; processes?: number },
): { loss: number; grad_norm: number } {
  const args = ["--optimizer", o.optimizer, "--lr", String(o.lr), "--processes", String(o.processes ?? 1)];
  const files = ["--config", config, "--weights", weights, "--inputs", inputsFile(batch), "--out", o.out];
  const out = python([TRAIN_TOOL, "step", ...files, ...args]);
  const step = JSON.parse(out) as { loss: number; grad_norm: number };
  assert.ok(Number.isFinite(step.loss) && step.grad_norm > 0, `PyTorch's step: ${out}`);
  return step;
}

/** A tiny PTB-named corpus in a new directory (every word in the training file); its vocabulary size with <eos>. */
export function tinyCorpus(rng: Rng): { data: string; vocab: number } {
  const data = tmp();
  const words = "the cat sat on a mat and the dog ran far away from it".split(" ");
  const line = (): string => Array.from({ length: 6 }, () => words[rng.int(words.length)]).join(" ");
  const text = (n: number): string => `${Array.from({ length: n }, line).join("\n")}\n`;
  writeFileSync(join(data, "ptb.train.txt"), `${words.join(" ")}\n${text(30)}`);
  writeFileSync(join(data, "ptb.valid.txt"), text(8));
  writeFileSync(join(data, "ptb.test.txt"), text(8));
  return { data, vocab: new Set(words).size + 1 };
}
