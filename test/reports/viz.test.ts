// The pictures: every chart is well-formed XML with the marks its data calls for (series paths,
// dots, one mark per event, bars, histogram outlines), the run charts come out of metrics records,
// the HTML report makes no external request, and PNG copies are real PNGs of the right size.

import assert from "node:assert/strict";
import { test } from "node:test";
import { XMLValidator } from "fast-xml-parser";
import { parse, type DefaultTreeAdapterMap } from "parse5";
import { barChart } from "../../packages/cli/src/viz/bar-chart.js";
import { histogramChart } from "../../packages/cli/src/viz/histogram.js";
import { lineChart } from "../../packages/cli/src/viz/line-chart.js";
import { eventCount, eventRaster } from "../../packages/cli/src/viz/raster.js";
import { reportHtml } from "../../packages/cli/src/viz/report-html.js";
import { runCharts, smooth, type MetricRecord } from "../../packages/cli/src/viz/run-charts.js";
import { esc, num } from "../../packages/cli/src/viz/svg.js";
import { distanceHistogram } from "../../packages/cli/src/train/activity.js";
import { svgToPng } from "../../packages/cli/src/node/png.js";

/** Assert an SVG is well-formed XML and return how many elements carry class="…". */
function checkSvg(svg: string, label: string): (cls: string) => number {
  const v = XMLValidator.validate(svg);
  assert.equal(v, true, `${label}: ${JSON.stringify(v)}`);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /<title>[^<]+<\/title>/, `${label}: a title`);
  return (cls) => (svg.match(new RegExp(`class="${cls}"`, "g")) ?? []).length;
}

