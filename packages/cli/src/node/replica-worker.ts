// A worker thread holding one replica of a classifier or a language model (started by replica-pool.ts). For each job it
// reads the weights the trainer wrote into the shared weight buffer, runs the job with the very
// functions the trainer runs on its own thread (train/classifier-block.ts) and answers on its port:
// the job's result, or the error it raised (name, argument, expected, got), then raises its flag.

import type { MessagePort } from "node:worker_threads";
import { workerData } from "node:worker_threads";
import {
  beginGradGroups,
  chooseKernels,
  type ClassifierConfig,
  type ClipGroupSums,
  createModel,
  LanguageModel,
  type LanguageModelConfig,
  type SequenceClassifier,
  takeGradGroups,
} from "egru";
import { blockEvents, blockStep, evalBatch } from "../train/classifier-block.js";
import { flatten, unflatten } from "../train/grad-sum.js";
import { lmBlockStep } from "../train/lm-block.js";
import type { ReplicaJob, ReplicaResult } from "../train/replicas.js";

/** What replica-pool.ts hands a worker when it starts it. */
export interface ReplicaWorkerData {
  config: ClassifierConfig | LanguageModelConfig;
  kernels: "wasm" | "js";
  /** For WebAssembly kernels: the memory's largest size and the build (relaxed SIMD or not) of the trainer's. */
  maximumPages: number;
  relaxed: boolean;
  /** [parameters] float32, the model's values in params() order, written by the trainer before each job. */
  weights: SharedArrayBuffer;
  /** Int32 flags, one per worker: 1 once this worker's answer is on its port. */
  flags: SharedArrayBuffer;
  /** Written by the program's exit watch (replica-pool.ts workerProgram): exit code + 1 per worker, and the error's message. */
  exits: SharedArrayBuffer;
  notes: SharedArrayBuffer;
  slot: number;
  port: MessagePort;
}

/** A job as it travels: its input x [T, b, I] in the first inputLength floats of a shared buffer. */
export type WireJob =
  Exclude<ReplicaJob, { kind: "lm-step" }> extends infer J
    ? J extends ReplicaJob
      ? Omit<J, "x"> & { x: null; input: SharedArrayBuffer; inputLength: number }
      : never
    : never;

const data = workerData as ReplicaWorkerData;
const flags = new Int32Array(data.flags);
const weights = new Float32Array(data.weights);
const replica: Promise<SequenceClassifier | LanguageModel> = (async () => {
  const kernels =
    data.kernels === "js"
      ? await chooseKernels("js")
      : await chooseKernels("wasm", { maximumPages: data.maximumPages, relaxedSimd: data.relaxed });
  const model = createModel(data.config, { kernels }) as SequenceClassifier | LanguageModel;
  model.placeIn(kernels); // weights and gradients read in place, as the trainer's own model
  return model;
})();

/**
 * A training block (`block`, which leaves its gradients in the model), inside the cells' gradient
 * groups when `group`: its result, its gradients flat, and the groups' unclipped sums (null without).
 */
function withGradients<T>(
  model: SequenceClassifier | LanguageModel,
  group: boolean,
  block: () => T,
): { out: T; grads: Float32Array; groups: (ClipGroupSums | null)[] | null } {
  if (group) beginGradGroups(model.cells);
  let out: T;
  let groups: (ClipGroupSums | null)[] | null = null;
  try {
    out = block();
  } finally {
    if (group) groups = takeGradGroups(model.cells); // (also after an error: the replica stays usable)
  }
  return { out, grads: flatten(model.params(), "grad"), groups };
}

function run(
  model: SequenceClassifier | LanguageModel,
  job: ReplicaJob,
): { result: ReplicaResult; transfer: ArrayBuffer[] } {
  unflatten(model.params(), "value", weights);
  if (model instanceof LanguageModel) {
    if (job.kind !== "lm-step") throw new Error(`a language model's replica got a ${job.kind} job`);
    model.weightsChanged(); // (the decoder's copies of the tied weights)
    const { out, grads, groups } = withGradients(model, job.group, () =>
      lmBlockStep(model, job.input, job.target, job.T, job.state, job.scale, job.where, job.rng),
    );
    const transfer = [grads.buffer as ArrayBuffer, ...out.state.flat().map((a) => a.buffer as ArrayBuffer)];
    return { result: { kind: "lm-step", outcome: out.outcome, state: out.state, grads, groups }, transfer };
  }
  if (job.kind === "lm-step") throw new Error("a classifier's replica got a language model's job");
  switch (job.kind) {
    case "step": {
      const {
        out: outcome,
        grads,
        groups,
      } = withGradients(model, job.group, () =>
        blockStep(model, job.x, job.labels, job.T, job.part, job.where, job.rng),
      );
      return { result: { kind: "step", outcome, grads, groups }, transfer: [grads.buffer as ArrayBuffer] };
    }
    case "events":
      return {
        result: { kind: "events", ...blockEvents(model, job.x, job.T, job.b, job.where, job.rng) },
        transfer: [],
      };
    case "eval":
      return { result: { kind: "eval", outcome: evalBatch(model, job.x, job.labels, job.T) }, transfer: [] };
  }
}

data.port.on("message", async (wire: WireJob | Extract<ReplicaJob, { kind: "lm-step" }> | { kind: "quit" }) => {
  if (wire.kind === "quit") {
    data.port.close();
    return;
  }
  try {
    const job =
      wire.kind === "lm-step"
        ? wire
        : ({ ...wire, x: new Float32Array(wire.input, 0, wire.inputLength) } as unknown as ReplicaJob);
    const { result, transfer } = run(await replica, job);
    data.port.postMessage(result, transfer);
  } catch (e) {
    const err = e as Error & { argument?: unknown; expected?: unknown; got?: unknown };
    data.port.postMessage({
      kind: "error",
      name: String(err?.name ?? "Error"),
      message: String(err?.message ?? err),
      argument: err?.argument,
      expected: err?.expected,
      got: err?.got,
    });
  }
  Atomics.store(flags, data.slot, 1);
  Atomics.notify(flags, data.slot);
});
