// `egru export RUN_DIR --format pytorch --out DIR`: a run's weights (or a saveModel directory's) as
// the PyTorch model of tools/egru_pytorch.py sees them: DIR/model.safetensors under the PyTorch /
// EvNN names (the library's model/pytorch-names.ts) and DIR/config.json with the architecture.
// Flags → library calls; nothing is overwritten. Node only.

import { existsSync } from "node:fs";
import { checkOutDir, makeOutDir } from "../run/out-dir.js";
import { join } from "node:path";
import { exportPytorch, type Kernels } from "egru";
import { loadModel, modelWeightsFile } from "egru/node";
import { writeFileAtomic } from "../node/atomic-file.js";
import { EXIT_OK, UsageError } from "./run.js";

export interface ExportFlags {
  format: "pytorch";
  out: string;
  json?: boolean;
}

const FILES = ["model.safetensors", "config.json"];

export async function exportCommand(runDir: string, f: ExportFlags, ctx: { kernels?: Kernels }): Promise<number> {
  if (!existsSync(runDir))
    throw new UsageError("RUN_DIR", "a run directory of egru train or egru import", `${runDir}, which does not exist`);
  checkOutDir(f.out, "--out", "a directory (created if needed)", false);
  const taken = FILES.filter((n) => existsSync(join(f.out, n)));
  if (taken.length)
    throw new UsageError(
      "--out",
      "a directory without model.safetensors or config.json (nothing is overwritten)",
      `${f.out}, which has ${taken.join(", ")}`,
    );
  const model = loadModel(runDir, { kernels: ctx.kernels });
  const { weights, config } = exportPytorch(model);
  makeOutDir(f.out, "--out");
  writeFileAtomic(join(f.out, "model.safetensors"), weights);
  writeFileAtomic(join(f.out, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  const summary = {
    source: modelWeightsFile(runDir),
    out: f.out,
    type: config.type,
    cell: config.cell,
    tensors: Object.keys(config.tensors).length,
  };
  if (f.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `egru export: ${summary.source} → ${join(f.out, "model.safetensors")} (${summary.tensors} tensors, PyTorch names) and ${join(f.out, "config.json")}\n` +
        `  run it in PyTorch: python3 tools/egru_pytorch.py run --config ${join(f.out, "config.json")} --weights ${join(f.out, "model.safetensors")} --inputs INPUTS.safetensors\n`,
    );
  return EXIT_OK;
}
