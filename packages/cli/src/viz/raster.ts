// The event raster: for one input, which units emitted an event at which step. One panel per EGRU
// layer (units × time), one <rect class="event"> per nonzero output coloured by its graded value
// (viridis, with a colour bar), the time axis labelled with step numbers or with the input's tokens.

import { scaleLinear } from "d3-scale";
import { interpolateViridis } from "d3-scale-chromatic";
import { compact } from "./axes.js";
import { el, num, svgDocument, text } from "./svg.js";

export interface RasterLayer {
  name: string;
  /** Units H. */
  units: number;
  /** The layer's outputs for one input, time-major [T, H] (0 = silent). */
  values: ArrayLike<number>;
}

export interface RasterInput {
  /** Input features per step I (e.g. 28 pixels of an MNIST row). */
  features: number;
  /** The input, time-major [T, I]; drawn in grey (0 white, the largest value black). */
  values: ArrayLike<number>;
}

export interface RasterOptions {
  title: string;
  T: number;
  layers: RasterLayer[];
  /** A classifier's input, drawn as a first panel (features × time) above the layers. */
  input?: RasterInput;
  /** One label per step (words of a sentence); default: step numbers. */
  stepLabels?: string[];
  width?: number;
}

/** Count the events (nonzero outputs) of a layer. */
export function eventCount(l: RasterLayer): number {
  let n = 0;
  for (let i = 0; i < l.values.length; i++) if (l.values[i] !== 0) n++;
  return n;
}

