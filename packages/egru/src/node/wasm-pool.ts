// A pool of worker threads that call exports of one WebAssembly module on one shared memory.
// Node-only (worker_threads); the browser runs the same kernels on the main thread.
//
// Each worker instantiates the same compiled module against the same shared WebAssembly.Memory,
// so a kernel call in a worker reads and writes the caller's arrays in place. A parallel call is
// a list of tasks (export name + numeric arguments, usually pointers into the memory and the
// sizes of one block of rows); task 0 runs on the calling thread, task i on worker i − 1; each
// task's return value comes back to the caller. Blocks are disjoint and every output element is
// computed by exactly one task in the same order as a single-threaded call would, so results do
// not depend on the number of threads.
//
// Dispatch uses Atomics on a small control buffer (no message passing per call): the caller
// writes a task, flips the worker's flag and notifies; after a task the worker spins for a while
// (idleSpinMs), then sleeps in Atomics.wait.

import { Worker } from "node:worker_threads";

/** One export call: the export's name and its arguments (numbers only). */
export interface WasmTask {
  fn: string;
  args: number[];
}

const MAX_ARGS = 40;
// Int32 words per worker: flag, fn index, argc, ok, then the args and the return value as f64 (2 words each)
const SLOT = 4 + 2 * MAX_ARGS + 2;
const RESULT = 2 + MAX_ARGS; // the return value's f64 index within a slot
const IDLE = 0;
const READY = 1;
const DONE = 2;
const QUIT = 3;
const DEFAULT_SPIN = 200_000;
const DEFAULT_IDLE_SPIN_MS = 30;

