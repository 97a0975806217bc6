// From DVS events to training batches: frames against a brute-force count at odd settings (sum and
// max pooling, merged polarities, scale, windows with the incomplete one dropped, two ranges of a
// class sample), tonic's Denoise against its definition, augmentation (identity at scale 1 and 0°,
// a quarter turn, the same transform for every frame), the task's batch layout and hold-out, the
// frame cache, and `egru train --task dvs-gesture` on a synthetic set to ≥ 90 % test accuracy.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { eventsFromRows, type DvsEvents } from "../../packages/cli/src/data/aedat.js";
import {
  augmentClip,
  denoise,
  frameShape,
  sampleClips,
  type FrameConfig,
} from "../../packages/cli/src/data/dvs-frames.js";
import { writeSynthGestures } from "../../packages/cli/src/node/dvs-files.js";
import { frameConfig, loadDvsClips } from "../../packages/cli/src/node/dvs-clips.js";
import { loadGestureSplit } from "../../packages/cli/src/node/dvs-files.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { buildTrainer } from "../../packages/cli/src/train/build.js";
import { dvsTask, memoryClips } from "../../packages/cli/src/train/dvs-task.js";
import type { ClassificationTask } from "../../packages/cli/src/train/task.js";
import { loadWasmKernels } from "../../packages/egru/src/wasm/wasm-kernels.js";
import { runEgru } from "../helpers.js";

function randomEvents(seed: number, n: number, tMax: number, t0 = 5_000): DvsEvents {
  const rng = new Rng(seed);
  const rows = Array.from({ length: n }, () => [
    t0 + Math.floor(rng.uniform() * tMax),
    rng.int(128),
    rng.int(128),
    rng.int(2),
  ]);
  rows.sort((a, b) => a[0] - b[0]);
  return eventsFromRows(rows);
}

/** Frames the slow way: full-resolution counts per (window, frame, polarity), then pooled, merged, scaled. */
function bruteClips(e: DvsEvents, idx: number[], c: FrameConfig): Float64Array[] {
  const { T, C, H, W } = frameShape(c);
  const f = 128 / c.size;
  const t0 = e.t[idx[0]];
  const windows = Math.floor((e.t[idx[idx.length - 1]] - t0) / c.windowUs);
  const out: Float64Array[] = [];
  for (let w = 0; w < windows; w++) {
    const full = new Float64Array(T * 2 * 128 * 128);
    for (const i of idx) {
      const dt = e.t[i] - t0 - w * c.windowUs;
      if (dt < 0 || dt >= c.windowUs) continue;
      const fr = Math.floor(dt / c.frameUs);
      if (fr < T) full[((fr * 2 + e.p[i]) * 128 + e.y[i]) * 128 + e.x[i]]++;
    }
    const clip = new Float64Array(T * C * H * W);
    for (let fr = 0; fr < T; fr++)
      for (let Y = 0; Y < H; Y++)
        for (let X = 0; X < W; X++) {
          const pooled = [0, 1].map((p) => {
            let s = 0,
              m = 0;
            for (let dy = 0; dy < f; dy++)
              for (let dx = 0; dx < f; dx++) {
                const v = full[((fr * 2 + p) * 128 + Y * f + dy) * 128 + X * f + dx];
                s += v;
                m = Math.max(m, v);
              }
            return c.pool === "max" ? m : s;
          });
          if (c.mergePolarities) clip[(fr * H + Y) * W + X] = (pooled[0] + pooled[1]) / 2 / c.scale;
          else for (const p of [0, 1]) clip[((fr * 2 + p) * H + Y) * W + X] = pooled[p] / c.scale;
        }
    out.push(clip);
  }
  return out;
}

