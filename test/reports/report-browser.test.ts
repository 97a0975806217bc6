// The HTML report opened as a file in a real browser (headless Chromium, when installed) makes no
// request: every http(s) request the page could make is routed to a counting proxy on 127.0.0.1,
// which answers it locally. A control page with one external image proves the proxy sees requests.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { reportHtml } from "../../packages/cli/src/viz/report-html.js";
import { runCharts } from "../../packages/cli/src/viz/run-charts.js";
import { eventRaster } from "../../packages/cli/src/viz/raster.js";

/**
 * Requests Chromium makes by itself at every start whatever the page (component updater, account
 * check, network time); answered by the proxy like the rest, but not the page's. Exact hosts: a
 * page asking for anything else, fonts or scripts from Google's other hosts included, is counted.
 */
const BROWSER_OWN = new Set(["update.googleapis.com", "accounts.google.com", "clients2.google.com"]);
const host = (request: string): string => {
  const target = request.split(" ")[1] ?? "";
  return target.startsWith("http") ? new URL(target).hostname : target.split(":")[0];
};

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((p) =>
  existsSync(p),
);
const skip = CHROMIUM ? false : "no Chromium on this machine (apt-get install chromium to run this test)";

/** Open `file` in headless Chromium behind a counting proxy; returns the rendered DOM and the requests seen. */
async function openInBrowser(file: string): Promise<{ dom: string; requests: string[] }> {
  const requests: string[] = [];
  const seen = (r: string): void => {
    if (!BROWSER_OWN.has(host(r))) requests.push(r);
  };
  const proxy: Server = createServer((req, res) => {
    seen(`${req.method} ${req.url}`);
    res.writeHead(404).end();
  });
  proxy.on("connect", (req, socket) => {
    seen(`CONNECT ${req.url}`);
    socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const port = (proxy.address() as AddressInfo).port;
  try {
    const profile = mkdtempSync(join(tmpdir(), "egru-chromium-"));
    const args = [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      "--disable-default-apps",
      "--no-pings",
      `--user-data-dir=${profile}`,
      `--proxy-server=http://127.0.0.1:${port}`,
      "--proxy-bypass-list=<-loopback>",
      "--virtual-time-budget=3000",
      "--dump-dom",
      pathToFileURL(file).href,
    ];
    // asynchronously: a blocking spawn would stop the proxy from answering
    const dom = await new Promise<string>((resolve, reject) => {
      const child = spawn(CHROMIUM!, args, { stdio: ["ignore", "pipe", "ignore"] });
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.on("error", reject);
      child.on("close", () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
    return { dom, requests };
  } finally {
    await new Promise((resolve) => proxy.close(resolve));
  }
}

test("the report opened as a file in headless Chromium renders its charts and requests nothing", {
  skip,
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-html-"));
  const records = Array.from({ length: 30 }, (_, i) => ({
    type: "step",
    step: 10 * (i + 1),
    loss: 6 - i / 10,
    layerSparsity: [0.8],
    layerBackwardSparsity: [0.9],
    macsExecuted: 2,
    macsDense: 10,
  }));
  const charts = runCharts([...records, { type: "epoch", step: 300, loss: 3.2, perplexity: 24.5 }], {
    lm: true,
    cell: "egru",
    layers: 1,
  });
  charts.push({
    name: "raster",
    title: "raster",
    svg: eventRaster({
      title: "raster",
      T: 4,
      layers: [{ name: "layer 1", units: 3, values: Float32Array.from([1, 0, 0.5, 0, 0, 0, 0.2, 0, 0, 0, 0, 1]) }],
      stepLabels: ["<eos>", "a", "b", "c"],
    }),
  });
  const page = join(dir, "report.html");
  writeFileSync(
    page,
    reportHtml({
      title: "report",
      subtitle: "test",
      metrics: [["test perplexity", "24.50"]],
      charts,
      config: { task: "ptb" },
      made: "now",
    }),
  );
  const r = await openInBrowser(page);
  assert.match(r.dom, /test perplexity/, "the page rendered");
  assert.equal((r.dom.match(/<svg /g) ?? []).length, charts.length);
  assert.deepEqual(r.requests, [], "no request left the page");

  // control: a page that does load something from the network is caught by the proxy
  const control = join(dir, "control.html");
  writeFileSync(
    control,
    '<!DOCTYPE html><html><body><p>x</p><img src="http://egru-control.invalid/pixel.png"></body></html>',
  );
  const c = await openInBrowser(control);
  assert.ok(
    c.requests.some((q) => q.includes("egru-control.invalid")),
    `the control's request was seen: ${JSON.stringify(c.requests)}`,
  );
});
