// A run directory from a PyTorch / EvNN checkpoint (`egru import`, Node only): the configuration's
// model is built (its sizes from the configuration, its data read as a run reads it), the
// checkpoint's tensors are mapped by the library's PyTorch names and loaded (every name, shape and
// EvNN constant checked first), and the directory gets what evaluation, reports, generation and the
// library's loadModel(runDir) read: config.json, model.json, best.safetensors (the weights),
// vocab.txt for language models, and imported.json (where the weights came from). It holds no
// checkpoint, so `egru train --resume` refuses it: there is no optimizer state or data position.

import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { decodeSafetensors, type Kernels, loadPytorchStateDict, paramTensors, pytorchLayout, StateError } from "egru";
import { readFileBytes, sealSafetensors } from "egru/node";
import { writeFileAtomic } from "../node/atomic-file.js";
import { checkOutDir, makeOutDir } from "./out-dir.js";
import { modelJson, parameterCount } from "../train/build.js";
import type { TrainConfig } from "../train/config.js";
import { kindOf } from "./kinds.js";
import { BEST_FILE } from "./language-model.js";
import { IMPORT_FILE } from "./run-files.js";

export interface ImportOutcome {
  runDir: string;
  tensors: number;
  parameters: number;
  /** EvNN constants of the file that were read and not used (e.g. _max_norm). */
  ignored: string[];
}

/** Import `file` (safetensors of a PyTorch state dict) as a run of `config` in `runDir` (new or empty). */
export function importRun(
  file: string,
  config: TrainConfig,
  runDir: string,
  o: { kernels?: Kernels; source: string },
): ImportOutcome {
  if (!existsSync(file))
    throw new StateError(file, "a safetensors file (tools/evnn_to_safetensors.py MODEL.pt)", "nothing there");
  checkOutDir(runDir, "--out", "a new or empty directory (egru never overwrites a run)");
  const bytes = readFileBytes(file, "a PyTorch state dict as safetensors");
  const { tensors } = decodeSafetensors(bytes, file);
  const { model, startFiles } = kindOf(config).blankModel(config, o.kernels);
  loadPytorchStateDict(model, tensors, file);
  const ignored = pytorchLayout(model)
    .constants.filter((c) => c.option === null && c.torch in tensors)
    .map((c) => c.torch);
  makeOutDir(runDir, "--out");
  writeFileAtomic(join(runDir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  for (const [name, text] of Object.entries(startFiles)) writeFileAtomic(join(runDir, name), text);
  writeFileAtomic(join(runDir, "model.json"), modelJson(model));
  writeFileAtomic(join(runDir, BEST_FILE), sealSafetensors(paramTensors(model), { format: "egru-model-1" }));
  const record = {
    source: basename(file),
    sha256: createHash("sha256").update(bytes).digest("hex"),
    configuration: o.source,
    tensors: Object.keys(tensors).length,
    ignored,
    at: new Date().toISOString(),
  };
  writeFileAtomic(join(runDir, IMPORT_FILE), `${JSON.stringify(record, null, 2)}\n`);
  return { runDir, tensors: record.tensors, parameters: parameterCount(model), ignored };
}
