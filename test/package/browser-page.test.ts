// The browser example (examples/browser) built into a temporary folder, served by its own serve.mjs
// on 127.0.0.1 and opened in headless Chromium (Debian's, found on PATH; playwright-core drives it
// and downloads nothing): the worker trains on the WebAssembly kernels and the loss falls, activity
// sparsity is a fraction strictly inside (0, 1), the trained model made int8 (saved and loaded back
// in the worker) predicts about as the float32 one does, the trained layer streams held-out digits and
// its row-by-row prediction agrees with the whole-sequence forward's, nothing is logged as an error, and
// every request the page and its worker make stays on the page's origin (a control shows that
// cross-origin requests from both would be seen).

import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { test } from "node:test";
import { chromium, type Page } from "playwright-core";
import type { PageState } from "../../examples/browser/src/protocol.js";
import { ROOT } from "../helpers.js";

const example = join(ROOT, "examples", "browser");

/** Debian's chromium (or another Chromium build) on PATH, else at its usual Debian place; null when absent. */
function findChromium(): string | null {
  const names = ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"];
  for (const dir of (process.env.PATH ?? "").split(delimiter).filter(Boolean)) {
    for (const n of names) if (existsSync(join(dir, n))) return join(dir, n);
  }
  return existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : null;
}

const CHROMIUM = findChromium();
const skip = CHROMIUM ? false : "no Chromium on this machine (apt-get install chromium to run this test)";

/** Start serve.mjs on a free port; resolves with the address it prints. */
function serve(dir: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(example, "serve.mjs"), dir, "--port", "0"], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`serve.mjs printed no address: ${out}`)), 15_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[0], child });
      }
    });
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`serve.mjs exited (${code}): ${out}`)));
  });
}

const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

