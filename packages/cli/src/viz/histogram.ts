// Histograms of a quantity per layer, drawn as outlined steps over a shared frame, with optional
// shaded bands and reference lines. Used for the distribution of c − ϑ (the internal state's
// distance to the threshold) with the surrogate window |c − ϑ| < 1/s shaded.

import { frame, legend, legendWidth } from "./axes.js";
import { el, num, seriesColour, svgDocument, text } from "./svg.js";

export interface HistogramSeries {
  name: string;
  /** Bin counts over [lo, hi) in equal bins. */
  counts: ArrayLike<number>;
}

export interface HistogramOptions {
  title: string;
  xLabel: string;
  lo: number;
  hi: number;
  series: HistogramSeries[];
  /** Shaded x-intervals with a label (e.g. the surrogate window). */
  bands?: { from: number; to: number; label: string }[];
  /** Vertical reference lines. */
  lines?: { at: number; label: string }[];
  width?: number;
  height?: number;
}

/** Histograms as fractions of each series' total per bin. */
export function histogramChart(o: HistogramOptions): string {
  const bins = o.series.length ? o.series[0].counts.length : 1;
  const w = (o.hi - o.lo) / bins;
  const fractions = o.series.map((s) => {
    let total = 0;
    for (let i = 0; i < s.counts.length; i++) total += s.counts[i];
    return Array.from(s.counts, (c) => (total > 0 ? c / total : 0));
  });
  const ymax = Math.max(1e-9, ...fractions.flat());
  const entries = o.series.length > 1 ? o.series.map((s, i) => ({ name: s.name, colour: seriesColour(i) })) : [];
  const lw = legendWidth(entries);
  const f = frame({
    title: o.title,
    xLabel: o.xLabel,
    yLabel: "fraction of (step, unit) pairs per bin",
    xDomain: [o.lo, o.hi],
    yDomain: [0, ymax * 1.1],
    width: (o.width ?? 640) + lw,
    height: o.height,
    legendWidth: lw,
  });
  const under: string[] = [];
  for (const b of o.bands ?? []) {
    const x0 = f.x(Math.max(o.lo, b.from));
    const x1 = f.x(Math.min(o.hi, b.to));
    under.push(
      el("rect", {
        class: "band",
        x: x0,
        y: f.top,
        width: Math.max(0, x1 - x0),
        height: f.bottom - f.top,
        fill: "#fdf2c4",
      }),
    );
    under.push(
      text(b.label, { x: (x0 + x1) / 2, y: f.top + 12, "text-anchor": "middle", "font-size": 10, fill: "#7a6400" }),
    );
  }
  for (const l of o.lines ?? []) {
    if (l.at < o.lo || l.at > o.hi) continue;
    under.push(
      el("line", { x1: f.x(l.at), x2: f.x(l.at), y1: f.top, y2: f.bottom, stroke: "#555", "stroke-dasharray": "3,3" }),
    );
    under.push(text(l.label, { x: f.x(l.at) + 3, y: f.top + 28, "font-size": 10, fill: "#333" }));
  }
  const marks = fractions.map((fr, i) => {
    let d = `M${num(f.x(o.lo))},${num(f.y(0))}`;
    fr.forEach((p, b) => {
      d += `V${num(f.y(p))}H${num(f.x(o.lo + (b + 1) * w))}`;
    });
    d += `V${num(f.y(0))}`;
    const c = seriesColour(i);
    return el("path", {
      class: "series",
      "data-name": o.series[i].name,
      d,
      fill: c,
      "fill-opacity": o.series.length === 1 ? 0.35 : 0.08,
      stroke: c,
      "stroke-width": 1.5,
    });
  });
  return svgDocument(f.width, f.height, o.title, [
    ...under,
    ...f.under,
    el("g", { class: "marks" }, marks),
    legend(f, entries),
  ]);
}