test("frames equal a brute-force count: sum and max pooling, merged polarities, scale, incomplete windows dropped", () => {
  const e = randomEvents(3, 6000, 25_500); // 2 whole windows of 10 ms, then a part
  const idx = Array.from({ length: e.count }, (_, i) => i);
  for (const c of [
    {
      windowUs: 10_000,
      frameUs: 1_300,
      sensor: 128,
      size: 32,
      pool: "sum",
      mergePolarities: false,
      scale: 1,
      denoiseUs: 0,
    },
    {
      windowUs: 10_000,
      frameUs: 1_300,
      sensor: 128,
      size: 16,
      pool: "max",
      mergePolarities: false,
      scale: 2.5,
      denoiseUs: 0,
    },
    {
      windowUs: 10_000,
      frameUs: 2_000,
      sensor: 128,
      size: 8,
      pool: "max",
      mergePolarities: true,
      scale: 1,
      denoiseUs: 0,
    },
    {
      windowUs: 10_000,
      frameUs: 700,
      sensor: 128,
      size: 128,
      pool: "sum",
      mergePolarities: true,
      scale: 3,
      denoiseUs: 0,
    },
  ] as FrameConfig[]) {
    const got = sampleClips(e, [[0, e.count]], c);
    const want = bruteClips(e, idx, c);
    assert.equal(got.length, 2, `${c.pool} ${c.size}: two whole windows`);
    got.forEach((g, w) => {
      assert.equal(g.length, want[w].length);
      let worst = 0;
      for (let k = 0; k < g.length; k++) worst = Math.max(worst, Math.abs(g[k] - want[w][k]));
      assert.ok(worst < 1e-6, `${JSON.stringify(c)} window ${w}: ${worst}`);
    });
  }
  // a class sample of two ranges: the windows run over the gap between them
  const two = sampleClips(
    e,
    [
      [0, 1000],
      [4000, e.count],
    ],
    {
      windowUs: 10_000,
      frameUs: 1_000,
      sensor: 128,
      size: 32,
      pool: "sum",
      mergePolarities: false,
      scale: 1,
      denoiseUs: 0,
    },
  );
  const idx2 = [...idx.slice(0, 1000), ...idx.slice(4000)];
  assert.deepEqual(
    two.map((c) => Array.from(c)),
    bruteClips(e, idx2, {
      windowUs: 10_000,
      frameUs: 1_000,
      sensor: 128,
      size: 32,
      pool: "sum",
      mergePolarities: false,
      scale: 1,
      denoiseUs: 0,
    }).map((c) => Array.from(c)),
  );
  assert.deepEqual(
    sampleClips(e, [[0, 0]], {
      windowUs: 10_000,
      frameUs: 1_000,
      sensor: 128,
      size: 32,
      pool: "sum",
      mergePolarities: false,
      scale: 1,
      denoiseUs: 0,
    }),
    [],
  );
  assert.throws(
    () =>
      sampleClips(e, [[0, 10]], {
        windowUs: 10_000,
        frameUs: 1_000,
        sensor: 128,
        size: 30,
        pool: "sum",
        mergePolarities: false,
        scale: 1,
        denoiseUs: 0,
      }),
    /divisor/,
  );
});

test("denoise keeps an event only when a 4-neighbour fired less than filter µs before (tonic's rule)", () => {
  const e = randomEvents(8, 4000, 200_000, 50_000);
  const filter = 3_000;
  const kept = new Set(denoise(e, 0, e.count, filter));
  for (let i = 0; i < e.count; i++) {
    let near = e.t[i] < filter; // tonic's memory starts at filter_time everywhere
    for (let j = 0; j < i && !near; j++) {
      const d = Math.abs(e.x[i] - e.x[j]) + Math.abs(e.y[i] - e.y[j]);
      if (d === 1 && e.t[i] - e.t[j] < filter) near = true;
    }
    assert.equal(kept.has(i), near, `event ${i}`);
  }
  assert.ok(kept.size > 0 && kept.size < e.count, `${kept.size} of ${e.count} kept`);
});

test("augmentation: identity at scale 1 and 0°, a quarter turn moves pixels as a rotation, one transform for all frames", () => {
  const T = 3,
    C = 2,
    S = 8;
  const clip = Float32Array.from({ length: T * C * S * S }, (_, i) => (i * 7919) % 13);
  const rng = new Rng(1);
  assert.deepEqual(Array.from(augmentClip(clip, T, C, S, rng, { minScale: 1, maxDegrees: 0 })), Array.from(clip));
  // force 90°: maxDegrees 90 with a draw of 1.0 is not reachable; rotate a single dot and check it lands on the circle
  const dot = new Float32Array(T * C * S * S);
  for (let p = 0; p < T * C; p++) dot[p * S * S + 1 * S + 4] = 1; // (x 4, y 1) in every frame
  const out = augmentClip(dot, T, C, S, new Rng(5), { minScale: 1, maxDegrees: 90 });
  const where = (p: number): number[] =>
    Array.from(out.subarray(p * S * S, (p + 1) * S * S)).flatMap((v, k) => (v ? [k] : []));
  const first = where(0);
  assert.ok(first.length >= 1, "the dot survives a rotation about the centre");
  for (let p = 1; p < T * C; p++) assert.deepEqual(where(p), first, "the same transform in every frame and channel");
  const r0 = Math.hypot(4 - 3.5, 1 - 3.5);
  for (const k of first)
    assert.ok(
      Math.abs(Math.hypot((k % S) - 3.5, Math.floor(k / S) - 3.5) - r0) < 1.5,
      `pixel ${k} stays on the circle`,
    );
  // a crop enlarges: a centred 2×2 block grows
  const block = new Float32Array(S * S);
  for (const k of [27, 28, 35, 36]) block[k] = 1;
  const grown = augmentClip(block, 1, 1, S, new Rng(2), { minScale: 0.3, maxDegrees: 0 });
  assert.ok(grown.reduce((a, b) => a + b, 0) >= 4);
});

