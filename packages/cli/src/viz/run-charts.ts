// The charts of a training run, from its metrics records (the lines of metrics.jsonl, already
// parsed): loss, accuracy or perplexity, per-layer activity and backward sparsity over training, and
// executed vs dense multiply-accumulates. Isomorphic: records in, SVG strings out.

import { barChart } from "./bar-chart.js";
import { lineChart, type Series } from "./line-chart.js";
import { seriesColour } from "./svg.js";

export type MetricRecord = Record<string, unknown> & { type: string };

export interface Chart {
  /** File stem, e.g. "loss" (→ loss.svg, loss.png). */
  name: string;
  title: string;
  svg: string;
}

const numberAt = (r: MetricRecord, k: string): number | undefined =>
  typeof r[k] === "number" ? (r[k] as number) : undefined;
const arrayAt = (r: MetricRecord, k: string): number[] | undefined =>
  Array.isArray(r[k]) ? (r[k] as number[]) : undefined;

function points(rs: MetricRecord[], y: (r: MetricRecord) => number | undefined): [number, number][] {
  const out: [number, number][] = [];
  for (const r of rs) {
    const s = numberAt(r, "step");
    const v = y(r);
    if (s !== undefined && v !== undefined && Number.isFinite(v)) out.push([s, v]);
  }
  return out;
}

/**
 * A centred moving average of a series' y values over 2·half + 1 points (fewer at the ends), for
 * noisy per-step figures; half defaults to about 1/25 of the points. Unlike an exponential
 * average it does not lag behind the data.
 */
export function smooth(p: [number, number][], half = Math.max(1, Math.round(p.length / 25))): [number, number][] {
  return p.map(([x], i) => {
    const a = Math.max(0, i - half);
    const b = Math.min(p.length - 1, i + half);
    let s = 0;
    for (let k = a; k <= b; k++) s += p[k][1];
    return [x, s / (b - a + 1)];
  });
}

export interface RunInfo {
  /** Language model (perplexity, per-token MACs) or classifier (accuracy, per-example MACs). */
  lm: boolean;
  cell: string;
  layers: number;
}

