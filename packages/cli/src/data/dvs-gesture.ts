// DVS128 Gesture's metadata (isomorphic): the 11 classes, the per-trial labels CSV
// (class,startTime_usec,endTime_usec), the train/test trial lists, and cutting a recording into
// samples. A sample is the events with start ≤ t < end of one CSV row ("row" mode: 1176 train /
// 288 test on the real set, as SpikingJelly counts), or of all rows of one class in a trial
// ("class" mode: the two "arm roll" windows of a trial become one sample, 11 per trial, as the
// paper's 1342 = 122 × 11 counts). Errors name the file and line.

import { ValueError } from "egru";
import type { DvsEvents } from "./aedat.js";

/** Class names 1…11 (the dataset's gesture_mapping.csv). */
export const GESTURE_CLASSES = [
  "hand clapping",
  "right hand wave",
  "left hand wave",
  "right arm clockwise",
  "right arm counter-clockwise",
  "left arm clockwise",
  "left arm counter-clockwise",
  "arm roll",
  "air drums",
  "air guitar",
  "other gestures",
] as const;

export interface GestureLabel {
  /** 1-based class as in the file. */
  cls: number;
  start: number;
  end: number;
}

const HEADER = "class,startTime_usec,endTime_usec";

/** Parse a labels CSV; `classes` is the number of classes allowed (11 for the real set). */
export function parseGestureLabels(
  text: string,
  name: string,
  classes: number = GESTURE_CLASSES.length,
): GestureLabel[] {
  const lines = text.replace(/\r\n/g, "\n").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines[0]?.trim() !== HEADER)
    throw new ValueError(`${name}: line 1`, `the header "${HEADER}"`, JSON.stringify(lines[0] ?? ""));
  const out: GestureLabel[] = [];
  for (let i = 1; i < lines.length; i++) {
    const where = `${name}: line ${i + 1}`;
    const f = lines[i].split(",").map((s) => s.trim());
    if (f.length !== 3 || !f.every((s) => /^\d+$/.test(s)))
      throw new ValueError(where, "three whole numbers: class,start,end", JSON.stringify(lines[i]));
    const [cls, start, end] = f.map(Number);
    // (a time of 2^53 µs or more would be read rounded: not the file's number)
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end))
      throw new ValueError(where, `times below 2^53 µs`, JSON.stringify(lines[i]));
    if (cls < 1 || cls > classes) throw new ValueError(where, `a class in 1…${classes}`, String(cls));
    if (!(start < end)) throw new ValueError(where, "start < end", `${start} ≥ ${end}`);
    out.push({ cls, start, end });
  }
  if (out.length === 0) throw new ValueError(name, "at least one labelled gesture", "none");
  return out;
}

/** The trial names of trials_to_train.txt / trials_to_test.txt ("userNN_lighting.aedat" per line). */
export function parseTrialList(text: string, name: string): string[] {
  const out: string[] = [];
  text
    .replace(/\r\n/g, "\n")
    .split("\n")
    .forEach((line, i) => {
      const l = line.trim();
      if (l === "") return;
      if (!/^user\d+_[a-z_]+\.aedat$/.test(l))
        throw new ValueError(
          `${name}: line ${i + 1}`,
          "a trial file name like user01_natural.aedat",
          JSON.stringify(l),
        );
      out.push(l);
    });
  if (out.length === 0) throw new ValueError(name, "at least one trial", "none");
  return out;
}

/** The first index with t[i] ≥ v (events sorted by time). */
export function lowerBound(t: Float64Array, n: number, v: number): number {
  let lo = 0,
    hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (t[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface GestureSample {
  /** 0-based class (file class − 1). */
  label: number;
  /** Event index ranges [from, to) of the recording, in time order. */
  ranges: [number, number][];
  /** Start of the first window (µs), the time origin of the sample. */
  start: number;
}

/** Cut a recording's events into samples by its labels. */
export function gestureSamples(
  events: DvsEvents,
  labels: GestureLabel[],
  mode: "row" | "class" = "row",
): GestureSample[] {
  const range = (l: GestureLabel): [number, number] => [
    lowerBound(events.t, events.count, l.start),
    lowerBound(events.t, events.count, l.end),
  ];
  if (mode === "row") return labels.map((l) => ({ label: l.cls - 1, ranges: [range(l)], start: l.start }));
  const byClass = new Map<number, GestureLabel[]>();
  for (const l of labels) byClass.set(l.cls, [...(byClass.get(l.cls) ?? []), l]);
  return [...byClass.entries()].map(([cls, ls]) => {
    const sorted = [...ls].sort((a, b) => a.start - b.start);
    return { label: cls - 1, ranges: sorted.map(range), start: sorted[0].start };
  });
}