test("the DVS task: time-major batches of flattened frames, a seeded validation hold-out, augmentation by step", () => {
  const T = 4,
    C = 2,
    S = 4,
    I = C * S * S;
  const clip = (v: number): Float32Array => Float32Array.from({ length: T * I }, (_, k) => v * 1000 + k);
  const train = memoryClips([0, 1, 2, 3, 4, 5].map(clip), [0, 1, 0, 1, 0, 1]);
  const testSet = memoryClips([7, 8].map(clip), [1, 0]);
  const task = dvsTask(train, testSet, { T, C, S, classes: 2, validation: 2, seed: 1, augment: null });
  assert.equal(task.count("train"), 4);
  assert.equal(task.count("valid"), 2);
  assert.equal(task.count("test"), 2);
  assert.equal(task.sparseInput, true);
  const b = task.batch("test", [1, 0]);
  assert.deepEqual(Array.from(b.labels), [0, 1]);
  for (let t = 0; t < T; t++) {
    assert.equal(b.x[(t * 2 + 0) * I], 8000 + t * I, "example 0 of the batch is test clip 1");
    assert.equal(b.x[(t * 2 + 1) * I + 3], 7000 + t * I + 3);
  }
  const seen = new Set<number>();
  for (const s of ["train", "valid"] as const)
    for (let k = 0; k < task.count(s); k++) seen.add(task.batch(s, [k]).x[0] / 1000);
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4, 5], "train and validation partition the training clips");
  const aug = dvsTask(train, testSet, {
    T,
    C,
    S,
    classes: 2,
    validation: 2,
    seed: 1,
    augment: { minScale: 0.5, maxDegrees: 20 },
  });
  assert.deepEqual(
    aug.batch("train", [0, 1], 7).x,
    aug.batch("train", [0, 1], 7).x,
    "the same step augments the same way",
  );
  assert.notDeepEqual(aug.batch("train", [0, 1], 7).x, aug.batch("train", [0, 1], 8).x);
  assert.deepEqual(aug.batch("valid", [0], 7).x, task.batch("valid", [0]).x, "no augmentation outside training");
  assert.throws(
    () => dvsTask(train, testSet, { T, C, S, classes: 2, validation: 6, seed: 1, augment: null }),
    /validation/,
  );
  assert.throws(() => task.batch("train", [4]), /batch index/);
});

