// The page's script: starts the training worker, keeps what it reports, and draws it with the
// project's own SVG charts (packages/cli/src/viz: DOM-free string builders) — the live loss and
// sparsity curves, the event raster of a held-out digit, then the streaming panel (the digit fed
// row by row, the events each row causes, the class probabilities from the trace so far). What it
// saw is also kept on window.egruPage, for the page's test.

import { lineChart, type Series } from "../../../packages/cli/src/viz/line-chart.js";
import { eventRaster } from "../../../packages/cli/src/viz/raster.js";
import { el, seriesColour, svgDocument } from "../../../packages/cli/src/viz/svg.js";
import { DEFAULT_SETTINGS, type FromWorker, type PageState, type RunSettings } from "./protocol.js";

declare global {
  interface Window {
    egruPage: PageState;
  }
}

function settingsFromAddress(): RunSettings {
  const q = new URLSearchParams(location.search);
  const s: RunSettings = { ...DEFAULT_SETTINGS };
  const limits: Record<keyof RunSettings, [number, number]> = {
    steps: [1, 100000],
    batch: [1, 512],
    hidden: [4, 512],
    lr: [1e-5, 1],
    stream: [0, 100],
    delay: [0, 5000],
    rasterEvery: [1, 100000],
    seed: [0, 2 ** 31],
  };
  for (const key of Object.keys(limits) as (keyof RunSettings)[]) {
    const v = Number(q.get(key));
    const [lo, hi] = limits[key];
    if (q.has(key) && Number.isFinite(v)) s[key] = Math.min(hi, Math.max(lo, key === "lr" ? v : Math.round(v)));
  }
  return s;
}

const settings = settingsFromAddress();
const state: PageState = {
  settings,
  kernels: null,
  crossOriginIsolated: null,
  steps: [],
  rasters: 0,
  evaluated: null,
  int8: null,
  streamedSteps: 0,
  streamed: [],
  done: null,
  errors: [],
};
window.egruPage = state;

const $ = (id: string): HTMLElement => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the page has no #${id}`);
  return e;
};
const pct = (v: number, digits = 1): string => `${(100 * v).toFixed(digits)} %`;

function fail(message: string): void {
  state.errors.push(message);
  console.error(`egru example: ${message}`);
  $("status-error").textContent = message;
  $("status-error").hidden = false;
}

// ---------------------------------------------------------------------------------------------
// training: status line and live charts, redrawn at most once per frame

let pending = false;
function redraw(): void {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    drawTraining();
  });
}

function smooth(values: number[], a = 0.9): number[] {
  let m = values[0] ?? 0;
  return values.map((v, i) => (m = i === 0 ? v : a * m + (1 - a) * v));
}

function drawTraining(): void {
  const s = state.steps;
  const last = s[s.length - 1];
  if (!last) return;
  $("st-step").textContent = `${last.step} / ${settings.steps}`;
  $("st-loss").textContent = last.loss.toFixed(3);
  const recent = s.slice(-10);
  $("st-acc").textContent = pct(recent.reduce((a, r) => a + r.accuracy, 0) / recent.length, 0);
  $("st-sparsity").textContent = pct(last.sparsity);
  $("st-speed").textContent = `${(recent.reduce((a, r) => a + r.ms, 0) / recent.length).toFixed(1)} ms`;
  const xDomain: [number, number] = [1, Math.max(2, settings.steps)];
  const steps = s.map((r) => r.step);
  const loss: Series[] = [
    { name: "batch loss", points: s.map((r, i) => [steps[i], r.loss]), colour: "#9ecae1", dots: false },
    {
      name: "smoothed",
      points: smooth(s.map((r) => r.loss)).map((v, i) => [steps[i], v]),
      colour: seriesColour(0),
      dots: false,
    },
  ];
  $("loss-chart").innerHTML = lineChart({
    title: "Training loss",
    xLabel: "training step",
    yLabel: "cross-entropy (nats)",
    xIntegers: true,
    xDomain,
    series: loss,
    width: 470,
    height: 300,
  });
  const fractions: Series[] = [
    {
      name: "activity sparsity",
      points: s.map((r, i) => [steps[i], r.sparsity]),
      colour: seriesColour(1),
      dots: false,
    },
    {
      name: "backward sparsity",
      points: s.map((r, i) => [steps[i], r.backwardSparsity]),
      colour: seriesColour(1),
      dashed: true,
      dots: false,
    },
    {
      name: "batch accuracy",
      points: smooth(s.map((r) => r.accuracy)).map((v, i) => [steps[i], v]),
      colour: seriesColour(2),
      dots: false,
    },
  ];
  $("sparsity-chart").innerHTML = lineChart({
    title: "Sparsity and accuracy",
    xLabel: "training step",
    yLabel: "fraction",
    xIntegers: true,
    xDomain,
    yDomain: [0, 1],
    series: fractions,
    width: 470,
    height: 300,
  });
}

