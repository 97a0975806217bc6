// What the ICLR DVS setup adds to the frames and the task: the random perspective of its training
// augmentation (an exact projective map, drawn as torchvision's RandomPerspective draws it), the test
// clips' own count scale (19 for training, 18.5 for the test), and the authors' model-selection
// protocol (validation on the test set), which is explicit and off by default.

import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { Rng } from "../../packages/egru/src/core/rng.js";
import { augmentClip, homography, randomPerspective } from "../../packages/cli/src/data/dvs-frames.js";
import { loadDvsClips } from "../../packages/cli/src/node/dvs-clips.js";
import { writeSynthGestures } from "../../packages/cli/src/node/dvs-files.js";
import { parseConfig } from "../../packages/cli/src/train/config.js";
import { dvsTask, memoryClips } from "../../packages/cli/src/train/dvs-task.js";

const apply = (h: Float64Array, x: number, y: number): [number, number] => {
  const d = h[6] * x + h[7] * y + 1;
  return [(h[0] * x + h[1] * y + h[2]) / d, (h[3] * x + h[4] * y + h[5]) / d];
};

test("homography sends each corner to its partner and is the identity for unmoved corners", () => {
  const from: [number, number][] = [
    [3, 1],
    [27, 4],
    [30, 29],
    [2, 26],
  ];
  const to: [number, number][] = [
    [0, 0],
    [31, 0],
    [31, 31],
    [0, 31],
  ];
  const h = homography(from, to);
  from.forEach(([x, y], k) => {
    const [X, Y] = apply(h, x, y);
    assert.ok(Math.abs(X - to[k][0]) < 1e-9 && Math.abs(Y - to[k][1]) < 1e-9, `corner ${k}: ${X}, ${Y}`);
  });
  const id = homography(to, to);
  assert.deepEqual(
    Array.from(id, (v) => Math.round(v * 1e9) / 1e9),
    [1, 0, 0, 0, 1, 0, 0, 0],
  );
});

test("randomPerspective: half the draws warp, corners move inwards by at most ⌊0.5·⌊S/2⌋⌋", () => {
  const rng = new Rng(7);
  const S = 33;
  const m = Math.floor(0.5 * Math.floor(S / 2));
  let warps = 0;
  for (let k = 0; k < 400; k++) {
    const h = randomPerspective(S, rng);
    if (!h) continue;
    warps++;
    // the output corners (inside by ≤ m) read the input's corners
    for (const [cx, cy] of [
      [0, 0],
      [S - 1, 0],
      [S - 1, S - 1],
      [0, S - 1],
    ]) {
      // the inverse direction: find the output point that reads this input corner, within m of it
      let found = false;
      for (let dy = -m; dy <= m && !found; dy++)
        for (let dx = -m; dx <= m && !found; dx++) {
          const [X, Y] = apply(h, cx + dx, cy + dy);
          if (Math.abs(X - cx) < 1e-6 && Math.abs(Y - cy) < 1e-6) found = true;
        }
      assert.ok(found, `draw ${k}: input corner (${cx}, ${cy}) is read from within ${m} pixels of it`);
    }
  }
  assert.ok(warps > 160 && warps < 240, `${warps} of 400 warped`);
});

test("augmentation with the perspective is seeded, keeps counts as counts and differs from without it", () => {
  const T = 3;
  const C = 2;
  const S = 16;
  const clip = new Float32Array(T * C * S * S);
  const r = new Rng(1);
  for (let i = 0; i < clip.length; i++) clip[i] = r.int(4);
  const o = { minScale: 0.6, maxDegrees: 25, perspective: true };
  const a = augmentClip(clip, T, C, S, new Rng(5), o);
  assert.deepEqual(a, augmentClip(clip, T, C, S, new Rng(5), o), "same seed, same clip");
  for (const v of a) assert.ok(Number.isInteger(v) && v >= 0 && v <= 3, "nearest neighbour: values of the input or 0");
  let differs = false;
  for (let seed = 0; seed < 8 && !differs; seed++) {
    const w = augmentClip(clip, T, C, S, new Rng(seed), o);
    const wo = augmentClip(clip, T, C, S, new Rng(seed), { ...o, perspective: false });
    differs = w.some((v, i) => v !== wo[i]);
  }
  assert.ok(differs, "some seed warps the clip");
});

test("testScale divides the test clips' counts by its own value; the training clips keep scale", () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-dvs-scale-"));
  writeSynthGestures(dir, { classes: 2, trainUsers: 1, testUsers: 1, rate: 3, seed: 2 });
  const counts = parseConfig({ task: "dvs-gesture", dvs: { size: 16 } }, "t").dvs;
  const iclr = parseConfig({ task: "dvs-gesture", dvs: { size: 16, scale: 19, testScale: 18.5 } }, "t").dvs;
  const cache = mkdtempSync(join(tmpdir(), "egru-cache-"));
  const raw = loadDvsClips(dir, counts, cache, () => {});
  const scaled = loadDvsClips(dir, iclr, cache, () => {});
  assert.notEqual(scaled.cacheDir, raw.cacheDir);
  const close = (a: Float32Array, b: Float32Array, s: number): void =>
    a.forEach((v, i) => assert.equal(v, Math.fround(b[i] / s), `value ${i}`));
  close(scaled.train.clip(0), raw.train.clip(0), 19);
  close(scaled.test.clip(0), raw.test.clip(0), 18.5);
});

test("protocol: holdout validates on training clips; authors (explicit) validates on the test set", () => {
  const clip = (v: number): Float32Array => new Float32Array(2 * 4).fill(v);
  const train = memoryClips([clip(1), clip(2), clip(3), clip(4)], [0, 1, 0, 1]);
  const test = memoryClips([clip(10), clip(20)], [1, 0]);
  const o = { T: 2, C: 1, S: 2, classes: 2, validation: 1, seed: 0, augment: null };
  const holdout = dvsTask(train, test, o);
  assert.equal(holdout.count("train"), 3);
  assert.equal(holdout.count("valid"), 1);
  assert.ok(holdout.batch("valid", [0]).x[0] < 10, "a training clip");
  const authors = dvsTask(train, test, { ...o, validation: 0, protocol: "authors" });
  assert.equal(authors.count("train"), 4);
  assert.equal(authors.count("valid"), 2);
  assert.deepEqual(Array.from(authors.batch("valid", [0, 1]).labels), [1, 0]);
  assert.equal(authors.batch("valid", [1]).x[0], 20, "the test set");
  assert.equal(parseConfig({ task: "dvs-gesture" }, "t").dvs.protocol, "holdout");
});
