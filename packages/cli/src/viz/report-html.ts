// The run report: one self-contained HTML page (no scripts, no external requests: styles and the
// SVG charts inline) with the run's warnings (if any) in a box at the top, the final metrics table,
// every chart and the configuration.

import { esc } from "./svg.js";
import type { Chart } from "./run-charts.js";

export interface ReportInput {
  title: string;
  /** One line under the title (task, model, where the run lives). */
  subtitle: string;
  /** The final figures: label → value (already formatted). */
  metrics: [string, string][];
  /** Warnings about the run (e.g. EGRU layers that emitted no event), shown above the results; none: no box. */
  warnings?: string[];
  charts: Chart[];
  /** The run's configuration, shown as JSON. */
  config: unknown;
  /** When the report was made (ISO time). */
  made: string;
}

const STYLE = `
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
p.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; }
td, th { padding: 0.25rem 0.8rem; border-bottom: 1px solid #eee; text-align: left; vertical-align: top; }
td:first-child { color: #555; }
figure { margin: 1.2rem 0; }
figure svg { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.85rem; }
div.warnings { background: #fff4e0; border: 1px solid #e0a040; padding: 0.6rem 1rem; margin: 1rem 0; }
div.warnings p { margin: 0.3rem 0; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; font-size: 0.8rem; }
`;

export function reportHtml(r: ReportInput): string {
  const rows = r.metrics.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("\n");
  const warnings = (r.warnings ?? []).length
    ? `<div class="warnings" id="warnings">\n${(r.warnings ?? []).map((w) => `<p><strong>Warning:</strong> ${esc(w)}</p>`).join("\n")}\n</div>\n`
    : "";
  const figures = r.charts
    .map(
      (c) =>
        `<figure id="${esc(c.name)}">\n${c.svg.trim()}\n<figcaption>${esc(c.title)} (${esc(c.name)}.svg, ${esc(c.name)}.png)</figcaption>\n</figure>`,
    )
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${esc(r.title)}</h1>
<p class="sub">${esc(r.subtitle)}</p>
${warnings}<h2>Results</h2>
<table>
${rows}
</table>
<h2>Charts</h2>
${figures}
<h2>Configuration</h2>
<pre>${esc(JSON.stringify(r.config, null, 2))}</pre>
<p class="sub">Made by egru report on ${esc(r.made)}.</p>
</body>
</html>
`;
}