test("the frame cache: a second load reads the cache and gives the same clips; a changed setting makes a new entry", () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-dvsc-"));
  writeSynthGestures(dir, { classes: 2, trainUsers: 2, testUsers: 1, rate: 3, seed: 4 });
  const cache = mkdtempSync(join(tmpdir(), "egru-cache-"));
  const d = parseConfig({ task: "dvs-gesture", dvs: { size: 16 } }, "t").dvs;
  const a = loadDvsClips(dir, d, cache, () => {});
  assert.equal(a.cached, false);
  assert.equal(a.classes, 2);
  assert.equal(a.train.count, 4, "2 recordings × 2 gestures × 1 window of 1.7 s");
  const b = loadDvsClips(dir, d, cache, () => {});
  assert.equal(b.cached, true);
  assert.equal(b.cacheDir, a.cacheDir);
  assert.deepEqual(b.train.labels, a.train.labels);
  assert.deepEqual(Array.from(b.test.clip(1)), Array.from(a.test.clip(1)));
  // batches from the cache file (one scattered read per clip into the batch's rows) equal those of the
  // same clips held in memory
  assert.ok(b.train.clipInto, "the cache file's clips read straight into a batch");
  const { T: fT, C: fC, H: fS } = b.shape;
  const opts = { T: fT, C: fC, S: fS, classes: 2, validation: 1, seed: 3, augment: null };
  const inMemory = memoryClips(
    Array.from({ length: b.train.count }, (_, i) => b.train.clip(i)),
    b.train.labels,
  );
  const onlyInto = {
    ...b.train,
    clip: (): Float32Array => {
      throw new Error("the batch read whole clips");
    },
  };
  const fromFile = dvsTask(onlyInto, b.test, opts).batch("train", [2, 0, 1], 0);
  assert.deepEqual(fromFile, dvsTask(inMemory, b.test, opts).batch("train", [2, 0, 1], 0));
  assert.ok(fromFile.x.some((v) => v > 0));
  // the clips equal the frames made directly from the recordings
  const direct = loadGestureSplit(dir, "test", { classes: 2 }).trials[0];
  const s = direct.samples[1];
  assert.deepEqual(Array.from(a.test.clip(1)), Array.from(sampleClips(direct.events, s.ranges, frameConfig(d))[0]));
  assert.equal(a.test.labels[1], s.label);
  // a damaged cache file is not taken: the split is made again, with the same clips
  const before = Array.from(a.train.clip(3));
  truncateSync(join(a.cacheDir, "train.sparse"), 1000);
  const again = loadDvsClips(dir, d, cache, () => {});
  assert.equal(again.cached, false);
  assert.deepEqual(Array.from(again.train.clip(3)), before);
  assert.ok(before.some((v) => v > 0));
  const c = loadDvsClips(dir, { ...d, size: 32 }, cache, () => {});
  assert.equal(c.cached, false);
  assert.notEqual(c.cacheDir, a.cacheDir);
  for (const f of ["train.sparse", "train.json", "test.sparse", "test.json"])
    assert.ok(existsSync(join(c.cacheDir, f)), f);
});

test("the frame cache keeps each clip's nonzero values only, and a damaged position is an error naming the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-dvsc-"));
  writeSynthGestures(dir, { classes: 2, trainUsers: 2, testUsers: 1, rate: 3, seed: 5 });
  const cache = mkdtempSync(join(tmpdir(), "egru-cache-"));
  const d = parseConfig({ task: "dvs-gesture", dvs: { size: 16 } }, "t").dvs;
  const a = loadDvsClips(dir, d, cache, () => {});
  const clips = Array.from({ length: a.train.count }, (_, i) => a.train.clip(i));
  const nonzeros = clips.reduce((n, c) => n + c.filter((v) => v !== 0).length, 0);
  const file = join(a.cacheDir, "train.sparse");
  // 8 bytes a nonzero value, against 4 bytes a value of the float32 frames
  assert.equal(statSync(file).size, 8 * nonzeros);
  assert.ok(8 * nonzeros < clips[0].length * clips.length, "under half the float32 frames' bytes");
  // a position out of order (the file's size still right): reading that clip says which file is damaged
  const bytes = readFileSync(file);
  const first = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  first.setInt32(8, first.getInt32(0, true), true); // the second pair's position = the first's
  writeFileSync(file, bytes);
  const b = loadDvsClips(dir, d, cache, () => {});
  assert.equal(b.cached, true);
  assert.throws(
    () => b.train.clip(0),
    (e: Error) => e.message.includes(file) && /damaged/.test(e.message),
  );
  // an index of clips of another size (or no count) is not taken: the split is made again
  const indexFile = join(a.cacheDir, "train.json");
  for (const change of [{ clipSize: clips[0].length + 1 }, { count: -1 }]) {
    writeFileSync(indexFile, JSON.stringify({ ...JSON.parse(readFileSync(indexFile, "utf8")), ...change }));
    const c = loadDvsClips(dir, d, cache, () => {});
    assert.equal(c.cached, false, JSON.stringify(change));
    assert.deepEqual(Array.from(c.train.clip(1)), Array.from(clips[1]));
  }
});