export function eventRaster(o: RasterOptions): string {
  const { T, layers } = o;
  for (const l of layers) {
    if (l.values.length !== T * l.units)
      throw new RangeError(`raster layer ${l.name}: ${l.values.length} values for T·H = ${T}·${l.units}`);
  }
  const words = o.stepLabels !== undefined && o.stepLabels.length === T;
  const width = o.width ?? Math.max(560, Math.min(1400, 120 + T * (words ? 16 : 4)));
  const left = 70,
    right = width - 90,
    top = 36;
  const gap = 28;
  const heights = layers.map((l) => Math.max(90, Math.min(300, l.units)));
  const inputH = o.input ? Math.max(40, Math.min(160, o.input.features * 4)) : 0;
  if (o.input && o.input.values.length !== T * o.input.features) {
    throw new RangeError(`raster input: ${o.input.values.length} values for T·I = ${T}·${o.input.features}`);
  }
  const bottomRoom = words ? 90 : 44;
  const height =
    top + (o.input ? inputH + gap : 0) + heights.reduce((a, b) => a + b, 0) + gap * (layers.length - 1) + bottomRoom;
  let vmax = 0;
  for (const l of layers) for (let i = 0; i < l.values.length; i++) vmax = Math.max(vmax, Math.abs(l.values[i]));
  if (vmax === 0) vmax = 1;
  const colour = (v: number): string => interpolateViridis(Math.min(1, Math.abs(v) / vmax) * 0.9 + 0.1);
  const x = scaleLinear().domain([0, T]).range([left, right]);
  const cw = (right - left) / T;
  const body: string[] = [text(o.title, { x: left, y: 20, "font-size": 14, "font-weight": "bold" })];
  let y0 = top;
  if (o.input) {
    const { features: I, values } = o.input;
    // more features than pixel rows: each row shows the largest |value| of a group of features
    const rows = Math.min(I, 160);
    const grid = new Float64Array(T * rows);
    for (let t = 0; t < T; t++)
      for (let f = 0; f < I; f++) {
        const r = Math.floor((f * rows) / I);
        grid[t * rows + r] = Math.max(grid[t * rows + r], Math.abs(values[t * I + f]));
      }
    let imax = 0;
    for (let i = 0; i < grid.length; i++) imax = Math.max(imax, grid[i]);
    const ch = inputH / rows;
    const cells: string[] = [];
    for (let t = 0; t < T; t++) {
      for (let r = 0; r < rows; r++) {
        const v = imax > 0 ? grid[t * rows + r] / imax : 0;
        if (v < 0.02) continue;
        const g = Math.round(255 * (1 - v));
        cells.push(el("rect", { x: x(t), y: y0 + r * ch, width: cw, height: ch, fill: `rgb(${g},${g},${g})` }));
      }
    }
    body.push(el("rect", { x: left, y: y0, width: right - left, height: inputH, fill: "#ffffff", stroke: "#999" }));
    body.push(el("g", { class: "input" }, cells));
    const grouped = rows < I ? ` (a row: the largest of ${Math.ceil(I / rows)})` : "";
    body.push(
      text(`input: ${I} feature${I === 1 ? "" : "s"} per step${grouped}`, {
        x: left + 4,
        y: y0 - 4,
        "font-size": 11,
        fill: "#333",
      }),
    );
    body.push(
      text("feature", {
        x: 0,
        y: 0,
        transform: `translate(${num(left - 30)},${num(y0 + inputH / 2)}) rotate(-90)`,
        "text-anchor": "middle",
        "font-size": 11,
      }),
    );
    y0 += inputH + gap;
  }
  const layersTop = y0;
  layers.forEach((l, li) => {
    const h = heights[li];
    const ch = h / l.units;
    const marks: string[] = [];
    for (let t = 0; t < T; t++) {
      for (let u = 0; u < l.units; u++) {
        const v = l.values[t * l.units + u];
        if (v === 0) continue;
        marks.push(
          el("rect", {
            class: "event",
            x: x(t),
            y: y0 + u * ch,
            width: Math.max(cw, 0.6),
            height: Math.max(ch, 0.6),
            fill: colour(v),
          }),
        );
      }
    }
    const rate = eventCount(l) / Math.max(1, l.values.length);
    body.push(el("rect", { x: left, y: y0, width: right - left, height: h, fill: "#f7f7f7", stroke: "#999" }));
    body.push(el("g", { class: "layer", "data-name": l.name }, marks));
    body.push(
      text(`${l.name}: ${l.units} units, ${(100 * rate).toFixed(1)} % active`, {
        x: left + 4,
        y: y0 - 4,
        "font-size": 11,
        fill: "#333",
      }),
    );
    body.push(
      text("unit", {
        x: 0,
        y: 0,
        transform: `translate(${num(left - 30)},${num(y0 + h / 2)}) rotate(-90)`,
        "text-anchor": "middle",
      }),
    );
    body.push(text("0", { x: left - 4, y: y0 + 10, "text-anchor": "end", "font-size": 10 }));
    body.push(text(String(l.units - 1), { x: left - 4, y: y0 + h, "text-anchor": "end", "font-size": 10 }));
    y0 += h + gap;
  });
  const axisY = y0 - gap;
  if (words) {
    o.stepLabels!.forEach((w, t) => {
      const px = x(t) + cw / 2;
      body.push(
        text(w, {
          x: 0,
          y: 0,
          transform: `translate(${num(px + 3)},${num(axisY + 8)}) rotate(-60)`,
          "text-anchor": "end",
          "font-size": 10,
        }),
      );
    });
    body.push(text("input token (time →)", { x: (left + right) / 2, y: height - 6, "text-anchor": "middle" }));
  } else {
    for (const t of x.ticks(8).filter(Number.isInteger)) {
      body.push(el("line", { x1: x(t), x2: x(t), y1: axisY, y2: axisY + 4, stroke: "#333" }));
      body.push(text(String(t), { x: x(t), y: axisY + 16, "text-anchor": "middle" }));
    }
    body.push(text("time step", { x: (left + right) / 2, y: height - 8, "text-anchor": "middle" }));
  }
  // colour bar: graded output value
  const barTop = layersTop,
    barH = Math.min(200, axisY - layersTop);
  const stops = Array.from({ length: 11 }, (_, i) =>
    el("stop", { offset: `${i * 10}%`, "stop-color": interpolateViridis(1 - (i / 10) * 0.9) }),
  );
  body.push(el("defs", {}, el("linearGradient", { id: "raster-scale", x1: 0, x2: 0, y1: 0, y2: 1 }, stops)));
  body.push(
    el("rect", { x: right + 20, y: barTop, width: 14, height: barH, fill: "url(#raster-scale)", stroke: "#999" }),
  );
  body.push(text(compact(vmax), { x: right + 38, y: barTop + 9, "font-size": 10 }));
  body.push(text("0", { x: right + 38, y: barTop + barH, "font-size": 10 }));
  body.push(
    text("output y", {
      x: 0,
      y: 0,
      transform: `translate(${num(right + 60)},${num(barTop + barH / 2)}) rotate(-90)`,
      "text-anchor": "middle",
      "font-size": 11,
    }),
  );
  return svgDocument(width, height, o.title, body);
}
