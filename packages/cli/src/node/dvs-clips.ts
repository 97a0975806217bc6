// DVS Gesture clips for training (Node only): read a split's recordings, cut samples into windows
// of frames (data/dvs-frames.ts), and cache the result on disk, keyed by the frame configuration and
// the recordings' names, sizes and modification times, so a second run does not parse the
// recordings again. The cache lives in <cache>/dvs-frames/<key>/: per split, <split>.sparse (each
// clip's nonzero values as (int32 index, float32 value) pairs in index order, the clips one after
// another, written as they are made: event frames are mostly zeros, about a tenth of the float32
// frames' bytes) and <split>.json (count, clip size, labels, where each clip's pairs start; written
// last, atomically, so a half-written cache is never taken). Clips are read back from the file one
// at a time, so memory holds a batch, not the dataset.

import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { ValueError } from "egru";
import { readFileText } from "egru/node";
import { frameShape, sampleClips, type FrameConfig } from "../data/dvs-frames.js";
import { parseTrialList } from "../data/dvs-gesture.js";
import type { DvsConfig } from "../train/config.js";
import type { DvsClips } from "../train/dvs-task.js";
import { writeFileAtomic } from "./atomic-file.js";
import { forEachGestureTrial } from "./dvs-files.js";

/** The frame configuration of a run's dvs settings. */
export function frameConfig(d: DvsConfig): FrameConfig {
  return {
    windowUs: d.windowMs * 1000,
    frameUs: d.frameMs * 1000,
    sensor: 128,
    size: d.size,
    pool: d.pool,
    mergePolarities: d.mergePolarities,
    scale: d.scale,
    denoiseUs: d.denoiseMs * 1000,
  };
}

/** Classes of a dataset directory: the rows of gesture_mapping.csv (11 for the real set). */
export function gestureClasses(dir: string): number {
  const p = join(dir, "gesture_mapping.csv");
  if (!existsSync(p)) return 11;
  const rows = readFileText(p, "the gesture classes, one CSV row each")
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .filter((l) => l.trim() !== "");
  return rows.length;
}

function cacheKey(dir: string, d: DvsConfig, classes: number): string {
  const files: [string, number, number][] = [];
  for (const split of ["train", "test"]) {
    const list = join(dir, `trials_to_${split}.txt`);
    if (!existsSync(list)) continue;
    for (const name of parseTrialList(readFileText(list, "the split's list of recordings"), list)) {
      for (const f of [name, name.replace(/\.aedat$/, "_labels.csv")]) {
        const p = join(dir, f);
        if (existsSync(p)) {
          const s = statSync(p);
          files.push([f, s.size, Math.round(s.mtimeMs)]);
        }
      }
    }
  }
  const what = {
    format: 3,
    frames: frameConfig(d),
    ...(d.testScale !== undefined ? { testScale: d.testScale } : {}),
    samples: d.samples,
    classes,
    ignoreValidMark: d.ignoreValidMark,
    skipBad: d.skipBad,
    files,
  };
  return createHash("sha256").update(JSON.stringify(what)).digest("hex").slice(0, 16);
}

export interface LoadedClips {
  train: DvsClips;
  test: DvsClips;
  classes: number;
  shape: ReturnType<typeof frameShape>;
  /** Recordings skipped (skipBad), with the reason. */
  skipped: { name: string; reason: string }[];
  /** Read from the cache (no recording parsed). */
  cached: boolean;
  cacheDir: string;
}

interface SplitIndex {
  format: "egru-dvs-clips-2";
  count: number;
  /** float32 values per clip. */
  clipSize: number;
  labels: number[];
  /** count + 1 entries: clip i's pairs are [starts[i], starts[i + 1]). */
  starts: number[];
}

/** Bytes of one (int32 index, float32 value) pair. */
const PAIR = 8;

/** A split's clips read from its .sparse file on demand, one clip's pairs at a time. */
function fileClips(data: string, index: SplitIndex): DvsClips {
  let fd: number | null = null;
  let buf = new ArrayBuffer(0);
  const { clipSize, starts } = index;
  /** Clip i's pairs (index, value), read into a buffer kept between calls. */
  const pairs = (i: number): { at: Int32Array; v: Float32Array; n: number } => {
    if (!Number.isInteger(i) || i < 0 || i >= index.count)
      throw new ValueError("clip", `an index in 0…${index.count - 1}`, String(i));
    fd ??= openSync(data, "r");
    const n = starts[i + 1] - starts[i];
    if (buf.byteLength < n * PAIR) buf = new ArrayBuffer(Math.max(n * PAIR, 2 * buf.byteLength));
    const got = readSync(fd, new Uint8Array(buf, 0, n * PAIR), 0, n * PAIR, starts[i] * PAIR);
    if (got !== n * PAIR) throw damaged(`${n * PAIR} bytes of clip ${i}`, String(got));
    return { at: new Int32Array(buf, 0, 2 * n), v: new Float32Array(buf, 0, 2 * n), n };
  };
  const damaged = (what: string, got: string): ValueError =>
    new ValueError(data, what, `${got} (the cache file is damaged; delete ${dirname(data)})`);
  /** Each pair of clip i: put(position in the clip, value), positions checked to increase within the clip. */
  const each = (i: number, put: (k: number, v: number) => void): void => {
    const { at, v, n } = pairs(i);
    let last = -1;
    for (let e = 0; e < n; e++) {
      const k = at[2 * e];
      if (!(k > last && k < clipSize)) throw damaged(`increasing positions below ${clipSize} in clip ${i}`, String(k));
      last = k;
      put(k, v[2 * e + 1]);
    }
  };
  return {
    count: index.count,
    labels: index.labels,
    clip: (i) => {
      const out = new Float32Array(clipSize);
      each(i, (k, v) => {
        out[k] = v;
      });
      return out;
    },
    clipInto: (i, x, b, B, I) => {
      if (clipSize % I !== 0 || x.length < (clipSize / I) * B * I)
        throw new ValueError("clipInto", `a batch [${clipSize / I}, ${B}, ${I}]`, `${x.length} floats`);
      each(i, (k, v) => {
        const t = Math.floor(k / I);
        x[(t * B + b) * I + (k - t * I)] = v;
      });
    },
  };
}