function drawRaster(m: Extract<FromWorker, { type: "raster" }>): void {
  const verdict = m.predicted === m.label ? "right" : "wrong";
  $("raster").innerHTML = eventRaster({
    title: `Event raster after step ${m.step}: held-out digit ${m.example} (a ${m.label}; predicted ${m.predicted}, ${verdict})`,
    T: m.T,
    layers: [{ name: "EGRU", units: m.H, values: m.events }],
    input: { features: m.I, values: m.input },
    width: 960,
  });
}

// ---------------------------------------------------------------------------------------------
// streaming: the digit upright with the row being fed outlined, the events so far, the prediction

interface Stream {
  index: number;
  example: number;
  label: number;
  T: number;
  I: number;
  H: number;
  image: Float32Array;
  events: Float32Array;
}
let stream: Stream | null = null;

function digitSvg(s: Stream, t: number): string {
  const cell = 8,
    size = s.I * cell,
    pad = 4;
  const body: string[] = [el("rect", { x: pad, y: pad, width: size, height: size, fill: "#ffffff", stroke: "#999" })];
  for (let r = 0; r < s.T; r++) {
    for (let c = 0; c < s.I; c++) {
      const v = s.image[r * s.I + c];
      if (v < 0.02) continue;
      const fed = r <= t;
      const g = Math.round(255 * (1 - v * (fed ? 1 : 0.18)));
      body.push(
        el("rect", { x: pad + c * cell, y: pad + r * cell, width: cell, height: cell, fill: `rgb(${g},${g},${g})` }),
      );
    }
  }
  if (t >= 0 && t < s.T) {
    body.push(
      el("rect", {
        x: pad - 2,
        y: pad + t * cell - 1,
        width: size + 4,
        height: cell + 2,
        fill: "none",
        stroke: "#D55E00",
        "stroke-width": 2,
      }),
    );
  }
  return svgDocument(size + 2 * pad, size + 2 * pad, `digit ${s.example}, rows 0 to ${t} fed`, body);
}

function drawStreamStep(m: Extract<FromWorker, { type: "stream-step" }>): void {
  if (!stream) return;
  const s = stream;
  s.events.set(m.events, m.t * s.H);
  const fedInput = new Float32Array(s.T * s.I);
  fedInput.set(s.image.subarray(0, (m.t + 1) * s.I));
  $("stream-digit").innerHTML = digitSvg(s, m.t);
  let fired = 0,
    sofar = 0;
  for (const v of m.events) if (v !== 0) fired++;
  for (let i = 0; i < (m.t + 1) * s.H; i++) if (s.events[i] !== 0) sofar++;
  // the raster spans all 28 rows; its activity label should count only the rows fed so far
  const rate = `${pct(sofar / ((m.t + 1) * s.H))} active in ${m.t + 1} row${m.t === 0 ? "" : "s"}`;
  $("stream-raster").innerHTML = eventRaster({
    title: `Streaming held-out digit ${s.example}: the events each row causes`,
    T: s.T,
    layers: [{ name: "EGRU", units: s.H, values: s.events }],
    input: { features: s.I, values: fedInput },
    width: 620,
  }).replace(/(\d+ units), [\d.]+ % active/, `$1, ${rate}`);
  const bars = Array.from(
    m.probs,
    (p, c) =>
      `<div class="bar${c === m.predicted ? " top" : ""}"><span class="cls">${c}</span><span class="track"><span class="fill" style="width:${(100 * p).toFixed(1)}%"></span></span><span class="p">${(100 * p).toFixed(0)} %</span></div>`,
  );
  $("stream-probs").innerHTML = bars.join("");
  $("stream-prediction").textContent = String(m.predicted);
  $("stream-caption").textContent =
    `held-out digit ${s.example} (${s.index + 1} of ${Math.min(settings.stream, state.evaluated?.examples ?? settings.stream)}) · row ${m.t + 1} / ${s.T} · ` +
    `${fired} of ${s.H} units fired on this row · prediction ${m.predicted} (${pct(m.probs[m.predicted], 0)}) · label ${s.label}`;
  state.streamedSteps++;
}

