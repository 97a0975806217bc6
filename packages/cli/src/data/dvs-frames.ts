// From events to network input (isomorphic), as tonic does it for DVS Gesture: denoise the events,
// slice a sample into fixed windows (incomplete ones dropped), bin each window into frames of event
// counts [T, 2, 128, 128], pool them spatially (sum or max, e.g. to 32×32), merge the polarities
// (mean) if asked, and scale. Training augmentation (random resized crop, rotation) acts on a whole
// clip with the same parameters for every frame.

import { ValueError } from "egru";
import type { Rng } from "egru";
import type { DvsEvents } from "./aedat.js";

export interface FrameConfig {
  /** Window length (µs); each window is one example. Default 1,700,000. */
  windowUs: number;
  /** Frame length (µs). Default 25,000 → 68 frames per window. */
  frameUs: number;
  /** Sensor size (square). Default 128. */
  sensor: number;
  /** Output size after pooling (divides sensor). Default 32. */
  size: number;
  pool: "sum" | "max";
  /** Average the two polarities into one channel. */
  mergePolarities: boolean;
  /** Divide counts by this (the official code: 19.0 for train, 18.5 for test). */
  scale: number;
  /** Drop events with no event in their 3×3 neighbourhood within this many µs before (0 = off). */
  denoiseUs: number;
}

export const DEFAULT_FRAMES: FrameConfig = {
  windowUs: 1_700_000,
  frameUs: 25_000,
  sensor: 128,
  size: 32,
  pool: "sum",
  mergePolarities: false,
  scale: 1,
  denoiseUs: 0,
};

/** Frames per window and channels per frame of a configuration. */
export function frameShape(c: FrameConfig): { T: number; C: number; H: number; W: number; I: number } {
  const T = Math.floor(c.windowUs / c.frameUs);
  const C = c.mergePolarities ? 1 : 2;
  return { T, C, H: c.size, W: c.size, I: C * c.size * c.size };
}

export function checkFrameConfig(c: FrameConfig): void {
  if (!(c.frameUs > 0) || !(c.windowUs >= c.frameUs))
    throw new ValueError("frames", "0 < frameUs ≤ windowUs", `${c.frameUs}, ${c.windowUs}`);
  if (!Number.isInteger(c.size) || c.size < 1 || c.sensor % c.size !== 0)
    throw new ValueError("frames.size", `a divisor of the sensor size ${c.sensor}`, String(c.size));
  if (!(c.scale > 0)) throw new ValueError("frames.scale", "a number > 0", String(c.scale));
}

/**
 * tonic's Denoise: an event is kept when one of its 4 neighbours (left, right, up, down) had an
 * event less than `filterUs` before it. As tonic, every pixel starts as if it had an event at time
 * 0 (so everything in the first filterUs µs of the clock is kept). Returns the indices kept among
 * [from, to).
 */
export function denoise(e: DvsEvents, from: number, to: number, filterUs: number, sensor = 128): Int32Array {
  const W = sensor + 2; // a border that never fires: no bounds checks
  const until = new Float64Array(W * W).fill(-Infinity);
  for (let y = 1; y <= sensor; y++) until.fill(filterUs, y * W + 1, y * W + 1 + sensor);
  const keep: number[] = [];
  for (let i = from; i < to; i++) {
    const k = (e.y[i] + 1) * W + e.x[i] + 1;
    const t = e.t[i];
    until[k] = t + filterUs;
    if (until[k - 1] > t || until[k + 1] > t || until[k - W] > t || until[k + W] > t) keep.push(i);
  }
  return Int32Array.from(keep);
}

/**
 * The windows of a sample: its events (index ranges, in time order, denoised if configured) cut
 * into consecutive windows of windowUs from the first event; the last, incomplete one is dropped.
 * Each window is returned as [T, C, size, size] frames (Float32Array): per polarity the counts
 * pooled (sum or max over each f×f block), then the polarities averaged if merged, then scaled.
 */
