// DVS128 Gesture on disk (Node only): streaming an .aedat file through the reader in chunks, a
// trial's labels CSV, the official split lists, loading a split (with --skip-bad: a bad recording is
// skipped and reported, never dropped silently), and writing a synthetic set in the same layout.

import { closeSync, existsSync, mkdirSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { StateError, ValueError } from "egru";
import { checkIsFile, readFileText } from "egru/node";
import { AedatError, AedatReader, type AedatOptions, type AedatStats, type DvsEvents } from "../data/aedat.js";
import { writeAedat } from "../data/aedat-write.js";
import {
  gestureSamples,
  parseGestureLabels,
  parseTrialList,
  type GestureLabel,
  type GestureSample,
} from "../data/dvs-gesture.js";
import { labelsCsv, SYNTH_CLASSES, synthTrial, type SynthOptions } from "../data/synth-dvs.js";
import { writeFileAtomic } from "./atomic-file.js";

const CHUNK = 4 << 20;

/** Read an .aedat file in 4 MiB chunks (memory: the events, not the file). */
export function readAedatFile(path: string, opts: AedatOptions = {}): { events: DvsEvents; stats: AedatStats } {
  const reader = new AedatReader(path, opts);
  checkIsFile(path, "an AEDAT recording");
  const fd = openSync(path, "r");
  try {
    const buf = new Uint8Array(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      reader.push(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return { events: reader.end(), stats: reader.stats };
}

export interface GestureTrial {
  name: string;
  events: DvsEvents;
  labels: GestureLabel[];
  samples: GestureSample[];
  stats: AedatStats;
}

export interface LoadSplitOptions extends AedatOptions {
  /** Skip a recording that fails to read (listed in `skipped`) instead of stopping. */
  skipBad?: boolean;
  mode?: "row" | "class";
  /** Classes the labels may use (11 for the real set). */
  classes?: number;
}

/** The trials of the official train or test list of a DvsGesture directory, all in memory. */
export function loadGestureSplit(
  dir: string,
  split: "train" | "test",
  o: LoadSplitOptions = {},
): { trials: GestureTrial[]; skipped: { name: string; reason: string }[] } {
  const trials: GestureTrial[] = [];
  const skipped = forEachGestureTrial(dir, split, o, (t) => trials.push(t));
  return { trials, skipped };
}

/**
 * Read the trials of a split one at a time (memory: one recording's events) and hand each to `fn`;
 * returns the recordings skipped (skipBad) with the reason.
 */
export function forEachGestureTrial(
  dir: string,
  split: "train" | "test",
  o: LoadSplitOptions,
  fn: (t: GestureTrial) => void,
): { name: string; reason: string }[] {
  const listPath = join(dir, `trials_to_${split}.txt`);
  if (!existsSync(listPath))
    throw new ValueError("DVS Gesture directory", `${listPath} (the dataset's split list)`, "missing");
  const names = parseTrialList(readFileText(listPath, "the split's list of recordings"), listPath);
  const skipped: { name: string; reason: string }[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (!existsSync(path)) throw new ValueError(path, "a recording listed in the split", "missing");
      const labelPath = path.replace(/\.aedat$/, "_labels.csv");
      if (!existsSync(labelPath)) throw new ValueError(labelPath, "the recording's labels", "missing");
      const labels = parseGestureLabels(readFileText(labelPath, "the recording's labels"), labelPath, o.classes ?? 11);
      const { events, stats } = readAedatFile(path, o);
      fn({ name, events, labels, samples: gestureSamples(events, labels, o.mode ?? "row"), stats });
    } catch (e) {
      if (!o.skipBad || !(e instanceof AedatError || e instanceof ValueError || e instanceof StateError)) throw e;
      skipped.push({ name, reason: e.message });
    }
  }
  return skipped;
}

export interface SynthSetOptions extends SynthOptions {
  trainUsers: number;
  testUsers: number;
  seed: number;
}

/** Write a synthetic DvsGesture directory: recordings, labels, split lists and gesture_mapping.csv. */
export function writeSynthGestures(dir: string, o: SynthSetOptions): { files: number; events: number } {
  mkdirSync(dir, { recursive: true });
  const train: string[] = [];
  const test: string[] = [];
  let events = 0;
  const users = o.trainUsers + o.testUsers;
  for (let u = 1; u <= users; u++) {
    const name = `user${String(u).padStart(2, "0")}_natural`;
    const t = synthTrial(o.seed * 1000 + u, o);
    events += t.events.count;
    writeFileAtomic(join(dir, `${name}.aedat`), writeAedat(t.events));
    writeFileAtomic(join(dir, `${name}_labels.csv`), labelsCsv(t.labels));
    (u <= o.trainUsers ? train : test).push(`${name}.aedat`);
  }
  writeFileAtomic(join(dir, "trials_to_train.txt"), `${train.join("\n")}\n`);
  writeFileAtomic(join(dir, "trials_to_test.txt"), `${test.join("\n")}\n`);
  writeFileAtomic(
    join(dir, "gesture_mapping.csv"),
    `action,label\n${SYNTH_CLASSES.slice(0, o.classes)
      .map((c, i) => `${c.replace(/ /g, "_")},${i + 1}`)
      .join("\n")}\n`,
  );
  return { files: 2 * users + 3, events };
}