test("svg helpers escape text and round coordinates", () => {
  assert.equal(esc(`a<b & "c" 'd'>`), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  assert.equal(num(1.23456), "1.23");
  assert.equal(num(-0.001), "0");
  assert.throws(() => num(Number.NaN), RangeError);
});

test("line chart: a path per series with points, a dot per point where asked, a legend, axis titles", () => {
  const svg = lineChart({
    title: "Loss <train & valid>",
    xLabel: "training step",
    yLabel: "loss (nats)",
    series: [
      {
        name: "train",
        points: Array.from({ length: 200 }, (_, i) => [i, 3 * Math.exp(-i / 50) + 0.1] as [number, number]),
      },
      {
        name: "valid",
        points: [
          [50, 1.5],
          [100, 0.8],
          [150, Number.NaN],
          [200, 0.4],
        ],
      },
      { name: "empty", points: [] },
    ],
  });
  const count = checkSvg(svg, "line");
  assert.equal(count("series"), 2);
  assert.equal(count("dot"), 3, "the valid series' finite points (the train series has too many for dots)");
  assert.equal(count("legend"), 1);
  assert.match(svg, /training step/);
  assert.match(svg, /loss \(nats\)/);
  assert.match(svg, /Loss &lt;train &amp; valid&gt;/);
  // a log axis drops values ≤ 0
  const log = lineChart({
    title: "ppl",
    xLabel: "x",
    yLabel: "y",
    yLog: true,
    series: [
      {
        name: "p",
        points: [
          [0, 0],
          [1, 100],
          [2, 50],
        ],
        dots: true,
      },
    ],
  });
  assert.equal(checkSvg(log, "log")("dot"), 2);
});

test("event raster: one mark per nonzero output, per layer; words along the time axis", () => {
  const T = 9,
    H1 = 13,
    H2 = 5;
  const a = Float32Array.from({ length: T * H1 }, (_, i) => (i % 7 === 0 ? 0.3 + (i % 5) / 10 : 0));
  const b = Float32Array.from({ length: T * H2 }, (_, i) => (i % 3 === 1 ? 1.2 : 0));
  const words = ["<eos>", "the", "cat", "sat", "on", "the", "<unk>", "mat", "<eos>"];
  const svg = eventRaster({
    title: "raster",
    T,
    layers: [
      { name: "layer 1", units: H1, values: a },
      { name: "layer 2", units: H2, values: b },
    ],
    stepLabels: words,
  });
  const count = checkSvg(svg, "raster");
  const want = eventCount({ name: "", units: H1, values: a }) + eventCount({ name: "", units: H2, values: b });
  assert.equal(count("event"), want);
  assert.equal(want, Math.ceil((T * H1) / 7) + (T * H2) / 3);
  assert.equal(count("layer"), 2);
  assert.match(svg, />&lt;unk&gt;</);
  assert.match(svg, /input token/);
  const silent = eventRaster({ title: "silent", T: 3, layers: [{ name: "l", units: 2, values: new Float32Array(6) }] });
  assert.equal(checkSvg(silent, "silent")("event"), 0);
  assert.match(silent, /time step/);
  assert.throws(
    () => eventRaster({ title: "bad", T: 3, layers: [{ name: "l", units: 2, values: new Float32Array(5) }] }),
    RangeError,
  );
  // a classifier's input as a first panel: one grey cell per visible input value
  const input = Float32Array.from({ length: T * 4 }, (_, i) => (i % 5 === 0 ? i / 10 : 0));
  const withInput = eventRaster({
    title: "in",
    T,
    layers: [{ name: "layer 1", units: H2, values: b }],
    input: { features: 4, values: input },
  });
  checkSvg(withInput, "input raster");
  const group = withInput.match(/<g class="input">([\s\S]*?)<\/g>/);
  assert.ok(group);
  const visible = Array.from(input).filter((v) => v / Math.max(...input) >= 0.02).length;
  assert.equal((group[1].match(/<rect /g) ?? []).length, visible);
});

test("histogram of c − ϑ: counts binned with the ends clamped, one outline per layer, the surrogate window shaded", () => {
  const h = distanceHistogram(
    [
      [
        { layer: 0, values: Float32Array.from([-5, -1.99, -0.01, 0, 0.5, 1.99, 2, 7, Number.NaN]), window: 1 / 3.6 },
        { layer: 2, values: Float32Array.from([0.1, 0.2]), window: 0.5 },
      ],
    ],
    -2,
    2,
    4,
  );
  assert.deepEqual(h.layers, [0, 2]);
  assert.deepEqual(Array.from(h.counts[0]), [2, 1, 2, 3]);
  assert.deepEqual(Array.from(h.counts[1]), [0, 0, 2, 0]);
  assert.deepEqual(h.entries, [9, 2]);
  const svg = histogramChart({
    title: "c − ϑ",
    xLabel: "c − ϑ",
    lo: h.lo,
    hi: h.hi,
    series: h.layers.map((l, k) => ({ name: `layer ${l + 1}`, counts: h.counts[k] })),
    bands: [{ from: -0.28, to: 0.28, label: "window" }],
    lines: [{ at: 0, label: "threshold" }],
  });
  const count = checkSvg(svg, "histogram");
  assert.equal(count("series"), 2);
  assert.equal(count("band"), 1);
});

test("bar chart: a bar per group and category, with values", () => {
  const svg = barChart({
    title: "MACs",
    yLabel: "MACs per token",
    categories: ["forward", "backward"],
    groups: [
      { name: "dense", values: [2e6, 4e6] },
      { name: "executed", values: [4e5, 9e5] },
    ],
  });
  const count = checkSvg(svg, "bar");
  assert.equal(count("bar"), 4);
  assert.match(svg, />2M</);
  assert.match(svg, />400k</);
});

/** Records as a tiny EGRU language-model run writes them. */
function lmRecords(): MetricRecord[] {
  const out: MetricRecord[] = [];
  for (let s = 20; s <= 200; s += 20) {
    out.push({
      type: "step",
      step: s,
      loss: 7 - s / 100,
      layerSparsity: [0.8, 0.7],
      layerBackwardSparsity: [0.9, 0.85],
      macsExecuted: 3e8,
      macsDense: 1e9,
    });
  }
  out.push({ type: "epoch", step: 100, epoch: 1, loss: 6.2, perplexity: Math.exp(6.2) });
  out.push({ type: "epoch", step: 200, epoch: 2, loss: 5.5, perplexity: Math.exp(5.5) });
  out.push({ type: "final", step: 200, test: { perplexity: 240, macsExecutedPerToken: 4e5, macsDensePerToken: 2e6 } });
  return out;
}

test("run charts from metrics records: loss, perplexity or accuracy, sparsity per layer, executed vs dense MACs", () => {
  const charts = runCharts(lmRecords(), { lm: true, cell: "egru", layers: 2 });
  assert.deepEqual(
    charts.map((c) => c.name),
    ["loss", "perplexity", "sparsity", "macs-training", "macs"],
  );
  const by = Object.fromEntries(charts.map((c) => [c.name, checkSvg(c.svg, c.name)]));
  assert.equal(by.loss("series"), 3);
  assert.equal(by.loss("dot"), 2, "the two validation points");
  assert.equal(by.sparsity("series"), 4, "activity and backward per layer");
  assert.equal(by.macs("bar"), 2);
  assert.match(charts[4].svg, /20\.0 %/);
  // a run that recorded the paper's effective MACs: a third bar, with its share of dense
  const records = lmRecords();
  (records.at(-1)!.test as Record<string, number>).paperEffectiveMacsPerToken = 5e5;
  const macs = runCharts(records, { lm: true, cell: "egru", layers: 2 }).find((c) => c.name === "macs")!;
  assert.equal(checkSvg(macs.svg, "macs")("bar"), 3);
  assert.match(macs.svg, /effective \(paper: dense × active fraction\)/);
  assert.match(macs.svg, /25\.0 %/);
  const gru = runCharts(lmRecords(), { lm: true, cell: "gru", layers: 2 });
  assert.ok(!gru.some((c) => c.name === "sparsity"), "no sparsity chart for a dense cell");
  const cls = runCharts(
    [
      { type: "step", step: 1, loss: 2, epochAccuracy: 0.5 },
      { type: "epoch", step: 1, loss: 1.5, accuracy: 0.6 },
    ],
    { lm: false, cell: "egru", layers: 1 },
  );
  assert.ok(cls.some((c) => c.name === "accuracy"));
  assert.deepEqual(
    smooth(
      [
        [0, 1],
        [1, 3],
        [2, 8],
        [3, 0],
      ],
      1,
    ),
    [
      [0, 2],
      [1, 4],
      [2, 11 / 3],
      [3, 4],
    ],
  );
});

test("the HTML report is self-contained: no scripts, no external stylesheets, images or fonts", () => {
  const charts = runCharts(lmRecords(), { lm: true, cell: "egru", layers: 2 });
  const html = reportHtml({
    title: "run <1>",
    subtitle: "runs/x",
    metrics: [["test perplexity", "240.00"]],
    charts,
    config: { task: "ptb" },
    made: "2026-11-29T00:00:00Z",
  });
  assert.match(html, /^<!DOCTYPE html>/);
  assert.match(html, /<title>run &lt;1&gt;<\/title>/);
  assert.equal((html.match(/<svg /g) ?? []).length, charts.length);
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|\bsrc\s*=|\bhref\s*=/i);
  // as a browser reads it: no element that loads anything, no attribute holding an address
  type Node = DefaultTreeAdapterMap["node"];
  const loaders = new Set([
    "script",
    "link",
    "img",
    "iframe",
    "object",
    "embed",
    "video",
    "audio",
    "source",
    "image",
    "use",
    "base",
    "form",
  ]);
  const addressAttrs = new Set(["src", "href", "xlink:href", "srcset", "poster", "data", "action", "background"]);
  let elements = 0;
  const walk = (n: Node): void => {
    if ("tagName" in n) {
      elements++;
      assert.ok(!loaders.has(n.tagName), `<${n.tagName}> in the report`);
      for (const a of n.attrs)
        assert.ok(!addressAttrs.has(a.name) && !/url\((?!#)/.test(a.value), `${n.tagName} ${a.name}="${a.value}"`);
    }
    if ("childNodes" in n) for (const c of n.childNodes) walk(c as Node);
    if ("content" in n && n.content) walk(n.content as Node);
  };
  walk(parse(html) as Node);
  assert.ok(elements > 100, `${elements} elements parsed`);
  // the only URL is the SVG namespace; url(…) only points inside the page
  const urls = html.match(/https?:\/\/[^\s"')<]+/g) ?? [];
  assert.deepEqual([...new Set(urls)], ["http://www.w3.org/2000/svg"]);
  for (const m of html.matchAll(/url\(([^)]*)\)/g)) assert.match(m[1], /^#/);
  for (const m of html.matchAll(/<svg [\s\S]*?<\/svg>/g)) assert.equal(XMLValidator.validate(m[0]), true);
});

test("PNG copies: a PNG of twice the SVG's size, with the fonts the charts name", async () => {
  const svg = lineChart({
    title: "Loss",
    xLabel: "training step",
    yLabel: "loss",
    series: [
      {
        name: "a",
        points: [
          [0, 1],
          [1, 0.5],
        ],
      },
    ],
    width: 300,
    height: 200,
  });
  const png = await svgToPng(svg);
  assert.deepEqual(Array.from(png.subarray(0, 8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer, png.byteOffset);
  assert.equal(view.getUint32(16), 600, "IHDR width");
  assert.equal(view.getUint32(20), 400, "IHDR height");
  assert.ok(png.length > 3000, "not blank");
});
