// The default `egru train` job (row-sequential MNIST, 1×EGRU(128), batch 128) with its training tape
// in the kernels' memory (layers/tape-arena.ts) takes the same steps, bit for bit, as with the tape
// in ordinary arrays copied in and out (the arena's cap at 0), on one thread and on two.

import assert from "node:assert/strict";
import { after, test } from "node:test";
import type { Kernels } from "../../packages/egru/src/kernels/backend.js";
import { setTapeArenaCap, tapeArenaBytes } from "../../packages/egru/src/layers/tape-arena.js";
import { createThreadedKernels } from "../../packages/egru/src/node/threaded-kernels.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { loadPresets } from "../../packages/cli/src/node/presets.js";
import { loadTask } from "../../packages/cli/src/run/task-data.js";
import { buildTrainer } from "../../packages/cli/src/train/build.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";

const one = await loadWasmKernels();
assert.ok(one, "WebAssembly SIMD kernels must load in Node 20");
const two = createThreadedKernels(one, 2);
assert.equal(two.threads, 2);
after(() => two.close());

const B = 128;
const STEPS = 3;
const c = parseConfig({ ...loadPresets().default, validation: 0, trainLimit: STEPS * B, testLimit: 1 }, "default");
const task = loadTask(c, () => {});
const order = Int32Array.from({ length: STEPS * B }, (_, i) => i);

for (const kernels of [one, two] as Kernels[]) {
  test(`the default job [${kernels.name}]: the same steps with the tape in kernel memory as copied`, () => {
    const inPlace = buildTrainer(c, task, { kernels });
    const copied = buildTrainer(c, task, { kernels });
    for (let s = 0; s < STEPS; s++) {
      const held = tapeArenaBytes();
      const a = inPlace.trainStep(order.subarray(B * s, B * (s + 1)), STEPS);
      if (s === 0) assert.ok(tapeArenaBytes() > held, "the in-place trainer's layer took a slot");
      const previous = setTapeArenaCap(0);
      let b: ReturnType<typeof copied.trainStep>;
      try {
        b = copied.trainStep(order.subarray(B * s, B * (s + 1)), STEPS);
      } finally {
        setTapeArenaCap(previous);
      }
      assert.ok(Number.isFinite(a.loss));
      assert.equal(b.loss, a.loss, `step ${s}: loss`);
      assert.equal(b.gradNorm, a.gradNorm, `step ${s}: gradient norm`);
      const pb = copied.model.params();
      inPlace.model.params().forEach((p, i) => assert.deepEqual(pb[i].value, p.value, `step ${s}: ${p.name}`));
    }
  });
}