/** The cached split, or null when it is absent, does not match its index or holds clips of another size. */
function readSplit(dir: string, split: string, clipSize: number): DvsClips | null {
  const indexPath = join(dir, `${split}.json`),
    data = join(dir, `${split}.sparse`);
  if (!existsSync(indexPath) || !existsSync(data)) return null;
  let index: SplitIndex;
  try {
    index = JSON.parse(readFileSync(indexPath, "utf8")) as SplitIndex;
  } catch {
    return null;
  }
  const { count, starts } = index;
  if (
    index.format !== "egru-dvs-clips-2" ||
    index.clipSize !== clipSize ||
    !Number.isInteger(count) ||
    count < 0 ||
    !Array.isArray(index.labels) ||
    index.labels.length !== count ||
    !Array.isArray(starts) ||
    starts.length !== count + 1 ||
    starts[0] !== 0 ||
    starts.some((s, i) => !Number.isInteger(s) || (i > 0 && s < starts[i - 1])) ||
    statSync(data).size !== starts[count] * PAIR
  )
    return null;
  return fileClips(data, index);
}

/** Make a split's clips, appending each to <split>.sparse as it is made; the index is written last. */
function buildSplit(
  dir: string,
  split: "train" | "test",
  make: (emit: (clip: Float32Array, label: number) => void) => void,
  clipSize: number,
): DvsClips {
  const data = join(dir, `${split}.sparse`);
  const part = `${data}.part`;
  const fd = openSync(part, "w");
  const labels: number[] = [];
  const starts = [0];
  try {
    make((clip, label) => {
      if (clip.length !== clipSize) throw new ValueError("clip", `${clipSize} values`, String(clip.length));
      // every entry that is not +0 (a −0 too, so the clip reads back bit for bit)
      let n = 0;
      for (let k = 0; k < clipSize; k++) if (!Object.is(clip[k], 0)) n++;
      const buf = new ArrayBuffer(n * PAIR);
      const at = new Int32Array(buf);
      const v = new Float32Array(buf);
      let e = 0;
      for (let k = 0; k < clipSize; k++) {
        if (Object.is(clip[k], 0)) continue;
        at[2 * e] = k;
        v[2 * e + 1] = clip[k];
        e++;
      }
      writeSync(fd, new Uint8Array(buf));
      starts.push(starts[starts.length - 1] + n);
      labels.push(label);
    });
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(part, data);
  const index: SplitIndex = { format: "egru-dvs-clips-2", count: labels.length, clipSize, labels, starts };
  writeFileAtomic(join(dir, `${split}.json`), `${JSON.stringify(index)}\n`);
  return fileClips(data, index);
}

/** The train and test clips of a DvsGesture directory (from the cache when it has them). */
export function loadDvsClips(dir: string, d: DvsConfig, cacheRoot: string, log: (m: string) => void): LoadedClips {
  const classes = gestureClasses(dir);
  const f = frameConfig(d);
  const shape = frameShape(f);
  const cacheDir = join(cacheRoot, "dvs-frames", cacheKey(dir, d, classes));
  const cachedTrain = readSplit(cacheDir, "train", shape.T * shape.I);
  const cachedTest = readSplit(cacheDir, "test", shape.T * shape.I);
  if (cachedTrain && cachedTest)
    return { train: cachedTrain, test: cachedTest, classes, shape, skipped: [], cached: true, cacheDir };
  mkdirSync(cacheDir, { recursive: true });
  const skipped: { name: string; reason: string }[] = [];
  const testFrames = { ...f, scale: d.testScale ?? d.scale };
  const split = (name: "train" | "test"): DvsClips =>
    buildSplit(
      cacheDir,
      name,
      (emit) => {
        const o = { classes, skipBad: d.skipBad, mode: d.samples, respectValidMark: !d.ignoreValidMark };
        const bad = forEachGestureTrial(dir, name, o, (t) => {
          const frames = name === "test" ? testFrames : f;
          for (const s of t.samples) for (const c of sampleClips(t.events, s.ranges, frames)) emit(c, s.label);
        });
        for (const s of bad) log(`egru train: skipped ${s.name}: ${s.reason}`);
        skipped.push(...bad);
      },
      shape.T * shape.I,
    );
  const train = split("train");
  const test = split("test");
  return { train, test, classes, shape, skipped, cached: false, cacheDir };
}