// The worker's program, plain JavaScript so it runs the same from sources and from the build.
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { module, memory, control, names, slot, maxArgs, idleSpinMs } = workerData;
const ctrl = new Int32Array(control);
const f64 = new Float64Array(control);
const base = slot * ${SLOT};
const imports = { env: { memory, abort() { throw new Error("wasm abort"); }, seed: () => 0 } };
const instance = new WebAssembly.Instance(module, imports);
const fns = names.map((n) => instance.exports[n]);
for (;;) {
  let flag = Atomics.load(ctrl, base);
  const until = performance.now() + idleSpinMs;
  while (flag !== ${READY} && flag !== ${QUIT}) {
    for (let i = 0; i < 1000 && flag !== ${READY} && flag !== ${QUIT}; i++) flag = Atomics.load(ctrl, base);
    if (performance.now() > until) break;
  }
  while (flag !== ${READY} && flag !== ${QUIT}) {
    Atomics.wait(ctrl, base, flag);
    flag = Atomics.load(ctrl, base);
  }
  if (flag === ${QUIT}) break;
  const fn = fns[ctrl[base + 1]];
  const argc = ctrl[base + 2];
  const a = [];
  for (let i = 0; i < argc; i++) a.push(f64[base / 2 + 2 + i]);
  let ok = 1;
  let ret = 0;
  try { ret = Number(fn(...a) ?? 0); } catch (e) { ok = 0; }
  f64[base / 2 + ${RESULT}] = ret;
  ctrl[base + 3] = ok;
  Atomics.store(ctrl, base, ${DONE});
  Atomics.notify(ctrl, base);
}
`;

export interface WasmPoolOptions {
  /** Total threads including the calling one (≥ 1). */
  threads: number;
  /** A compiled WebAssembly.Module importing `env.memory`. */
  module: object;
  /** The shared WebAssembly.Memory the calling thread's instance uses. */
  memory: object;
  /** The export names tasks may call. */
  exports: string[];
  /**
   * Busy-wait iterations (several nanoseconds each) before the caller waiting for a worker sleeps.
   * Default 200000.
   */
  spin?: number;
  /**
   * Milliseconds a worker keeps spinning after a task before it sleeps. Streaming inference calls the
   * pool every few tens of microseconds and a training step every few hundred; a worker that slept
   * takes about as long to wake, and its first tasks after waking ran slower (measured: the default
   * job's two-thread speedup 0.96-1.15x with a spin of 200,000 loads, 1.23-1.50x with 30 ms). Default 30.
   */
  idleSpinMs?: number;
}

export class WasmPool {
  readonly threads: number;
  private readonly workers: Worker[] = [];
  private readonly ctrl: Int32Array;
  private readonly f64: Float64Array;
  private readonly index = new Map<string, number>();
  private readonly local: Record<string, (...a: number[]) => unknown>;
  private closed = false;
  private readonly spin: number;
  private readonly idleSpinMs: number;

  private constructor(opts: WasmPoolOptions, local: Record<string, (...a: number[]) => unknown>) {
    this.threads = opts.threads;
    this.local = local;
    this.spin = opts.spin ?? DEFAULT_SPIN;
    this.idleSpinMs = opts.idleSpinMs ?? DEFAULT_IDLE_SPIN_MS;
    opts.exports.forEach((n, i) => this.index.set(n, i));
    const control = new SharedArrayBuffer(Math.max(1, opts.threads - 1) * SLOT * 4 + 16);
    this.ctrl = new Int32Array(control);
    this.f64 = new Float64Array(control);
    for (let w = 0; w < opts.threads - 1; w++) {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: {
          module: opts.module,
          memory: opts.memory,
          control,
          names: opts.exports,
          slot: w,
          maxArgs: MAX_ARGS,
          idleSpinMs: this.idleSpinMs,
        },
      });
      worker.unref(); // an idle pool never keeps the process alive
      this.workers.push(worker);
    }
  }

  /** Start `threads − 1` workers; `local` holds the calling thread's instance exports. */
  static create(opts: WasmPoolOptions, local: Record<string, (...a: number[]) => unknown>): WasmPool {
    if (!Number.isInteger(opts.threads) || opts.threads < 1)
      throw new RangeError(`threads: expected an integer ≥ 1, got ${opts.threads}`);
    return new WasmPool(opts, local);
  }

  /**
   * Run tasks in parallel: task 0 here, task i on worker i − 1 (at most `threads` tasks). Returns
   * each task's return value (0 for none) when all are done. Throws if any task failed.
   */
  run(tasks: WasmTask[]): number[] {
    if (this.closed) throw new Error("WasmPool: used after close()");
    if (tasks.length > this.threads)
      throw new RangeError(`WasmPool: ${tasks.length} tasks for ${this.threads} threads`);
    const { ctrl, f64 } = this;
    for (let i = 1; i < tasks.length; i++) {
      const t = tasks[i];
      const base = (i - 1) * SLOT;
      const fn = this.index.get(t.fn);
      if (fn === undefined) throw new Error(`WasmPool: unknown export ${t.fn}`);
      if (t.args.length > MAX_ARGS) throw new RangeError(`WasmPool: too many arguments for ${t.fn}`);
      ctrl[base + 1] = fn;
      ctrl[base + 2] = t.args.length;
      for (let k = 0; k < t.args.length; k++) f64[base / 2 + 2 + k] = t.args[k];
      Atomics.store(ctrl, base, READY);
      Atomics.notify(ctrl, base);
    }
    const results: number[] = [];
    if (tasks.length > 0) results.push(Number(this.local[tasks[0].fn](...tasks[0].args) ?? 0));
    let failed = false;
    for (let i = 1; i < tasks.length; i++) {
      const base = (i - 1) * SLOT;
      let flag = Atomics.load(ctrl, base);
      // the worker usually finishes about when task 0 does: spin before sleeping (a futex wake
      // costs tens of microseconds, as long as a whole small task)
      for (let k = 0; k < this.spin && flag !== DONE; k++) flag = Atomics.load(ctrl, base);
      while (flag !== DONE) {
        Atomics.wait(ctrl, base, flag, 1000);
        flag = Atomics.load(ctrl, base);
      }
      if (ctrl[base + 3] !== 1) failed = true;
      results.push(f64[base / 2 + RESULT]);
      Atomics.store(ctrl, base, IDLE);
    }
    if (failed) throw new Error("WasmPool: a task failed in a worker");
    return results;
  }

  /** Stop the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (let w = 0; w < this.workers.length; w++) {
      Atomics.store(this.ctrl, w * SLOT, QUIT);
      Atomics.notify(this.ctrl, w * SLOT);
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
