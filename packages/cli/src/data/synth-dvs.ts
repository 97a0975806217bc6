// Synthetic DVS gesture recordings (isomorphic), in the real dataset's layout, for proving the
// reader, the transforms and training without the real 3 GB archive. A "gesture" is a disc moving
// across a 128×128 sensor (or a bar rotating about the centre), seen as an event camera sees it:
// ON events on the leading edge, OFF events on the trailing edge, plus uniform background noise.
// Each trial holds every class once, in a random order, separated by pauses of noise only.

import { Rng, ValueError } from "egru";
import { eventsFromRows, type DvsEvents } from "./aedat.js";
import type { GestureLabel } from "./dvs-gesture.js";

/** The synthetic classes, in label order (1-based in files). */
export const SYNTH_CLASSES = [
  "disc moving right",
  "disc moving left",
  "disc moving down",
  "disc moving up",
  "bar rotating clockwise",
  "bar rotating counter-clockwise",
] as const;

export interface SynthOptions {
  /** How many classes (2…6). */
  classes: number;
  /** Length of one gesture (µs). Default 2,000,000 (longer than the 1.7 s windows). */
  gestureUs?: number;
  /** Pause between gestures (µs). Default 300,000. */
  pauseUs?: number;
  /** Edge events per millisecond while a gesture runs. Default 8. */
  rate?: number;
  /** Noise events per millisecond, throughout. Default 1. */
  noise?: number;
}

const SIZE = 128;

/** Events of a gesture of class `cls` (0-based) over [t0, t0 + duration) µs, appended to `out`. */
function gestureEvents(rng: Rng, cls: number, t0: number, duration: number, rate: number, out: number[][]): void {
  const r = 10 + rng.uniform() * 6; // disc radius / bar half-length scale
  const speed = 0.7 + rng.uniform() * 0.6; // relative speed
  const offset = (rng.uniform() - 0.5) * 30; // off-centre track
  const ms = Math.floor(duration / 1000);
  for (let m = 0; m < ms; m++) {
    const u = Math.min(1, (m / ms) * speed + (1 - speed) / 2); // progress 0…1
    for (let k = 0; k < rate; k++) {
      let x: number, y: number, on: boolean;
      const a = rng.uniform() * 2 * Math.PI;
      if (cls < 4) {
        // a disc crossing the sensor; the edge point's normal against the motion decides ON / OFF
        const along = -r + u * (SIZE + 2 * r);
        const [cx, cy, vx, vy] =
          cls === 0
            ? [along, 64 + offset, 1, 0]
            : cls === 1
              ? [SIZE - along, 64 + offset, -1, 0]
              : cls === 2
                ? [64 + offset, along, 0, 1]
                : [64 + offset, SIZE - along, 0, -1];
        x = cx + r * Math.cos(a);
        y = cy + r * Math.sin(a);
        on = Math.cos(a) * vx + Math.sin(a) * vy > 0;
      } else {
        // a bar through the centre turning half a revolution; its sweep decides ON / OFF
        const dir = cls === 4 ? 1 : -1;
        const angle = dir * u * Math.PI;
        const s = (rng.uniform() * 2 - 1) * 3 * r;
        const side = rng.uniform() < 0.5 ? 1 : -1;
        x = 64 + s * Math.cos(angle) - side * 1.5 * Math.sin(angle);
        y = 64 + s * Math.sin(angle) + side * 1.5 * Math.cos(angle);
        on = side * s * dir > 0;
      }
      const xi = Math.round(x),
        yi = Math.round(y);
      if (xi < 0 || yi < 0 || xi >= SIZE || yi >= SIZE) continue;
      out.push([t0 + m * 1000 + Math.floor(rng.uniform() * 1000), xi, yi, on ? 1 : 0]);
    }
  }
}

/** One trial: every class once in a random order; its events (sorted by time) and labels. */
export function synthTrial(seed: number, o: SynthOptions): { events: DvsEvents; labels: GestureLabel[] } {
  if (!Number.isInteger(o.classes) || o.classes < 2 || o.classes > SYNTH_CLASSES.length) {
    throw new ValueError("classes", `a whole number in 2…${SYNTH_CLASSES.length}`, String(o.classes));
  }
  const rng = new Rng(seed);
  const gesture = o.gestureUs ?? 2_000_000;
  const pause = o.pauseUs ?? 300_000;
  const rate = o.rate ?? 8;
  const noise = o.noise ?? 1;
  const order = Array.from(rng.permutation(o.classes));
  const raw: number[][] = [];
  const labels: GestureLabel[] = [];
  let t = pause + Math.floor(rng.uniform() * 100_000);
  for (const cls of order) {
    gestureEvents(rng, cls, t, gesture, rate, raw);
    labels.push({ cls: cls + 1, start: t, end: t + gesture });
    t += gesture + pause;
  }
  const total = t;
  const noiseEvents = Math.round((total / 1000) * noise);
  for (let k = 0; k < noiseEvents; k++)
    raw.push([Math.floor(rng.uniform() * total), rng.int(SIZE), rng.int(SIZE), rng.int(2)]);
  raw.sort((a, b) => a[0] - b[0]);
  return { events: eventsFromRows(raw), labels };
}

/** A labels CSV as the real dataset writes it. */
export function labelsCsv(labels: GestureLabel[]): string {
  return `class,startTime_usec,endTime_usec\n${labels.map((l) => `${l.cls},${l.start},${l.end}`).join("\n")}\n`;
}
