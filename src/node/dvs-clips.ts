// DVS Gesture clips for training (Node only): read a split's recordings, cut samples into windows
// of frames (data/dvs-frames.ts), and cache the result on disk, keyed by the frame configuration and
// the recordings' names, sizes and modification times, so a second run does not parse the
// recordings again. The cache lives in <cache>/dvs-frames/<key>/{train,test}.safetensors.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { decodeSafetensors, encodeSafetensors } from "../data/safetensors.js";
import { frameShape, sampleClips, type FrameConfig } from "../data/dvs-frames.js";
import { parseTrialList } from "../data/dvs-gesture.js";
import type { DvsConfig } from "../train/config.js";
import type { DvsClips } from "../train/dvs-task.js";
import { writeFileAtomic } from "./checkpoint.js";
import { loadGestureSplit } from "./dvs-files.js";

/** The frame configuration of a run's dvs settings. */
export function frameConfig(d: DvsConfig): FrameConfig {
  return {
    windowUs: d.windowMs * 1000, frameUs: d.frameMs * 1000, sensor: 128, size: d.size, pool: d.pool,
    mergePolarities: d.mergePolarities, scale: d.scale, denoiseUs: d.denoiseMs * 1000,
  };
}

/** Classes of a dataset directory: the rows of gesture_mapping.csv (11 for the real set). */
export function gestureClasses(dir: string): number {
  const p = join(dir, "gesture_mapping.csv");
  if (!existsSync(p)) return 11;
  const rows = readFileSync(p, "utf8").trim().split(/\r?\n/).slice(1).filter((l) => l.trim() !== "");
  return rows.length;
}

function cacheKey(dir: string, d: DvsConfig, classes: number): string {
  const files: [string, number, number][] = [];
  for (const split of ["train", "test"]) {
    const list = join(dir, `trials_to_${split}.txt`);
    if (!existsSync(list)) continue;
    for (const name of parseTrialList(readFileSync(list, "utf8"), list)) {
      for (const f of [name, name.replace(/\.aedat$/, "_labels.csv")]) {
        const p = join(dir, f);
        if (existsSync(p)) {
          const s = statSync(p);
          files.push([f, s.size, Math.round(s.mtimeMs)]);
        }
      }
    }
  }
  const what = { format: 1, frames: frameConfig(d), samples: d.samples, classes, ignoreValidMark: d.ignoreValidMark, skipBad: d.skipBad, files };
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

function readSplit(path: string): DvsClips {
  const { tensors } = decodeSafetensors(readFileSync(path), path);
  const { clips, labels } = tensors;
  const n = labels.shape[0];
  const size = n > 0 ? clips.data.length / n : 0;
  return { labels: Array.from(labels.data), clips: Array.from({ length: n }, (_, i) => clips.data.subarray(i * size, (i + 1) * size)) };
}

function writeSplit(path: string, s: DvsClips, size: number): void {
  const all = new Float32Array(s.clips.length * size);
  s.clips.forEach((c, i) => all.set(c, i * size));
  writeFileAtomic(path, encodeSafetensors({ clips: { shape: [s.clips.length, size], data: all }, labels: { shape: [s.labels.length], data: Float32Array.from(s.labels) } }, { format: "egru-dvs-clips-1" }));
}

/** The train and test clips of a DvsGesture directory (from the cache when it has them). */
export function loadDvsClips(dir: string, d: DvsConfig, cacheRoot: string, log: (m: string) => void): LoadedClips {
  const classes = gestureClasses(dir);
  const f = frameConfig(d);
  const shape = frameShape(f);
  const cacheDir = join(cacheRoot, "dvs-frames", cacheKey(dir, d, classes));
  const paths = { train: join(cacheDir, "train.safetensors"), test: join(cacheDir, "test.safetensors") };
  if (existsSync(paths.train) && existsSync(paths.test)) {
    return { train: readSplit(paths.train), test: readSplit(paths.test), classes, shape, skipped: [], cached: true, cacheDir };
  }
  const skipped: { name: string; reason: string }[] = [];
  const split = (name: "train" | "test"): DvsClips => {
    const r = loadGestureSplit(dir, name, { classes, skipBad: d.skipBad, mode: d.samples, respectValidMark: !d.ignoreValidMark });
    for (const s of r.skipped) log(`egru train: skipped ${s.name}: ${s.reason}`);
    skipped.push(...r.skipped);
    const out: DvsClips = { clips: [], labels: [] };
    for (const t of r.trials) {
      for (const s of t.samples) {
        for (const c of sampleClips(t.events, s.ranges, f)) {
          out.clips.push(c);
          out.labels.push(s.label);
        }
      }
    }
    return out;
  };
  const train = split("train");
  const test = split("test");
  mkdirSync(cacheDir, { recursive: true });
  const size = shape.T * shape.I;
  writeSplit(paths.train, train, size);
  writeSplit(paths.test, test, size);
  return { train, test, classes, shape, skipped, cached: false, cacheDir };
}
