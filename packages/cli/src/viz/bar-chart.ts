// Grouped bar charts: categories along x (layers), one bar per group member (dense vs executed
// multiply-accumulates), each bar a <rect class="bar"> with its value printed above it.

import { scaleBand } from "d3-scale";
import { compact, frame, legend, legendWidth } from "./axes.js";
import { el, seriesColour, svgDocument, text } from "./svg.js";

export interface BarGroup {
  name: string;
  colour?: string;
  /** One value per category. */
  values: number[];
}

export interface BarChartOptions {
  title: string;
  yLabel: string;
  categories: string[];
  groups: BarGroup[];
  /** Text under each bar's value, e.g. the share of the first group (default none). */
  note?: (group: number, category: number) => string;
  width?: number;
  height?: number;
}

export function barChart(o: BarChartOptions): string {
  const ymax = Math.max(1e-9, ...o.groups.flatMap((g) => g.values.filter(Number.isFinite)));
  const entries = o.groups.map((g, i) => ({ name: g.name, colour: g.colour ?? seriesColour(i) }));
  const lw = legendWidth(entries);
  const f = frame({
    title: o.title,
    xLabel: "",
    yLabel: o.yLabel,
    xDomain: [0, 1],
    yDomain: [0, ymax * 1.12],
    width: (o.width ?? 640) + lw,
    height: o.height,
    noXTicks: true,
    legendWidth: lw,
  });
  const band = scaleBand().domain(o.categories).range([f.left, f.right]).padding(0.25);
  const inner = scaleBand()
    .domain(o.groups.map((g) => g.name))
    .range([0, band.bandwidth()])
    .padding(0.08);
  const marks: string[] = [];
  o.categories.forEach((c, ci) => {
    const x0 = band(c) ?? 0;
    marks.push(text(c, { x: x0 + band.bandwidth() / 2, y: f.bottom + 17, "text-anchor": "middle", fill: "#333" }));
    o.groups.forEach((g, gi) => {
      const v = g.values[ci];
      if (!Number.isFinite(v)) return;
      const x = x0 + (inner(g.name) ?? 0);
      const y = f.y(v);
      marks.push(
        el("rect", {
          class: "bar",
          x,
          y,
          width: inner.bandwidth(),
          height: f.bottom - y,
          fill: g.colour ?? seriesColour(gi),
        }),
      );
      const note = o.note?.(gi, ci);
      marks.push(
        text(note ? `${compact(v)} (${note})` : compact(v), {
          x: x + inner.bandwidth() / 2,
          y: y - 4,
          "text-anchor": "middle",
          "font-size": 10,
        }),
      );
    });
  });
  return svgDocument(f.width, f.height, o.title, [...f.under, el("g", { class: "marks" }, marks), legend(f, entries)]);
}