export function sampleClips(e: DvsEvents, ranges: [number, number][], c: FrameConfig): Float32Array[] {
  checkFrameConfig(c);
  let idx: number[] = [];
  for (const [a, b] of ranges) {
    if (c.denoiseUs > 0) idx = idx.concat(Array.from(denoise(e, a, b, c.denoiseUs, c.sensor)));
    else for (let i = a; i < b; i++) idx.push(i);
  }
  if (idx.length === 0) return [];
  const t0 = e.t[idx[0]];
  const windows = Math.floor((e.t[idx[idx.length - 1]] - t0) / c.windowUs);
  const { T, C, H, W } = frameShape(c);
  const S = c.sensor;
  const f = S / c.size;
  const maxPool = c.pool === "max" && f > 1;
  const full = maxPool ? new Float32Array(T * 2 * S * S) : null; // full-resolution counts of one window
  const pooled = new Float32Array(T * 2 * H * W);
  const clips: Float32Array[] = [];
  let k = 0;
  for (let w = 0; w < windows; w++) {
    full?.fill(0);
    pooled.fill(0);
    const start = t0 + w * c.windowUs;
    for (; k < idx.length && e.t[idx[k]] < start + c.windowUs; k++) {
      const i = idx[k];
      const fr = Math.floor((e.t[i] - start) / c.frameUs);
      if (fr >= T) continue; // the window's tail shorter than a frame
      if (full) full[((fr * 2 + e.p[i]) * S + e.y[i]) * S + e.x[i]]++;
      else pooled[((fr * 2 + e.p[i]) * H + Math.floor(e.y[i] / f)) * W + Math.floor(e.x[i] / f)]++;
    }
    if (full) {
      for (let q = 0; q < T * 2; q++)
        for (let y = 0; y < S; y++)
          for (let x = 0; x < S; x++) {
            const o = (q * H + Math.floor(y / f)) * W + Math.floor(x / f);
            const v = full[(q * S + y) * S + x];
            if (v > pooled[o]) pooled[o] = v;
          }
    }
    const clip = new Float32Array(T * C * H * W);
    const plane = H * W;
    for (let fr = 0; fr < T; fr++) {
      for (let j = 0; j < plane; j++) {
        const off = pooled[fr * 2 * plane + j],
          on = pooled[(fr * 2 + 1) * plane + j];
        if (c.mergePolarities) clip[fr * plane + j] = (off + on) / 2 / c.scale;
        else {
          clip[fr * 2 * plane + j] = off / c.scale;
          clip[(fr * 2 + 1) * plane + j] = on / c.scale;
        }
      }
    }
    clips.push(clip);
  }
  return clips;
}

/** Training augmentation: crop area scale ≥ minScale, rotation within ±maxDegrees, and (ICLR DVS code) a random perspective. */
export interface ClipAugment {
  minScale: number;
  maxDegrees: number;
  /** torchvision's RandomPerspective(distortion_scale 0.5, p 0.5) between the crop and the rotation. */
  perspective?: boolean;
}

/**
 * Training augmentation of one clip [T, C, S, S] in place of a copy, in torchvision's order: a
 * random resized crop (area scale in [minScale, 1], aspect ratio 3/4…4/3, back to S×S), with
 * `perspective` a random perspective (each corner moved inwards by up to half of half the side, with
 * probability 1/2), and a random rotation within ±maxDegrees about the centre; every step nearest
 * neighbour with zeros outside (torchvision interpolates the perspective bilinearly; event counts
 * stay counts here), the same for every frame of the clip.
 */
