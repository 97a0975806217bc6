// Replicas of a classifier or a language model on worker threads (train/replicas.ts's interface;
// Node-only). Each worker (replica-worker.ts) builds the same model from its configuration on its
// own one-thread kernels; before each job the trainer's weights are copied into one shared buffer
// the workers read. Jobs go out as messages; the trainer then waits without returning to its event
// loop (Atomics.wait on a flag per worker, then receiveMessageOnPort), so the training loop stays
// synchronous.

import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import {
  type ClassifierConfig,
  type LanguageModelConfig,
  EgruError,
  type Kernels,
  NonFiniteError,
  type Param,
  ShapeError,
  StateError,
  ValueError,
} from "egru";
import type { WasmKernels } from "egru";
import { flatten } from "../train/grad-sum.js";
import type { ReplicaJob, ReplicaResult, Replicas } from "../train/replicas.js";
import { NODE_WASM_PAGES } from "./memory-limits.js";
import type { ReplicaWorkerData, WireJob } from "./replica-worker.js";

/** The worker's program beside this file: replica-worker.js, or from the sources its .ts through tsx. */
function workerProgram(): { program: string | URL; eval: boolean } {
  if (!import.meta.url.endsWith(".ts"))
    return { program: new URL("./replica-worker.js", import.meta.url), eval: false };
  // running from the sources (tsx): a worker does not inherit tsx's loader in Node 20, so it registers it first
  const tsx = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./replica-worker.ts", import.meta.url).href;
  return {
    program: `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`,
    eval: true,
  };
}

const ERRORS: Record<string, new (argument: string, expected: string, got: string) => EgruError> = {
  NonFiniteError,
  ValueError,
  ShapeError,
  StateError,
};

/** An error a replica reported, raised again here as the same kind. */
function raised(e: { name: string; message: string; argument?: string; expected?: string; got?: string }): Error {
  const Kind = ERRORS[e.name];
  if (Kind && e.argument !== undefined && e.expected !== undefined && e.got !== undefined)
    return new Kind(e.argument, e.expected, e.got);
  return new Error(`in a replica thread: ${e.message}`);
}

class ReplicaPool implements Replicas {
  readonly count: number;
  private readonly workers: { worker: Worker; port: MessagePort }[] = [];
  private readonly flags: Int32Array;
  private readonly weights: Float32Array;
  private started = 0;
  /** Per worker, the shared buffer its jobs' inputs are written to (grown when a job needs more). */
  private readonly inputs: Float32Array[] = [];

  constructor(config: ClassifierConfig | LanguageModelConfig, parameters: number, count: number, kernels: Kernels) {
    this.count = count;
    const flags = new SharedArrayBuffer(4 * Math.max(1, count));
    const weights = new SharedArrayBuffer(4 * Math.max(1, parameters));
    this.flags = new Int32Array(flags);
    this.weights = new Float32Array(weights, 0, parameters);
    const wasm = (kernels as Partial<WasmKernels>).wasm;
    for (let slot = 0; slot < count; slot++) {
      const { port1, port2 } = new MessageChannel();
      const workerData: ReplicaWorkerData = {
        config,
        kernels: wasm ? "wasm" : "js",
        maximumPages: NODE_WASM_PAGES,
        relaxed: wasm?.relaxed ?? false,
        weights,
        flags,
        slot,
        port: port2,
      };
      const { program, eval: isEval } = workerProgram();
      const worker = new Worker(program, { eval: isEval, workerData, transferList: [port2] });
      worker.unref();
      this.workers.push({ worker, port: port1 });
    }
  }

  start(params: Param[], jobs: ReplicaJob[]): void {
    if (this.started) throw new StateError("replicas.start", "the previous jobs finished", "jobs still out");
    if (jobs.length > this.count)
      throw new StateError("replicas.start", `at most ${this.count} jobs`, String(jobs.length));
    flatten(params, "value", this.weights);
    jobs.forEach((job, i) => {
      Atomics.store(this.flags, i, 0);
      // a classifier job's input goes through the slot's shared buffer (a structured clone of a DVS
      // batch's megabytes cost the worker as long as a third of its block); token ids travel as they are
      let wire: WireJob | ReplicaJob = job;
      if (job.kind !== "lm-step") {
        const x = this.input(i, job.x.length);
        x.set(job.x);
        wire = { ...job, x: null, input: x.buffer as SharedArrayBuffer, inputLength: job.x.length };
      }
      this.workers[i].port.postMessage(wire);
    });
    this.started = jobs.length;
  }

  /** Worker i's input buffer, at least n floats. */
  private input(i: number, n: number): Float32Array {
    if ((this.inputs[i]?.length ?? -1) < n)
      this.inputs[i] = new Float32Array(new SharedArrayBuffer(4 * Math.max(1, n)));
    return this.inputs[i].subarray(0, n);
  }

  finish(): ReplicaResult[] {
    const n = this.started;
    this.started = 0;
    const out: ReplicaResult[] = [];
    let error: Error | null = null;
    for (let i = 0; i < n; i++) {
      while (Atomics.load(this.flags, i) === 0) Atomics.wait(this.flags, i, 0, 1000);
      const msg = receiveMessageOnPort(this.workers[i].port)?.message as
        | ReplicaResult
        | { kind: "error"; name: string; message: string }
        | undefined;
      if (!msg) error ??= new Error("a replica thread raised its flag without an answer");
      else if (msg.kind === "error") error ??= raised(msg);
      else out.push(msg);
    }
    if (error) throw error;
    return out;
  }

  async close(): Promise<void> {
    for (const { port } of this.workers) port.postMessage({ kind: "quit" });
    await Promise.all(this.workers.map(({ worker }) => worker.terminate()));
    this.workers.length = 0;
  }
}

/**
 * `count` replicas of the model (classifier or language model) of configuration `config` (with
 * `parameters` values in all) on worker threads, each on its own one-thread copy of `kernels`
 * (WebAssembly of the same build, or the TypeScript kernels).
 */
export function createReplicaPool(
  config: ClassifierConfig | LanguageModelConfig,
  parameters: number,
  count: number,
  kernels: Kernels,
): Replicas {
  return new ReplicaPool(config, parameters, count, kernels);
}
