// fit(): the training loop of the model API, asynchronous so that a browser page stays responsive:
// after every optimizer step it yields to the event loop with a macrotask (a MessageChannel
// message, else setTimeout 0), so input, rendering and timers run between batches.
//   classifier  data { x [N, T, I], labels [N], T }: each epoch a seeded shuffle, batches of batchSize
//   LM          data { tokens }: batchSize parallel streams, segments of bptt steps, the state
//               carried from segment to segment (detached) and reset at each epoch
// Validation: with validationData, each epoch ends with an evaluation (LM: perplexity, lower is
// better; classifier: accuracy, higher is better) that the plateau schedule decays on and earlyStop
// stops on (optim/validation-watch.ts); both need validationData.
// Placement: before the first step fit puts the model's weights and gradients in its kernels' memory
// (model.placeIn; WebAssembly kernels), as egru train does, so products, the optimizer and clipping
// read them in place: the same bits, new arrays (placeWeights: false leaves them where they are).
// Stopping: when options.signal is aborted, fit finishes the current step and RESOLVES with
// { aborted: true } (it does not reject); the weights are those after the last finished step.

import { StateError, ValueError } from "../core/errors.js";
import { Rng } from "../core/rng.js";
import { checkPositiveInt } from "../core/validate.js";
import type { SequenceClassifier } from "../nn/classifier.js";
import type { LanguageModel, LmState } from "../nn/language-model.js";
import { Optimizer, type OptimizerConfig } from "../optim/optimizer.js";
import { learningRate, type ScheduleConfig } from "../optim/schedule.js";
import { ValidationWatch } from "../optim/validation-watch.js";
import type { Network } from "./model-state.js";
import { checkSequenceData, gatherBatch, gatherLabels, segments, type SequenceData, type TokenData } from "./data.js";
import { batchify, segment } from "./lm-batches.js";
import { evaluateClassifier, evaluateLanguageModel, type ClassifierEvaluation, type LmEvaluation } from "./evaluate.js";
import { classifierStep, languageModelStep, type StepSettings } from "./train-step.js";
import { weightFormatOf } from "./int8-network.js";

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  /** An Optimizer (its state carries over between fit calls) or a configuration. Default Adam. */
  optimizer?: Optimizer | OptimizerConfig;
  /** Base learning rate (default 1e-3) and its schedule (default constant). */
  lr?: number;
  schedule?: ScheduleConfig;
  /** Global gradient-norm clipping (default 0: none). */
  clip?: number;
  /** Classifier: shuffle the examples every epoch (default true), with this seed (default 0). */
  shuffle?: boolean;
  seed?: number;
  /** LM: segment length (default 35). */
  bptt?: number;
  /** Evaluated after every epoch (same kind of data as the training data). */
  validationData?: SequenceData | TokenData;
  /** Stop once validation has not improved for this many epochs (default 0: never; needs validationData). */
  earlyStop?: number;
  /** Validation improves (for earlyStop, the plateau schedule) only when better than the best by more than this fraction (default 0). */
  minImprovement?: number;
  /**
   * Put the weights and gradients in the kernels' memory before the first step (default true: the
   * same bits, faster; the model's arrays are new afterwards, read them through the model).
   */
  placeWeights?: boolean;
  onStep?: (info: FitStepInfo) => void;
  onEpoch?: (info: FitEpochInfo) => void;
  signal?: AbortSignal;
}

export interface FitStepInfo {
  epoch: number;
  /** Optimizer steps so far (this one included) and batches per epoch. */
  step: number;
  batch: number;
  batches: number;
  loss: number;
  gradNorm: number;
  lr: number;
  /** Classifier: this batch's accuracy. */
  accuracy?: number;
}

export interface FitEpochInfo {
  epoch: number;
  /** Mean training loss (and accuracy: classifier) over the epoch. */
  loss: number;
  accuracy?: number;
  validation?: ClassifierEvaluation | LmEvaluation;
}

export interface FitResult {
  /** True when options.signal stopped training early. */
  aborted: boolean;
  steps: number;
  history: FitEpochInfo[];
  /** Set when earlyStop ended training: the last epoch run and the best one (1-based). */
  stoppedEarly?: { epoch: number; bestEpoch: number };
}

