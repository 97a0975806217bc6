// The pictures of a run (Node only): its warnings (EGRU layers that emitted no event), learning
// curves, sparsity per layer, executed vs dense MACs, and, when the test data can be read here, the
// event raster and the distribution of c − ϑ of the run's model on a test input; as charts/*.svg and
// *.png and one self-contained report.html in the run directory. The kind of run supplies the
// figures and the model's activity (run/kind.ts). `egru train` writes the report as a run ends;
// `egru report` and `egru raster` on demand.

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Kernels, ValueError } from "egru";
import { readJsonFile } from "egru/node";
import { writeFileAtomic } from "../node/atomic-file.js";
import { svgToPng } from "../node/png.js";
import { readMetrics, readRunConfig } from "./run-files.js";
import type { ActivityReport } from "../train/activity.js";
import { isLmTask, type TrainConfig } from "../train/config.js";
import { type DeadLayerWarning, silentStretchText } from "../train/dead-layers.js";
import { histogramChart } from "../viz/histogram.js";
import { eventRaster } from "../viz/raster.js";
import { reportHtml } from "../viz/report-html.js";
import { runCharts, type Chart, type MetricRecord } from "../viz/run-charts.js";
import type { Row } from "./kind.js";
import { kindOf } from "./kinds.js";

export interface ReportOptions {
  /** The test example (classifier) or sentence (language model) of the raster. */
  input: number;
  /** PNG copies of the charts besides the SVG. */
  png: boolean;
}

export function activityCharts(a: ActivityReport, cell: string): Chart[] {
  const charts: Chart[] = [];
  if (cell === "egru") {
    charts.push({
      name: "raster",
      title: `Event raster: ${a.label}`,
      svg: eventRaster({
        title: `Events of each EGRU layer on ${a.label}`,
        T: a.T,
        stepLabels: a.stepLabels,
        input: a.input,
        layers: a.layers.map((l, i) => ({ name: `layer ${i + 1}`, units: l.units, values: l.values })),
      }),
    });
  }
  const h = a.histogram;
  if (h) {
    const w = h.window[0];
    charts.push({
      name: "threshold-distance",
      title: "Distribution of c − ϑ",
      svg: histogramChart({
        title: "Internal state relative to the threshold, c − ϑ (test inputs)",
        xLabel: "c − ϑ (values beyond ±2 in the end bins)",
        lo: h.lo,
        hi: h.hi,
        series: h.layers.map((l, k) => ({ name: `layer ${l + 1}`, counts: h.counts[k] })),
        bands: [{ from: -w, to: w, label: `surrogate window |c − ϑ| < ${+w.toPrecision(3)}` }],
        lines: [{ at: 0, label: "threshold" }],
      }),
    });
  }
  return charts;
}

/** The final figures of a run for the report's table: the kind's, then parameters, training and any dead-layer warnings. */
function metricRows(config: TrainConfig, summary: Record<string, unknown> | null): Row[] {
  if (!summary) return [["status", "no summary.json (the run has not finished)"]];
  const n = (k: string): number | undefined => (typeof summary[k] === "number" ? (summary[k] as number) : undefined);
  const rows = kindOf(config).reportRows(config, summary);
  const p = n("parameters");
  if (p !== undefined) rows.push(["parameters", p.toLocaleString("en-US")]);
  const steps = n("steps");
  const secs = n("seconds");
  if (steps !== undefined)
    rows.push(["training", `${steps} steps${secs !== undefined ? `, ${(secs / 60).toFixed(1)} minutes` : ""}`]);
  for (const w of summaryWarnings(summary))
    rows.push(["warning", silentStretchText(w, config.model.layers, steps ?? w.until ?? w.step)]);
  return rows;
}

