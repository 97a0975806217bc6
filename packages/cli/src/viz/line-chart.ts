// Line charts: one or more series of (x, y) points over a shared frame (learning curves, sparsity
// over training, executed share of MACs). Each series is one <path class="series">; series with
// few points (per-epoch validation) also get a <circle class="dot"> per point.

import { frame, legend, legendWidth, type FrameOptions, type LegendEntry } from "./axes.js";
import { el, num, seriesColour, svgDocument } from "./svg.js";

export interface Series {
  name: string;
  points: [number, number][];
  colour?: string;
  dashed?: boolean;
  /** Draw a dot per point (default: when there are at most 60 points). */
  dots?: boolean;
}

export interface LineChartOptions extends Omit<FrameOptions, "xDomain" | "yDomain"> {
  series: Series[];
  /** Force the y domain (e.g. [0, 1] for fractions); default: the data's range. */
  yDomain?: [number, number];
  xDomain?: [number, number];
}

function finitePoints(s: Series, log: boolean): [number, number][] {
  return s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0));
}

export function lineChart(o: LineChartOptions): string {
  const log = o.yLog === true;
  const pts = o.series.map((s) => finitePoints(s, log));
  const all = pts.flat();
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const dotted = (s: Series, i: number): boolean => s.dots ?? pts[i].length <= 60;
  const entries: LegendEntry[] =
    o.series.length > 1
      ? o.series.map((s, i) => ({
          name: s.name,
          colour: s.colour ?? seriesColour(i),
          dashed: s.dashed,
          dot: dotted(s, i) && pts[i].length < 2,
        }))
      : [];
  const f = frame({
    ...o,
    width: (o.width ?? 640) + legendWidth(entries),
    legendWidth: legendWidth(entries),
    xDomain: o.xDomain ?? [Math.min(...xs), Math.max(...xs)],
    yDomain: o.yDomain ?? [Math.min(...ys), Math.max(...ys)],
  });
  const marks: string[] = [];
  o.series.forEach((s, i) => {
    const p = pts[i];
    if (p.length === 0) return;
    const colour = s.colour ?? seriesColour(i);
    const d = p.map(([x, y], k) => `${k === 0 ? "M" : "L"}${num(f.x(x))},${num(f.y(y))}`).join("");
    marks.push(
      el("path", {
        class: "series",
        "data-name": s.name,
        d,
        fill: "none",
        stroke: colour,
        "stroke-width": 1.8,
        "stroke-dasharray": s.dashed ? "5,3" : undefined,
      }),
    );
    if (dotted(s, i)) {
      for (const [x, y] of p) marks.push(el("circle", { class: "dot", cx: f.x(x), cy: f.y(y), r: 3, fill: colour }));
    }
  });
  return svgDocument(f.width, f.height, o.title, [...f.under, el("g", { class: "marks" }, marks), legend(f, entries)]);
}
