// DVS Gesture clips for training (Node only): read a split's recordings, cut samples into windows
// of frames (data/dvs-frames.ts), and cache the result on disk, keyed by the frame configuration and
// the recordings' names, sizes and modification times, so a second run does not parse the
// recordings again. The cache lives in <cache>/dvs-frames/<key>/: per split, <split>.f32 (the clips'
// float32 values one after another, written as they are made) and <split>.json (count, clip size,
// labels; written last, atomically, so a half-written cache is never taken). Clips are read back from
// the file one at a time, so memory holds a batch, not the dataset (the real set's 128×128 frames
// are about 16 GB).

import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  readvSync,
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
    format: 2,
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
  format: "egru-dvs-clips-1";
  count: number;
  /** float32 values per clip. */
  clipSize: number;
  labels: number[];
}

/** A split's clips read from its .f32 file on demand (clipInto: one scattered read into a batch's rows). */
function fileClips(data: string, index: SplitIndex): DvsClips {
  let fd: number | null = null;
  const bytes = index.clipSize * 4;
  const openFor = (i: number): number => {
    if (!Number.isInteger(i) || i < 0 || i >= index.count)
      throw new ValueError("clip", `an index in 0…${index.count - 1}`, String(i));
    fd ??= openSync(data, "r");
    return fd;
  };
  const damaged = (i: number, got: number): ValueError =>
    new ValueError(data, `${bytes} bytes of clip ${i}`, `${got} (the cache file is damaged; delete ${dirname(data)})`);
  return {
    count: index.count,
    labels: index.labels,
    clip: (i) => {
      const f = openFor(i);
      const out = new Float32Array(index.clipSize);
      const got = readSync(f, new Uint8Array(out.buffer), 0, bytes, i * bytes);
      if (got !== bytes) throw damaged(i, got);
      return out;
    },
    clipInto: (i, frames) => {
      const f = openFor(i);
      const total = frames.reduce((n, a) => n + a.length, 0);
      if (total !== index.clipSize)
        throw new ValueError("clipInto frames", `${index.clipSize} floats in all`, String(total));
      // at most IOV_MAX (1024 on Linux) buffers a call
      let got = 0;
      for (let t = 0; t < frames.length; t += 1024) {
        const part = frames.slice(t, t + 1024).map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
        got += readvSync(f, part, i * bytes + got);
      }
      if (got !== bytes) throw damaged(i, got);
    },
  };
}

/** The cached split, or null when it is absent or does not match its index. */
function readSplit(dir: string, split: string): DvsClips | null {
  const indexPath = join(dir, `${split}.json`),
    data = join(dir, `${split}.f32`);
  if (!existsSync(indexPath) || !existsSync(data)) return null;
  let index: SplitIndex;
  try {
    index = JSON.parse(readFileSync(indexPath, "utf8")) as SplitIndex;
  } catch {
    return null;
  }
  if (
    index.format !== "egru-dvs-clips-1" ||
    statSync(data).size !== index.count * index.clipSize * 4 ||
    index.labels.length !== index.count
  )
    return null;
  return fileClips(data, index);
}

/** Make a split's clips, appending each to <split>.f32 as it is made; the index is written last. */
function buildSplit(
  dir: string,
  split: "train" | "test",
  make: (emit: (clip: Float32Array, label: number) => void) => void,
  clipSize: number,
): DvsClips {
  const data = join(dir, `${split}.f32`);
  const part = `${data}.part`;
  const fd = openSync(part, "w");
  const labels: number[] = [];
  try {
    make((clip, label) => {
      if (clip.length !== clipSize) throw new ValueError("clip", `${clipSize} values`, String(clip.length));
      writeSync(fd, new Uint8Array(clip.buffer, clip.byteOffset, clip.byteLength));
      labels.push(label);
    });
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(part, data);
  const index: SplitIndex = { format: "egru-dvs-clips-1", count: labels.length, clipSize, labels };
  writeFileAtomic(join(dir, `${split}.json`), `${JSON.stringify(index)}\n`);
  return fileClips(data, index);
}

/** The train and test clips of a DvsGesture directory (from the cache when it has them). */
export function loadDvsClips(dir: string, d: DvsConfig, cacheRoot: string, log: (m: string) => void): LoadedClips {
  const classes = gestureClasses(dir);
  const f = frameConfig(d);
  const shape = frameShape(f);
  const cacheDir = join(cacheRoot, "dvs-frames", cacheKey(dir, d, classes));
  const cachedTrain = readSplit(cacheDir, "train");
  const cachedTest = readSplit(cacheDir, "test");
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