test("a training batch made in the kernels' memory trains to the bits of one in ordinary memory, its memory handed back", async () => {
  const wasm = await loadWasmKernels();
  assert.ok(wasm);
  const dir = mkdtempSync(join(tmpdir(), "egru-dvsk-"));
  writeSynthGestures(dir, { classes: 2, trainUsers: 4, testUsers: 1, rate: 3, seed: 6 });
  const cache = mkdtempSync(join(tmpdir(), "egru-cache-"));
  const c = parseConfig({ task: "dvs-gesture", model: { hidden: 24 }, batchSize: 4, seed: 2, dvs: { size: 16 } }, "t");
  const clips = loadDvsClips(dir, c.dvs, cache, () => {});
  const { T, C, H: S } = clips.shape;
  const task = dvsTask(clips.train, clips.test, { T, C, S, classes: 2, validation: 0, seed: 3, augment: null });
  // the kernels, with the arrays allocated while a batch is being made, until they are freed
  const live = new Set<Float32Array>();
  let inBatch = false;
  const kernels = new Proxy(wasm, {
    get(target, key) {
      if (key === "alloc")
        return (n: number, zeroed?: boolean) => {
          const a = target.alloc(n, zeroed);
          if (inBatch) live.add(a);
          return a;
        };
      if (key === "free")
        return (a: Float32Array) => {
          live.delete(a);
          target.free(a);
        };
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  let made = 0;
  const counted = {
    ...task,
    batch: (...a: Parameters<typeof task.batch>) => {
      inBatch = true;
      try {
        if (a[3]) made++;
        return task.batch(...a);
      } finally {
        inBatch = false;
      }
    },
  };
  const ordinary = { ...task, batch: (...a: Parameters<typeof task.batch>) => task.batch(a[0], a[1], a[2]) };
  const steps = (t: ClassificationTask) => {
    const trainer = buildTrainer(c, t, { kernels });
    const out = [0, 1, 2].map((k) =>
      trainer.trainStep(
        [k, k + 1, k + 2, k + 3].map((i) => i % 8),
        3,
      ),
    );
    return {
      out: out.map((s) => [s.loss, s.gradNorm]),
      params: trainer.model.params().map((p) => Array.from(p.value)),
    };
  };
  const inMemory = steps(counted);
  assert.equal(made, 3, "each step's batch was made by the kernels' allocator");
  assert.equal(live.size, 0, "the batches' memory is handed back");
  assert.deepEqual(inMemory, steps(ordinary));
});

test("egru train --task dvs-gesture on a synthetic 4-class set reaches ≥ 90 % test accuracy, sparsity reported", () => {
  const data = join(mkdtempSync(join(tmpdir(), "egru-dvst-")), "set");
  assert.equal(
    runEgru([
      "data",
      "synth-dvs",
      "--out",
      data,
      "--classes",
      "4",
      "--train-users",
      "32",
      "--test-users",
      "8",
      "--rate",
      "8",
      "--seed",
      "3",
    ]).code,
    0,
  );
  const run = join(data, "..", "run");
  const r = runEgru(["--threads", "2", "train", "--preset", "dvs-synth", "--data", data, "--out", run], 300_000, {
    EGRU_CACHE: join(data, "..", "cache"),
  });
  assert.equal(r.code, 0, r.err);
  const acc = Number(/test accuracy\s+([\d.]+) %/.exec(r.out)?.[1]);
  assert.ok(acc >= 90, `test accuracy ${acc} %`);
  const sparsity = Number(/activity sparsity\s+([\d.]+) %/.exec(r.out)?.[1]);
  assert.ok(sparsity > 0 && sparsity < 100, `activity sparsity ${sparsity} %`);
  assert.ok(existsSync(join(run, "report.html")));
});

test("egru train --task dvs-gesture: a damaged recording stops the run naming it and the byte; --skip-bad goes on and lists it", () => {
  const root = mkdtempSync(join(tmpdir(), "egru-dvsbad-"));
  const data = join(root, "set");
  writeSynthGestures(data, { classes: 2, trainUsers: 4, testUsers: 1, rate: 3, seed: 9 });
  truncateSync(join(data, "user02_natural.aedat"), 5000);
  const env = { EGRU_CACHE: join(root, "cache") };
  const args = [
    "train",
    "--task",
    "dvs-gesture",
    "--data",
    data,
    "--epochs",
    "1",
    "--hidden",
    "8",
    "--batch",
    "2",
    "--validation",
    "1",
  ];
  const stop = runEgru([...args, "--out", join(root, "a")], 120_000, env);
  assert.equal(stop.code, 1);
  assert.match(stop.err, /user02_natural\.aedat at byte \d+: .*truncated packet/);
  const go = runEgru([...args, "--skip-bad", "--out", join(root, "b")], 120_000, env);
  assert.equal(go.code, 0, go.err);
  assert.match(go.err, /skipped user02_natural\.aedat: .*truncated packet/);
});
