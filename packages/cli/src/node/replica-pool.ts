// Replicas of a classifier or a language model on worker threads (train/replicas.ts's interface;
// Node-only). Each worker (replica-worker.ts) builds the same model from its configuration on its
// own one-thread kernels; before each job the trainer's weights are copied into one shared buffer
// the workers read. Jobs go out as messages; the trainer then waits without returning to its event
// loop (Atomics.wait on a flag per worker, then receiveMessageOnPort), so the training loop stays
// synchronous. Blocked there, the trainer cannot hear a Worker's "error" or "exit" events, so each
// worker starts from a small bootstrap that, on any exit, records the exit code and the error that
// ended it in shared memory and wakes the trainer: a replica thread that stopped (a module that failed
// to load, an uncaught error) is a StateError naming the thread and that error, not a hang.

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

/** Bytes per worker for the message of the error that stopped it. */
const NOTE_BYTES = 1024;

/**
 * How a worker loads the replica module: replica-worker.js beside this file, or from the sources its
 * .ts through tsx (a worker does not inherit tsx's loader in Node 20, so it registers it first).
 */
function loadEntry(): string {
  if (!import.meta.url.endsWith(".ts"))
    return `import(${JSON.stringify(new URL("./replica-worker.js", import.meta.url).href)})`;
  const tsx = import.meta.resolve("tsx/esm/api");
  const entry = new URL("./replica-worker.ts", import.meta.url).href;
  return `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); })`;
}

/**
 * The worker's program: the exit watch, then `load` (an expression whose promise loads the module).
 * On exit it writes the error that ended the thread (uncaught, or the module's load) into its note,
 * then its exit code + 1 into `exits` and wakes whoever waits on its flag.
 */
export function workerProgram(load: string = loadEntry()): string {
  return `"use strict";
const { workerData } = require("node:worker_threads");
const exits = new Int32Array(workerData.exits);
const flags = new Int32Array(workerData.flags);
const slot = workerData.slot;
let note = "";
const fail = (e) => { note = String(e && e.message !== undefined ? e.message : e); process.exit(70); };
process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
process.on("exit", (code) => {
  const bytes = new TextEncoder().encode(note).subarray(0, ${NOTE_BYTES - 4});
  new Int32Array(workerData.notes, slot * ${NOTE_BYTES}, 1)[0] = bytes.length;
  new Uint8Array(workerData.notes, slot * ${NOTE_BYTES} + 4, bytes.length).set(bytes);
  Atomics.store(exits, slot, code + 1);
  Atomics.notify(flags, slot);
});
${load};
`;
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
  /** Per worker: 0 while it runs, its exit code + 1 once it has stopped; the message of the error that stopped it. */
  private readonly exits: Int32Array;
  private readonly notes: SharedArrayBuffer;
  /** Set once a replica thread has stopped: every later job fails with it. */
  private broken: Error | null = null;
  private readonly weights: Float32Array;
  private started = 0;
  /** Per worker, the shared buffer its jobs' inputs are written to (grown when a job needs more). */
  private readonly inputs: Float32Array[] = [];

  constructor(
    config: ClassifierConfig | LanguageModelConfig,
    parameters: number,
    count: number,
    kernels: Kernels,
    program: string = workerProgram(),
  ) {
    this.count = count;
    const flags = new SharedArrayBuffer(4 * Math.max(1, count));
    const exits = new SharedArrayBuffer(4 * Math.max(1, count));
    this.exits = new Int32Array(exits);
    this.notes = new SharedArrayBuffer(NOTE_BYTES * Math.max(1, count));
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
        exits,
        notes: this.notes,
        slot,
        port: port2,
      };
      const worker = new Worker(program, { eval: true, workerData, transferList: [port2] });
      worker.on("error", () => {}); // (its message reaches the trainer through the exit watch's note)
      worker.unref();
      this.workers.push({ worker, port: port1 });
    }
  }

  start(params: Param[], jobs: ReplicaJob[]): void {
    if (this.broken) throw this.broken;
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
      while (Atomics.load(this.flags, i) === 0 && Atomics.load(this.exits, i) === 0)
        Atomics.wait(this.flags, i, 0, 1000);
      if (Atomics.load(this.flags, i) === 0) {
        this.broken ??= this.stopped(i);
        error ??= this.broken;
        continue;
      }
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

  /** The error of a replica thread that stopped without answering. */
  private stopped(i: number): StateError {
    const length = new Int32Array(this.notes, i * NOTE_BYTES, 1)[0];
    const note = new TextDecoder().decode(new Uint8Array(this.notes, i * NOTE_BYTES + 4, length).slice());
    const code = Atomics.load(this.exits, i) - 1;
    return new StateError(
      `replica thread ${i + 1}`,
      "an answer to its job",
      `a thread that stopped (exit code ${code})${note ? `: ${note}` : ""}`,
    );
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
  /** The workers' program (workerProgram(); tests give one whose module fails). */
  program?: string,
): Replicas {
  return new ReplicaPool(config, parameters, count, kernels, program);
}
