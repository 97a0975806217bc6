// SVG to PNG (Node only) with resvg compiled to WebAssembly (@resvg/resvg-wasm: no native addon,
// nothing downloaded) and the DejaVu Sans fonts of the dejavu-fonts-ttf package, so text renders
// the same on every machine (the WebAssembly renderer sees no system fonts).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { initWasm, Resvg } from "@resvg/resvg-wasm";

const require = createRequire(import.meta.url);
let ready: Promise<void> | null = null;
let fonts: Uint8Array[] | null = null;

function init(): Promise<void> {
  ready ??= initWasm(readFileSync(require.resolve("@resvg/resvg-wasm/index_bg.wasm")));
  fonts ??= ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) =>
    readFileSync(require.resolve(`dejavu-fonts-ttf/ttf/${f}`)),
  );
  return ready;
}

/** Render an SVG document to PNG bytes at `scale` × its size (2 = sharp on high-density screens). */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  await init();
  const r = new Resvg(svg, {
    fitTo: { mode: "zoom", value: scale },
    background: "#ffffff",
    font: { fontBuffers: fonts!, defaultFontFamily: "DejaVu Sans", sansSerifFamily: "DejaVu Sans" },
  });
  try {
    const img = r.render();
    const png = img.asPng();
    img.free();
    return png;
  } finally {
    r.free();
  }
}
