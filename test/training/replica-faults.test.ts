// A replica thread that stops (node/replica-pool.ts): the trainer waits for answers synchronously and
// cannot hear a Worker's events, so a thread whose module fails to load, or that dies of an uncaught
// error during its job, must still end the wait with a StateError naming the thread, its exit code and
// the error, and every later job must fail the same way (before the exit watch, both cases hung the
// step for ever: these tests then fail by their timeout).

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { StateError } from "../../packages/egru/src/core/errors.js";
import type { Kernels } from "../../packages/egru/src/index.js";
import { createReplicaPool, workerProgram } from "../../packages/cli/src/node/replica-pool.js";
import type { ReplicaJob, Replicas } from "../../packages/cli/src/train/replicas.js";

const opened: Replicas[] = [];
after(() => Promise.all(opened.map((r) => r.close())));

// the faulty programs never build the model: any configuration and the TypeScript kernels will do
const config = { cell: "gru", inputSize: 2, hidden: 3, classes: 2 } as never;
const kernels = { name: "js" } as unknown as Kernels;
const job: ReplicaJob = { kind: "eval", x: new Float32Array(12), labels: new Uint8Array(2), T: 3 };

function pool(program: string): Replicas {
  const p = createReplicaPool(config, 8, 1, kernels, program);
  opened.push(p);
  return p;
}

test("a replica thread whose module fails to load: the step fails with its error, not a hang", {
  timeout: 30_000,
}, () => {
  const p = pool(workerProgram('import("file:///no/such/replica-module.js")'));
  p.start([], [job]);
  assert.throws(
    () => p.finish(),
    (e: unknown) =>
      e instanceof StateError &&
      /replica thread 1: expected an answer to its job, got a thread that stopped \(exit code 70\): .*no\/such\/replica-module\.js/.test(
        e.message,
      ),
  );
  // the pool stays broken: the next step fails at once with the same error
  assert.throws(() => p.start([], [job]), /replica thread 1: .*stopped \(exit code 70\)/);
});

test("a replica thread that dies of an uncaught error during its job: the step fails with that error", {
  timeout: 30_000,
}, () => {
  const program = workerProgram(
    'require("node:worker_threads").workerData.port.on("message", () => { setImmediate(() => { throw new Error("boom in the replica"); }); })',
  );
  const p = pool(program);
  p.start([], [job]);
  assert.throws(
    () => p.finish(),
    (e: unknown) => e instanceof StateError && /stopped \(exit code 70\): boom in the replica/.test(e.message),
  );
});

test("a replica thread that exits during its job: the step fails with its exit code", { timeout: 30_000 }, () => {
  const p = pool(workerProgram('require("node:worker_threads").workerData.port.on("message", () => process.exit(3))'));
  p.start([], [job]);
  assert.throws(
    () => p.finish(),
    /replica thread 1: expected an answer to its job, got a thread that stopped \(exit code 3\)$/,
  );
});
