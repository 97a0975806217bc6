// `egru quantize RUN_DIR [--out FILE_OR_DIR] [--scale-axis output|input]`: the run's model (its
// best-validation weights, else its current checkpoint's; or a saveModel directory) with int8
// weights — the library's quantizeNetwork: the recurrent layers' input and recurrent matrices, the
// readout and the embedding int8, with one float32 scale per output (or input) unit; biases and
// thresholds float32 — written as one sealed bundle (a FILE, default RUN_DIR/model-int8.safetensors;
// the config inside, loadModel() reads it) or as a saveModel directory (a DIR: model.json and
// model.safetensors). Prints the sizes before (the same model as a float32 bundle) and after. Nothing
// is overwritten. Node only.

import { existsSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { int8Layers, type Kernels, quantizeNetwork, type ScaleAxis } from "egru";
import {
  loadModel,
  MODEL_CONFIG_FILE,
  MODEL_WEIGHTS_FILE,
  modelWeightsFile,
  saveModel,
  sealedBundle,
  sealedWeights,
} from "egru/node";
import { writeFileAtomic } from "../node/atomic-file.js";
import { checkOutDir } from "../run/out-dir.js";
import { EXIT_OK, UsageError } from "./run.js";

/** Where `egru quantize` writes by default, in the run directory. */
export const INT8_FILE = "model-int8.safetensors";

export interface QuantizeFlags {
  out?: string;
  scaleAxis: ScaleAxis;
  json?: boolean;
}

/** Whether --out names a directory (an existing one, or a path not ending in .safetensors). */
function isDirTarget(out: string): boolean {
  return existsSync(out) ? statSync(out).isDirectory() : !out.endsWith(".safetensors");
}

const bytesText = (n: number): string => `${n.toLocaleString("en-US")} bytes`;

export async function quantizeCommand(runDir: string, f: QuantizeFlags, ctx: { kernels?: Kernels }): Promise<number> {
  if (!existsSync(runDir))
    throw new UsageError("RUN_DIR", "a run directory of egru train or egru import", `${runDir}, which does not exist`);
  const out = f.out ?? join(runDir, INT8_FILE);
  const toDir = f.out !== undefined && isDirTarget(f.out);
  if (toDir) {
    checkOutDir(out, "--out", "a directory (created if needed) or a .safetensors file", false);
    const taken = [MODEL_CONFIG_FILE, MODEL_WEIGHTS_FILE].filter((n) => existsSync(join(out, n)));
    if (taken.length)
      throw new UsageError(
        "--out",
        "a directory without model.json or model.safetensors",
        `${out}, which has ${taken.join(", ")}`,
      );
  } else if (existsSync(out))
    throw new UsageError(
      f.out ? "--out" : "RUN_DIR",
      `no file at ${out} (nothing is overwritten)`,
      "one there already",
    );
  const source = modelWeightsFile(runDir);
  const model = loadModel(runDir, { kernels: ctx.kernels });
  if (model.weightFormat === "int8")
    throw new UsageError("RUN_DIR", "a model with float32 weights", `${source}, which holds int8 weights already`);
  const float32Bytes = (toDir ? sealedWeights(model) : sealedBundle(model)).length;
  quantizeNetwork(model, { axis: f.scaleAxis });
  let int8Bytes: number;
  let written: string;
  if (toDir) {
    saveModel(model, out);
    written = join(out, MODEL_WEIGHTS_FILE);
    int8Bytes = statSync(written).size;
  } else {
    const bytes = sealedBundle(model);
    writeFileAtomic(out, bytes);
    written = out;
    int8Bytes = bytes.length;
  }
  const matrices = int8Layers(model).flatMap((l) =>
    Object.keys(l.int8Slots()).flatMap((k) => {
      const m = l.int8Weight(k);
      return m ? [m.values.length] : [];
    }),
  );
  const summary = {
    source,
    out: written,
    scaleAxis: f.scaleAxis,
    float32Bytes,
    int8Bytes,
    ratio: int8Bytes / float32Bytes,
    int8Matrices: matrices.length,
    int8Weights: matrices.reduce((a, b) => a + b, 0),
  };
  if (f.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `egru quantize: ${source} → ${written} (int8 weights, one scale per ${f.scaleAxis} unit)\n` +
        `  float32  ${bytesText(float32Bytes)} (the same model as a float32 ${toDir ? "model.safetensors" : "bundle"}; the run's ${basename(source)}: ${bytesText(statSync(source).size)})\n` +
        `  int8     ${bytesText(int8Bytes)} (${summary.ratio.toFixed(3)} of float32): ${matrices.length} int8 matrices of ${summary.int8Weights.toLocaleString("en-US")} weights, biases and thresholds float32\n`,
    );
  return EXIT_OK;
}