/** Poll the page's state until `done` holds or `ms` pass; returns the last state. */
async function waitForState(page: Page, done: (s: PageState) => boolean, ms: number): Promise<PageState> {
  const until = Date.now() + ms;
  for (;;) {
    const s = await page.evaluate(() => (globalThis as unknown as { egruPage: PageState }).egruPage);
    if (done(s) || s.errors.length > 0 || Date.now() > until) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("the browser example trains an EGRU in a worker on the WebAssembly kernels, streams it, and stays on its origin", {
  skip,
  timeout: 150_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-page-"));
  const STEPS = 60,
    STREAM = 2,
    T = 28;
  execFileSync(process.execPath, [join(example, "build.mjs"), "--out", dir, "--train", "600", "--test", "100"], {
    stdio: "pipe",
  });
  for (const f of ["index.html", "main.js", "worker.js", "mnist-sample.bin"])
    assert.ok(existsSync(join(dir, f)), `the build wrote ${f}`);
  const { url, child } = await serve(dir);
  const browser = await chromium.launch({
    executablePath: CHROMIUM!,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const origin = new URL(url).origin;
    const seen = new Set<string>();
    const errors: string[] = [];
    context.on("request", (r) => seen.add(r.url())); // the page's, its worker's and any service worker's
    context.on("weberror", (e) => errors.push(`weberror: ${e.error().message}`));
    const page = await context.newPage();
    page.on("request", (r) => seen.add(r.url()));
    const requests = (): string[] => [...seen];
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(`console: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("crash", () => errors.push("the page crashed"));
    const workers: string[] = [];
    page.on("worker", (w) => {
      workers.push(w.url());
      w.on("console", (m) => {
        if (m.type() === "error") errors.push(`worker console: ${m.text()}`);
      });
    });

    const started = Date.now();
    await page.goto(`${url}?steps=${STEPS}&stream=${STREAM}&delay=5&rasterEvery=20`);
    const s = await waitForState(page, (st) => st.done !== null, 90_000);
    const seconds = (Date.now() - started) / 1000;
    // no request left the page's origin, and nothing was logged as an error
    assert.deepEqual(
      requests().filter((u) => new URL(u).origin !== origin),
      [],
      `every request on ${origin}`,
    );
    assert.ok(
      requests().some((u) => u.endsWith("/mnist-sample.bin")),
      "the worker's data request was recorded",
    );
    assert.deepEqual([...s.errors, ...errors], [], "nothing was logged as an error");
    assert.ok(
      s.done,
      `the page finished within 90 s (${s.steps.length} of ${STEPS} steps, ${s.streamedSteps} rows streamed)`,
    );

    // training ran in a worker, on the WebAssembly kernels
    assert.equal(s.kernels, "wasm-simd", "the worker reports the WebAssembly SIMD kernels");
    assert.deepEqual(workers, [`${origin}/worker.js`], "one dedicated worker, from the page's origin");
    assert.equal(s.crossOriginIsolated, true, "serve.mjs makes the page cross-origin isolated (shared kernel memory)");
    assert.deepEqual(
      s.steps.map((r) => r.step),
      Array.from({ length: STEPS }, (_, i) => i + 1),
      "every step was reported, in order",
    );

    // the loss fell, by a margin
    const losses = s.steps.map((r) => r.loss);
    assert.ok(losses.every(Number.isFinite), "finite losses");
    const first = mean(losses.slice(0, 5)),
      last = mean(losses.slice(-5));
    assert.ok(first > 2, `the first steps start near ln 10 = 2.30: ${first.toFixed(3)}`);
    assert.ok(
      last < first - 0.4,
      `the mean loss of the last 5 steps (${last.toFixed(3)}) is below the first 5 (${first.toFixed(3)}) by more than 0.4`,
    );

    // activity sparsity: a fraction strictly inside (0, 1) at every step and on the held-out digits
    for (const r of s.steps) {
      assert.ok(r.sparsity > 0 && r.sparsity < 1, `step ${r.step}: activity sparsity ${r.sparsity} in (0, 1)`);
      assert.ok(
        r.backwardSparsity >= 0 && r.backwardSparsity < 1,
        `step ${r.step}: backward sparsity ${r.backwardSparsity} in [0, 1)`,
      );
    }
    assert.ok(s.evaluated, "the held-out digits were evaluated");
    assert.ok(
      s.evaluated.sparsity > 0.05 && s.evaluated.sparsity < 0.99,
      `held-out activity sparsity ${s.evaluated.sparsity}`,
    );
    assert.ok(
      s.evaluated.accuracy > 0.3,
      `held-out accuracy ${s.evaluated.accuracy} well above chance (0.1) after ${STEPS} steps`,
    );

    // the model with int8 weights, saved and loaded back in the worker: about as accurate, a third of the bytes
    const q = s.int8;
    assert.ok(q, "the int8 model was evaluated");
    assert.equal(q.weightFormat, "int8");
    assert.equal(q.examples, s.evaluated.examples);
    assert.ok(
      Math.abs(q.accuracy - s.evaluated.accuracy) <= 0.05,
      `int8 ${q.accuracy} vs float32 ${s.evaluated.accuracy}`,
    );
    assert.ok(q.agreed >= 0.9 * q.examples, `${q.agreed} of ${q.examples} int8 predictions are the float32 model's`);
    assert.ok(q.bytes < 0.35 * q.float32Bytes, `int8 file ${q.bytes} bytes, float32 ${q.float32Bytes}`);

    // the streaming phase: every row of every digit fed, and the stepper agrees with the whole-sequence forward
    assert.equal(s.streamedSteps, STREAM * T, "28 rows streamed per digit");
    assert.equal(s.streamed.length, STREAM);
    for (const d of s.streamed) {
      assert.ok(
        Number.isInteger(d.predicted) && d.predicted >= 0 && d.predicted <= 9,
        `a class was predicted for digit ${d.example}`,
      );
      assert.equal(
        d.predicted,
        d.forwardPredicted,
        `digit ${d.example}: the streamed prediction is the whole-sequence forward's`,
      );
      assert.ok(
        d.events > 0 && d.events < T * s.settings.hidden,
        `digit ${d.example}: ${d.events} events, some units silent`,
      );
    }
    assert.deepEqual(s.done, {
      streamed: STREAM,
      correct: s.streamed.filter((d) => d.predicted === d.label).length,
      agreed: STREAM,
    });

    // what a person sees: the charts, the raster, the prediction
    // (page code as strings: the tests are type-checked without the DOM's types)
    const dom = await page.evaluate<{
      loss: number;
      sparsity: number;
      rasterEvents: number;
      streamEvents: number;
      prediction: string;
      int8: string;
      kernels: string;
      step: string;
      labels: string[];
    }>(`(() => {
      const count = (q) => document.querySelectorAll(q).length;
      const text = (id) => document.getElementById(id)?.textContent ?? "";
      return {
        loss: count("#loss-chart svg path.series"), sparsity: count("#sparsity-chart svg path.series"),
        rasterEvents: count("#raster svg rect.event"), streamEvents: count("#stream-raster svg rect.event"),
        prediction: text("stream-prediction"), int8: text("st-int8"), kernels: text("st-kernels"), step: text("st-step"),
        labels: [...document.querySelectorAll("#loss-chart svg text, #sparsity-chart svg text")].map((e) => e.textContent),
      };
    })()`);
    assert.equal(dom.loss, 2, "loss chart: raw and smoothed");
    assert.equal(dom.sparsity, 3, "sparsity chart: activity, backward sparsity and accuracy");
    assert.ok(dom.labels.includes("training step") && dom.labels.includes("fraction"), "labelled axes");
    assert.ok(dom.rasterEvents > 0 && dom.streamEvents > 0, "the event rasters show events");
    assert.equal(dom.prediction, String(s.streamed[STREAM - 1].predicted), "the prediction is shown");
    assert.match(dom.kernels, /^wasm-simd/);
    assert.match(dom.int8, /^\d+ % with int8 weights \(\d+ KiB, \d+ KiB as float32\)$/);
    assert.equal(dom.step, `${STEPS} / ${STEPS}`);

    // control: cross-origin requests from the page and from a worker would have been recorded
    await page.evaluate(`(async () => {
      await fetch("http://egru-control-page.invalid/x").catch(() => undefined);
      const w = new Worker(URL.createObjectURL(new Blob(['fetch("http://egru-control-worker.invalid/x").finally(() => postMessage(0));'])));
      await new Promise((r) => (w.onmessage = r));
      w.terminate();
    })()`);
    for (const host of ["egru-control-page.invalid", "egru-control-worker.invalid"]) {
      assert.ok(
        requests().some((u) => u.includes(host)),
        `the control request to ${host} was seen`,
      );
    }
    console.log(
      `# browser page: ${STEPS} steps and ${STREAM} streamed digits in ${seconds.toFixed(1)} s; loss ${first.toFixed(3)} → ${last.toFixed(3)}, held-out accuracy ${s.evaluated.accuracy}`,
    );
  } finally {
    await browser.close();
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
