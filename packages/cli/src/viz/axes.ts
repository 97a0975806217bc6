// The plotting frame every chart shares: a plot area inside margins, d3 scales for x and y, tick
// marks with labels and light grid lines, axis titles (with units), a chart title and a legend.

import { scaleLinear, scaleLog, type ScaleLinear, type ScaleLogarithmic } from "d3-scale";
import { el, num, text } from "./svg.js";

export type Scale = ScaleLinear<number, number> | ScaleLogarithmic<number, number>;

export interface FrameOptions {
  width?: number;
  height?: number;
  title: string;
  xLabel: string;
  yLabel: string;
  xDomain: [number, number];
  yDomain: [number, number];
  yLog?: boolean;
  /** Integer ticks only on x (steps, epochs). */
  xIntegers?: boolean;
  /** Room for the x tick labels (e.g. rotated words). */
  bottom?: number;
  /** No numeric x ticks (category axes draw their own labels). */
  noXTicks?: boolean;
  /** Room on the right of the plot area for a legend (see legend()). */
  legendWidth?: number;
}

export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  x: Scale;
  y: Scale;
  /** Axes, grid, titles: drawn under the marks. */
  under: string[];
}

/** A domain that is not empty (d3 maps an empty one to the middle). */
function widen([a, b]: [number, number], log: boolean): [number, number] {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return log ? [1, 10] : [0, 1];
  if (a === b) return log ? [a / 2, b * 2] : a === 0 ? [0, 1] : [a - Math.abs(a) / 2, b + Math.abs(b) / 2];
  return [Math.min(a, b), Math.max(a, b)];
}

export function frame(o: FrameOptions): Frame {
  const width = o.width ?? 640;
  const height = o.height ?? 360;
  const left = 70;
  const right = width - 20 - (o.legendWidth ?? 0);
  const top = 36;
  const bottom = height - (o.bottom ?? 48);
  const xd = widen(o.xDomain, false);
  const x = scaleLinear().domain(xd).range([left, right]);
  const log = o.yLog === true && o.yDomain[0] > 0;
  const yd = widen(o.yDomain, log);
  const y: Scale = log
    ? scaleLog().domain(yd).range([bottom, top]).nice()
    : scaleLinear().domain(yd).range([bottom, top]).nice();
  const under: string[] = [];
  under.push(text(o.title, { x: left, y: 20, "font-size": 14, "font-weight": "bold" }));
  // y ticks and grid
  const yTicks = log ? logTicks(y as ScaleLogarithmic<number, number>) : (y as ScaleLinear<number, number>).ticks(6);
  const big = Math.max(...yd.map(Math.abs)) >= 1e4;
  const yFmt = big ? compact : y.tickFormat(6);
  for (const t of yTicks) {
    const py = y(t);
    under.push(el("line", { x1: left, x2: right, y1: py, y2: py, stroke: "#e5e5e5" }));
    under.push(text(log || big ? compact(t) : yFmt(t), { x: left - 6, y: py + 4, "text-anchor": "end", fill: "#333" }));
  }
  // x ticks
  let xTicks = o.noXTicks ? [] : x.ticks(8);
  if (o.xIntegers) xTicks = xTicks.filter((t) => Number.isInteger(t));
  const xFmt = x.tickFormat(8);
  for (const t of xTicks) {
    const px = x(t);
    under.push(el("line", { x1: px, x2: px, y1: bottom, y2: bottom + 4, stroke: "#333" }));
    under.push(text(xFmt(t), { x: px, y: bottom + 17, "text-anchor": "middle", fill: "#333" }));
  }
  under.push(el("path", { d: `M${num(left)},${num(top)}V${num(bottom)}H${num(right)}`, fill: "none", stroke: "#333" }));
  under.push(text(o.xLabel, { x: (left + right) / 2, y: height - 8, "text-anchor": "middle" }));
  under.push(
    text(o.yLabel, {
      x: 0,
      y: 0,
      transform: `translate(16,${num((top + bottom) / 2)}) rotate(-90)`,
      "text-anchor": "middle",
    }),
  );
  return { width, height, left, right, top, bottom, x, y, under };
}

/** Log-axis ticks: the powers of ten in range, with 2 and 5 between them when there are few. */
function logTicks(y: ScaleLogarithmic<number, number>): number[] {
  const [a, b] = y.domain();
  const out: number[] = [];
  const few = Math.log10(b / a) < 2;
  for (let e = Math.floor(Math.log10(a)); e <= Math.ceil(Math.log10(b)); e++) {
    for (const m of few ? [1, 2, 5] : [1]) {
      const v = m * 10 ** e;
      if (v >= a * (1 - 1e-9) && v <= b * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

/** 1500 → "1.5k", 0.002 → "0.002". */
export function compact(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
}

export interface LegendEntry {
  name: string;
  colour: string;
  dashed?: boolean;
  dot?: boolean;
}

/** The width a legend of these entries needs (pass it to frame() as legendWidth). */
export function legendWidth(entries: LegendEntry[]): number {
  return entries.length === 0 ? 0 : Math.max(...entries.map((e) => e.name.length)) * 7 + 50;
}

/** A legend to the right of the plot area (in the room frame() left with legendWidth): a swatch and a name per entry. */
export function legend(f: Frame, entries: LegendEntry[]): string {
  if (entries.length === 0) return "";
  const w = legendWidth(entries) - 10;
  const h = entries.length * 18 + 8;
  const x0 = f.right + 10;
  const y0 = f.top;
  const rows = entries.map((e, i) => {
    const y = y0 + 15 + i * 18;
    const swatch = e.dot
      ? el("circle", { cx: x0 + 17, cy: y - 4, r: 3.5, fill: e.colour })
      : el("line", {
          x1: x0 + 8,
          x2: x0 + 26,
          y1: y - 4,
          y2: y - 4,
          stroke: e.colour,
          "stroke-width": 2,
          "stroke-dasharray": e.dashed ? "5,3" : undefined,
        });
    return swatch + text(e.name, { x: x0 + 32, y });
  });
  return el("g", { class: "legend" }, [
    el("rect", { x: x0, y: y0, width: w, height: h, fill: "#ffffff", stroke: "#ccc" }),
    ...rows,
  ]);
}