function addStreamResult(m: Extract<FromWorker, { type: "stream-end" }>): void {
  state.streamed.push({
    example: m.example,
    label: m.label,
    predicted: m.predicted,
    forwardPredicted: m.forwardPredicted,
    events: m.events,
  });
  const li = document.createElement("li");
  li.className = m.predicted === m.label ? "right" : "wrong";
  li.textContent =
    `digit ${m.example}: a ${m.label} → ${m.predicted} ${m.predicted === m.label ? "✓" : "✗"} · ` +
    `${m.events} events · ${pct(m.macsExecuted / m.macsDense, 0)} of dense MACs`;
  $("stream-log").appendChild(li);
}

// ---------------------------------------------------------------------------------------------

function onMessage(m: FromWorker): void {
  switch (m.type) {
    case "ready":
      state.kernels = m.kernels;
      state.crossOriginIsolated = m.crossOriginIsolated;
      $("st-kernels").textContent =
        m.kernels + (m.kernels === "wasm-simd" ? (m.crossOriginIsolated ? " (shared memory)" : " (plain memory)") : "");
      $("st-model").textContent =
        `EGRU(${m.settings.hidden}) → 10, ${m.params.toLocaleString("en")} parameters; ${m.train} training digits, ${m.test} held out`;
      $("phase").textContent = "training";
      break;
    case "step":
      state.steps.push({
        step: m.step,
        loss: m.loss,
        accuracy: m.accuracy,
        sparsity: m.sparsity,
        backwardSparsity: m.backwardSparsity,
        ms: m.ms,
      });
      redraw();
      break;
    case "raster":
      state.rasters++;
      drawRaster(m);
      break;
    case "evaluated":
      state.evaluated = { accuracy: m.accuracy, loss: m.loss, sparsity: m.sparsity, examples: m.examples };
      drawTraining();
      $("st-held-out").textContent = `${pct(m.accuracy, 0)} of ${m.examples} digits`;
      $("phase").textContent = "streaming";
      break;
    case "int8": {
      const { type: _, ...r } = m;
      state.int8 = r;
      $("st-int8").textContent =
        `${pct(r.accuracy, 0)} with int8 weights (${Math.round(r.bytes / 1024)} KiB, ` +
        `${Math.round(r.float32Bytes / 1024)} KiB as float32)`;
      break;
    }
    case "stream-start":
      stream = {
        index: m.index,
        example: m.example,
        label: m.label,
        T: m.T,
        I: m.I,
        H: m.H,
        image: m.image,
        events: new Float32Array(m.T * m.H),
      };
      $("stream-digit").innerHTML = digitSvg(stream, -1);
      $("stream-grid").hidden = false;
      break;
    case "stream-step":
      drawStreamStep(m);
      break;
    case "stream-end":
      if (stream) $("stream-digit").innerHTML = digitSvg(stream, stream.T); // every row fed, none outlined
      addStreamResult(m);
      break;
    case "done":
      state.done = { streamed: m.streamed, correct: m.correct, agreed: m.agreed };
      $("phase").textContent = "done";
      break;
    case "error":
      fail(`the worker stopped: ${m.message}`);
      break;
  }
}

const worker = new Worker("worker.js", { name: "egru-training" });
worker.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
worker.onerror = (e: ErrorEvent) => fail(`worker error: ${e.message || "unknown"}`);
worker.onmessageerror = () => fail("a worker message could not be read");
worker.postMessage({ type: "start", settings });
$("phase").textContent = "loading the kernels and the data";
