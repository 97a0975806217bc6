// `egru import FILE --preset NAME [--config FILE] [--out RUN_DIR]`: a PyTorch / EvNN checkpoint
// (safetensors; tools/evnn_to_safetensors.py converts a .pt state dict) as an egru run directory that
// `egru eval`, `report`, `generate`, `export` and the library's loadModel(runDir) read. The model is
// the configuration's (preset, JSON file, flags, as egru train builds it); the file must hold exactly
// its tensors under their PyTorch names (run/import-run.ts). Flags → library calls. Node only.

import type { Kernels } from "egru";
import { importRun } from "../run/import-run.js";
import { defaultRunDir } from "../run/life.js";
import { EXIT_OK } from "./run.js";
import { type ConfigFlags, configFromFlags } from "./train.js";

export interface ImportFlags extends ConfigFlags {
  preset: string;
  out?: string;
  json?: boolean;
}

export async function importCommand(file: string, f: ImportFlags, ctx: { kernels?: Kernels }): Promise<number> {
  const { preset, out, json, ...flags } = f;
  const { config, source } = configFromFlags(preset, flags);
  const dir = out ?? defaultRunDir(config);
  const r = importRun(file, config, dir, { kernels: ctx.kernels, source });
  if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else
    process.stdout.write(
      `egru import: ${file} → ${r.runDir} (${r.tensors} tensors, ${r.parameters.toLocaleString("en-US")} parameters, ${config.task} ${config.model.cell} from ${source})\n` +
        (r.ignored.length
          ? `  read and not used: ${r.ignored.join(", ")} (EvNN's in-backward clip; the run's is the configuration's model.gradClip, ${config.model.gradClip})\n`
          : "") +
        `  evaluate it: egru eval ${r.runDir}\n`,
    );
  return EXIT_OK;
}