export function augmentClip(
  clip: Float32Array,
  T: number,
  C: number,
  S: number,
  rng: Rng,
  o: ClipAugment,
): Float32Array {
  // torchvision's RandomResizedCrop: ten tries at a crop that fits, else the whole frame
  let cw = S,
    chh = S;
  for (let attempt = 0; attempt < 10; attempt++) {
    const area = S * S * (o.minScale + rng.uniform() * (1 - o.minScale));
    const ratio = Math.exp(Math.log(3 / 4) + rng.uniform() * Math.log(16 / 9));
    const w = Math.round(Math.sqrt(area * ratio)),
      h = Math.round(Math.sqrt(area / ratio));
    if (w > 0 && h > 0 && w <= S && h <= S) {
      cw = w;
      chh = h;
      break;
    }
  }
  const x0 = rng.int(S - cw + 1),
    y0 = rng.int(S - chh + 1);
  const warp = o.perspective ? randomPerspective(S, rng) : null;
  const angle = ((rng.uniform() * 2 - 1) * o.maxDegrees * Math.PI) / 180;
  const cos = Math.cos(angle),
    sin = Math.sin(angle),
    mid = (S - 1) / 2;
  // for each output pixel: rotate back, then map into the crop
  const map = new Int32Array(S * S).fill(-1);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const fx = cos * (x - mid) + sin * (y - mid) + mid;
      const fy = -sin * (x - mid) + cos * (y - mid) + mid;
      if (fx < -0.5 || fy < -0.5 || fx > S - 0.5 || fy > S - 0.5) continue;
      let rx = Math.round(fx);
      let ry = Math.round(fy);
      if (warp) {
        // the perspective's inverse: where in the cropped frame this pixel comes from
        const d = warp[6] * rx + warp[7] * ry + 1;
        const px = Math.round((warp[0] * rx + warp[1] * ry + warp[2]) / d);
        const py = Math.round((warp[3] * rx + warp[4] * ry + warp[5]) / d);
        if (!(px >= 0 && py >= 0 && px <= S - 1 && py <= S - 1)) continue;
        rx = px;
        ry = py;
      }
      const sx = x0 + Math.min(cw - 1, Math.floor(((rx + 0.5) * cw) / S));
      const sy = y0 + Math.min(chh - 1, Math.floor(((ry + 0.5) * chh) / S));
      map[y * S + x] = sy * S + sx;
    }
  const out = new Float32Array(clip.length);
  for (let p = 0; p < T * C; p++) {
    const base = p * S * S;
    for (let k = 0; k < S * S; k++) if (map[k] >= 0) out[base + k] = clip[base + map[k]];
  }
  return out;
}

/**
 * torchvision's RandomPerspective(distortion_scale = 0.5, p = 0.5) on an S×S frame: with probability
 * 1/2, each corner of the frame moves inwards by a random whole number of pixels up to
 * ⌊0.5·⌊S/2⌋⌋ in x and in y; returns the 8 coefficients (a, b, c, d, e, f, g, h) that send an output
 * pixel (x, y) to the input pixel ((a·x + b·y + c)/(g·x + h·y + 1), (d·x + e·y + f)/(g·x + h·y + 1)),
 * or null (no warp this time). The random numbers are drawn whether or not the warp applies, so the
 * rotation after it sees the same stream either way.
 */
export function randomPerspective(S: number, rng: Rng): Float64Array | null {
  const apply = rng.uniform() < 0.5;
  const half = Math.floor(S / 2);
  const m = Math.floor(0.5 * half);
  const low = (): number => rng.int(m + 1); // 0 … m
  const high = (): number => S - 1 - rng.int(m + 1); // S − 1 − m … S − 1
  const ends: [number, number][] = [
    [low(), low()],
    [high(), low()],
    [high(), high()],
    [low(), high()],
  ];
  if (!apply) return null;
  const starts: [number, number][] = [
    [0, 0],
    [S - 1, 0],
    [S - 1, S - 1],
    [0, S - 1],
  ];
  return homography(ends, starts);
}

/** The projective map sending each `from` point to its `to` point: 8 coefficients, solved exactly (Gaussian elimination). */
export function homography(from: [number, number][], to: [number, number][]): Float64Array {
  // rows: a·x + b·y + c − g·x·X − h·y·X = X;  d·x + e·y + f − g·x·Y − h·y·Y = Y
  const A: number[][] = [];
  for (let k = 0; k < 4; k++) {
    const [x, y] = from[k];
    const [X, Y] = to[k];
    A.push([x, y, 1, 0, 0, 0, -x * X, -y * X, X]);
    A.push([0, 0, 0, x, y, 1, -x * Y, -y * Y, Y]);
  }
  for (let c = 0; c < 8; c++) {
    let p = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    [A[c], A[p]] = [A[p], A[c]];
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const f = A[r][c] / A[c][c];
      for (let k = c; k < 9; k++) A[r][k] -= f * A[c][k];
    }
  }
  return Float64Array.from({ length: 8 }, (_, c) => A[c][8] / A[c][c]);
}