export function runCharts(records: MetricRecord[], info: RunInfo): Chart[] {
  const steps = records.filter((r) => r.type === "step");
  const epochs = records.filter((r) => r.type === "epoch");
  const charts: Chart[] = [];
  const muted = "#9ab6d3";

  // loss
  const lossSeries: Series[] = [
    { name: "train (per step)", points: points(steps, (r) => numberAt(r, "loss")), colour: muted, dots: false },
    {
      name: "train (smoothed)",
      points: smooth(points(steps, (r) => numberAt(r, "loss"))),
      colour: seriesColour(0),
      dots: false,
    },
    { name: "validation", points: points(epochs, (r) => numberAt(r, "loss")), colour: seriesColour(1), dots: true },
  ];
  charts.push({
    name: "loss",
    title: "Loss",
    svg: lineChart({
      title: "Cross-entropy loss",
      xLabel: "training step",
      yLabel: info.lm ? "loss (nats per token)" : "loss (nats per example)",
      xIntegers: true,
      series: lossSeries,
    }),
  });

  // accuracy or perplexity
  if (info.lm) {
    charts.push({
      name: "perplexity",
      title: "Perplexity",
      svg: lineChart({
        title: "Perplexity",
        xLabel: "training step",
        yLabel: "perplexity (log scale)",
        yLog: true,
        xIntegers: true,
        series: [
          {
            name: "train (smoothed)",
            points: smooth(points(steps, (r) => numberAt(r, "loss"))).map(([x, l]) => [x, Math.exp(l)]),
            colour: seriesColour(0),
            dots: false,
          },
          {
            name: "validation",
            points: points(epochs, (r) => numberAt(r, "perplexity")),
            colour: seriesColour(1),
            dots: true,
          },
        ],
      }),
    });
  } else {
    const acc =
      (k: string) =>
      (r: MetricRecord): number | undefined => {
        const a = numberAt(r, k);
        return a === undefined ? undefined : 100 * a;
      };
    charts.push({
      name: "accuracy",
      title: "Accuracy",
      svg: lineChart({
        title: "Accuracy",
        xLabel: "training step",
        yLabel: "accuracy (%)",
        xIntegers: true,
        series: [
          {
            name: "train (epoch so far)",
            points: points(steps, acc("epochAccuracy")),
            colour: seriesColour(0),
            dots: false,
          },
          { name: "validation", points: points(epochs, acc("accuracy")), colour: seriesColour(1), dots: true },
        ],
      }),
    });
  }

  // sparsity per layer
  if (info.cell === "egru") {
    const series: Series[] = [];
    for (let l = 0; l < info.layers; l++) {
      const at =
        (k: string) =>
        (r: MetricRecord): number | undefined => {
          const a = arrayAt(r, k);
          return a && a.length > l ? 100 * a[l] : undefined;
        };
      series.push({
        name: `layer ${l + 1} activity`,
        points: smooth(points(steps, at("layerSparsity"))),
        colour: seriesColour(l),
        dots: false,
      });
      series.push({
        name: `layer ${l + 1} backward`,
        points: smooth(points(steps, at("layerBackwardSparsity"))),
        colour: seriesColour(l),
        dashed: true,
        dots: false,
      });
    }
    charts.push({
      name: "sparsity",
      title: "Sparsity",
      svg: lineChart({
        title: "Activity sparsity (solid) and backward sparsity (dashed) per layer",
        xLabel: "training step",
        yLabel: "sparsity (% of unit-steps)",
        yDomain: [0, 100],
        xIntegers: true,
        series: series.filter((s) => s.points.length > 0),
      }),
    });
  }

  // executed vs dense MACs
  const share = (r: MetricRecord): number | undefined => {
    const e = numberAt(r, "macsExecuted");
    const d = numberAt(r, "macsDense");
    return e !== undefined && d ? (100 * e) / d : undefined;
  };
  charts.push({
    name: "macs-training",
    title: "Executed MACs over training",
    svg: lineChart({
      title: "Executed multiply-accumulates per training step (forward + backward)",
      xLabel: "training step",
      yLabel: "executed (% of dense)",
      yDomain: [0, 100],
      xIntegers: true,
      series: [{ name: "executed share", points: smooth(points(steps, share)), colour: seriesColour(2), dots: false }],
    }),
  });
  const final = records.filter((r) => r.type === "final" || r.type === "test").at(-1);
  const test = final ? ((final.type === "final" ? final.test : final) as MetricRecord | undefined) : undefined;
  const unit = info.lm ? "Token" : "Example";
  const exec = test ? numberAt(test, `macsExecutedPer${unit}`) : undefined;
  const dense = test ? numberAt(test, `macsDensePer${unit}`) : undefined;
  // the paper's effective MACs (dense × active fraction), where the run recorded them
  const effective = test ? numberAt(test, `paperEffectiveMacsPer${unit}`) : undefined;
  if (exec !== undefined && dense !== undefined) {
    const groups = [
      { name: "dense", values: [dense], colour: "#bbbbbb" },
      { name: "executed", values: [exec], colour: seriesColour(2) },
      ...(effective !== undefined
        ? [{ name: "effective (paper: dense × active fraction)", values: [effective], colour: seriesColour(4) }]
        : []),
    ];
    charts.push({
      name: "macs",
      title: "Executed vs dense MACs",
      svg: barChart({
        title: `MACs per test ${unit.toLowerCase()} (inference)`,
        yLabel: `multiply-accumulates per ${unit.toLowerCase()}`,
        categories: [`${info.cell.toUpperCase()} model`],
        groups,
        note: (g) => (g > 0 ? `${((100 * groups[g].values[0]) / dense).toFixed(1)} %` : ""),
        width: effective !== undefined ? 520 : 420,
      }),
    });
  }
  return charts;
}
