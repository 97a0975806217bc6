// SVG as strings (isomorphic, no DOM): escaping, elements, number formatting for coordinates, the
// document wrapper every chart uses (white background, one font family the PNG renderer has), and
// the colours charts share.

import { printable } from "./printable.js";

/** Escape text for XML content and attribute values (control characters, which XML forbids, made visible). */
export function esc(s: string): string {
  return printable(s, "\t\n\r")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** A coordinate or length, rounded to 0.01 (keeps files small; sub-pixel exactness is not needed). */
export function num(v: number): string {
  if (!Number.isFinite(v)) throw new RangeError(`SVG coordinate ${v}`);
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? "0" : String(r);
}

export type Attrs = Record<string, string | number | undefined | null>;

function attrs(a: Attrs): string {
  let s = "";
  for (const [k, v] of Object.entries(a)) {
    if (v === undefined || v === null) continue;
    s += ` ${k}="${typeof v === "number" ? num(v) : esc(v)}"`;
  }
  return s;
}

/** `<name attrs>children</name>`, or self-closing without children. Children are SVG already. */
export function el(name: string, a: Attrs = {}, children?: string | string[]): string {
  const inner = Array.isArray(children) ? children.join("") : children;
  return inner === undefined || inner === "" ? `<${name}${attrs(a)}/>` : `<${name}${attrs(a)}>${inner}</${name}>`;
}

/** A text element (content escaped). */
export function text(content: string, a: Attrs): string {
  return el("text", a, esc(content));
}

/** The font every chart names (the PNG renderer is given this font; browsers fall back to sans-serif). */
export const FONT = "DejaVu Sans, Verdana, sans-serif";

/** A whole SVG document of width × height with a title (for screen readers and file browsers). */
export function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}"` +
    ` font-family="${FONT}" font-size="12">` +
    `${el("title", {}, esc(title))}${el("rect", { x: 0, y: 0, width, height, fill: "#ffffff" })}${body.join("")}</svg>\n`
  );
}

/** Categorical colours for series (colour-blind-friendly Okabe–Ito order, black last). */
export const SERIES_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];

export function seriesColour(i: number): string {
  return SERIES_COLOURS[i % SERIES_COLOURS.length];
}