/** Resolve on the next macrotask (not a microtask: the page gets to run). */
export function nextMacrotask(): Promise<void> {
  if (typeof MessageChannel === "function") {
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      const port = ch.port1 as unknown as { onmessage: (() => void) | null; close(): void }; // the web's MessagePort (Node's has it too)
      port.onmessage = () => {
        port.close();
        resolve();
      };
      ch.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** One epoch's batches: a function running batch k and returning its loss (and correct count). */
interface EpochPlan {
  batches: number;
  run(k: number, s: StepSettings): { loss: number; gradNorm: number; correct?: number; count: number };
}

function classifierPlan(
  model: SequenceClassifier,
  data: SequenceData,
  bs: number,
  seed: number | null,
  epoch: number,
): EpochPlan {
  const I = model.options.inputSize;
  const n = checkSequenceData(data, I);
  const order =
    seed === null ? Int32Array.from({ length: n }, (_, k) => k) : new Rng(seed * 1_000_003 + epoch).permutation(n);
  return {
    batches: Math.ceil(n / bs),
    run(k, s) {
      const idx = order.subarray(k * bs, Math.min(n, (k + 1) * bs));
      const r = classifierStep(model, gatherBatch(data.x, data.T, I, idx), gatherLabels(data.labels, idx), data.T, s);
      return { ...r, count: idx.length };
    },
  };
}

function lmPlan(model: LanguageModel, data: TokenData, bs: number, bptt: number): EpochPlan {
  const streams = batchify(data.tokens, bs, "batchSize");
  const segs = segments(streams, bptt);
  let state: LmState | null = null;
  return {
    batches: segs.length,
    run(k, s) {
      const [i, T] = segs[k];
      const seg = segment(streams, i, T);
      const r = languageModelStep(model, seg.input, seg.target, T, state, s);
      state = r.state ?? null;
      return { ...r, count: T * bs };
    },
  };
}

export async function fit(model: Network, data: SequenceData | TokenData, opts: FitOptions = {}): Promise<FitResult> {
  const epochs = opts.epochs ?? 1;
  const bs = opts.batchSize ?? 32;
  checkPositiveInt("epochs", epochs);
  checkPositiveInt("batchSize", bs);
  if (weightFormatOf(model) === "int8")
    throw new StateError(
      "fit",
      "a model with float32 weights",
      "one with int8 weights, which are for inference only (fit the float32 model, then quantize it)",
    );
  const isLm = "decoder" in model;
  if (isLm !== "tokens" in data)
    throw new ValueError(
      "data",
      isLm ? "{ tokens } for a language model" : "{ x, labels, T } for a classifier",
      Object.keys(data).join(", "),
    );
  if (opts.placeWeights !== false) model.placeIn(model.kernels);
  const optimizer =
    opts.optimizer instanceof Optimizer ? opts.optimizer : new Optimizer(opts.optimizer ?? { kind: "adam" });
  const schedule = opts.schedule ?? { kind: "constant" };
  const watch = new ValidationWatch(isLm ? "min" : "max", opts.earlyStop ?? 0, opts.minImprovement ?? 0);
  const v = opts.validationData;
  if (!v && (watch.earlyStop > 0 || schedule.kind === "plateau"))
    throw new ValueError(
      watch.earlyStop > 0 ? "earlyStop" : "schedule",
      "validationData to watch",
      "no validationData",
    );
  const history: FitEpochInfo[] = [];
  let step = 0;
  for (let epoch = 0; epoch < epochs; epoch++) {
    const plan =
      "decoder" in model
        ? lmPlan(model, data as TokenData, bs, opts.bptt ?? 35)
        : classifierPlan(model, data as SequenceData, bs, opts.shuffle === false ? null : (opts.seed ?? 0), epoch);
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    for (let k = 0; k < plan.batches; k++) {
      if (opts.signal?.aborted) return { aborted: true, steps: step, history };
      const lr = learningRate(opts.lr ?? 1e-3, schedule, epoch, step, epochs, watch.state.decays);
      const r = plan.run(k, {
        optimizer,
        lr,
        clip: opts.clip ?? 0,
        where: `step ${step + 1} (epoch ${epoch + 1}, batch ${k + 1})`,
      });
      step++;
      lossSum += r.loss * r.count;
      correct += r.correct ?? 0;
      seen += r.count;
      opts.onStep?.({
        epoch,
        step,
        batch: k,
        batches: plan.batches,
        loss: r.loss,
        gradNorm: r.gradNorm,
        lr,
        ...(r.correct !== undefined ? { accuracy: r.correct / r.count } : {}),
      });
      await nextMacrotask();
    }
    const info: FitEpochInfo = { epoch, loss: lossSum / seen, ...(isLm ? {} : { accuracy: correct / seen }) };
    if (v && "decoder" in model) {
      const e = evaluateLanguageModel(model, v as TokenData, { batchSize: bs, bptt: opts.bptt });
      info.validation = e;
      watch.observe(e.perplexity, epoch + 1, schedule);
    } else if (v && "head" in model) {
      const e = evaluateClassifier(model, v as SequenceData, { batchSize: bs });
      info.validation = e;
      watch.observe(e.accuracy, epoch + 1, schedule);
    }
    history.push(info);
    opts.onEpoch?.(info);
    const early = watch.stoppedAfter(epoch + 1);
    if (early) return { aborted: false, steps: step, history, stoppedEarly: early };
  }
  return { aborted: false, steps: step, history };
}