/** summary.json's dead-layer warnings (train/dead-layers.ts), those that have the fields they need. */
function summaryWarnings(summary: Record<string, unknown> | null): (DeadLayerWarning & { message: string })[] {
  const list = summary?.warnings;
  if (!Array.isArray(list)) return [];
  return list.filter(
    (w): w is DeadLayerWarning & { message: string } =>
      w !== null && typeof w === "object" && typeof w.message === "string" && typeof w.silentSince === "number",
  );
}

/**
 * The warnings box of the report: summary.json's warnings with how each stretch ended, or for a run
 * that has not finished the "warning" records of metrics.jsonl.
 */
function reportWarnings(summary: Record<string, unknown> | null, records: MetricRecord[]): string[] {
  if (summary)
    return summaryWarnings(summary).map(
      (w) =>
        `${w.message}. ${w.until === null ? "It stayed silent to the end of training." : `It emitted again after step ${w.until}.`}`,
    );
  return records.filter((r) => r.type === "warning" && typeof r.message === "string").map((r) => String(r.message));
}

/** Write charts/*.svg (and *.png) for `charts` into the run directory; returns the files written. */
export async function writeCharts(runDir: string, charts: Chart[], png: boolean): Promise<string[]> {
  const dir = join(runDir, "charts");
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  for (const c of charts) {
    const svg = join(dir, `${c.name}.svg`);
    writeFileAtomic(svg, c.svg);
    files.push(svg);
    if (png) {
      const p = join(dir, `${c.name}.png`);
      writeFileAtomic(p, await svgToPng(c.svg));
      files.push(p);
    }
  }
  return files;
}

/** Make the whole report of a run directory; returns report.html's path. Activity charts are skipped (with a note) when data is missing. */
export async function writeReport(
  runDir: string,
  f: ReportOptions,
  log: (m: string) => void,
  kernels?: Kernels,
): Promise<string> {
  const config = readRunConfig(runDir);
  const records = readMetrics(runDir) as MetricRecord[];
  const summaryPath = join(runDir, "summary.json");
  const summary = existsSync(summaryPath) ? readSummary(summaryPath) : null;
  const m = config.model;
  const charts = runCharts(records, { lm: isLmTask(config.task), cell: m.cell, layers: m.layers });
  const kind = kindOf(config);
  const missing = kind.missingData(config);
  if (missing === null) charts.push(...activityCharts(kind.activity(runDir, config, f.input, kernels), m.cell));
  else log(`egru report: no raster or c − ϑ chart: ${missing}`);
  const note = missing === null ? "" : ` (no raster or c − ϑ chart: ${missing})`;
  await writeCharts(runDir, charts, f.png);
  const html = reportHtml({
    title: `egru run: ${config.task}, ${m.layers} × ${m.cell.toUpperCase()}(${m.hidden})`,
    subtitle: `${runDir}${note}`,
    metrics: metricRows(config, summary),
    warnings: reportWarnings(summary, records),
    charts,
    config,
    made: new Date().toISOString(),
  });
  const out = join(runDir, "report.html");
  writeFileAtomic(out, html);
  return out;
}

/** The report at the end of `egru train`, or null when it failed (said through `warn`; the caller then exits 1). */
export async function reportAtEnd(
  runDir: string,
  log: (m: string) => void,
  warn: (m: string) => void,
  kernels?: Kernels,
): Promise<string | null> {
  try {
    return await writeReport(runDir, { input: 0, png: true }, log, kernels);
  } catch (e) {
    warn(
      `egru train: training finished, but the report failed (${e instanceof Error ? e.message : String(e)}); try: egru report ${runDir}`,
    );
    return null;
  }
}

/** summary.json: a JSON object (a damaged one is an error naming it, not a raw SyntaxError). */
function readSummary(path: string): Record<string, unknown> {
  const v = readJsonFile(path, "the run's summary");
  if (v === null || typeof v !== "object" || Array.isArray(v))
    throw new ValueError(path, "a JSON object (the run's summary)", JSON.stringify(v) ?? String(v));
  return v as Record<string, unknown>;
}
