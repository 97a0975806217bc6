// `egru report RUN_DIR` and `egru raster RUN_DIR --input N`: the pictures of a run (run/report.ts
// draws them). Node only.

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Kernels } from "egru";
import { readRunConfig } from "../run/run-files.js";
import { kindOf } from "../run/kinds.js";
import { activityCharts, writeCharts, writeReport } from "../run/report.js";
import { EXIT_OK, UsageError } from "./run.js";

export interface ReportFlags {
  input: number;
  png: boolean;
  quiet?: boolean;
}

export async function reportCommand(runDir: string, f: ReportFlags, ctx: { kernels?: Kernels }): Promise<number> {
  if (!existsSync(runDir))
    throw new UsageError("RUN_DIR", "a run directory of egru train", `${runDir}, which does not exist`);
  const log = (m: string): void => {
    if (!f.quiet) process.stderr.write(`${m}\n`);
  };
  const out = await writeReport(runDir, f, log, ctx.kernels);
  process.stdout.write(`egru report: ${out} (charts in ${join(runDir, "charts")})\n`);
  return EXIT_OK;
}

export async function rasterCommand(runDir: string, f: ReportFlags, ctx: { kernels?: Kernels }): Promise<number> {
  if (!existsSync(runDir))
    throw new UsageError("RUN_DIR", "a run directory of egru train", `${runDir}, which does not exist`);
  const config = readRunConfig(runDir);
  if (config.model.cell !== "egru")
    throw new UsageError("RUN_DIR", "an EGRU run (only EGRU emits events)", `a ${config.model.cell} run`);
  const a = kindOf(config).activity(runDir, config, f.input, ctx.kernels);
  const [raster] = activityCharts(a, "egru");
  const files = await writeCharts(runDir, [{ ...raster, name: `raster-${f.input}` }], f.png);
  process.stdout.write(`egru raster: ${a.label}: ${files.join(", ")}\n`);
  return EXIT_OK;
}
