import { type Kernels } from "egru";
import { readJsonFile } from "egru/node";
import { loadPresets } from "../node/presets.js";
import { resumeRun, startRun } from "../run/life.js";
import { checkConfigShape, mergeConfig, parseConfig, type TrainConfig } from "../train/config.js";
import { UsageError } from "./run.js";

/** Flags of `egru train` (commander's camel-cased names). */
export interface TrainFlags {
  preset: string;
  config?: string;
  task?: string;
  cell?: string;
  hidden?: number;
  layers?: number;
  embedding?: number;
  bptt?: number;
  timeBudget?: number;
  readout?: string;
  thresholdInit?: string;
  thresholdTarget?: number;
  epochs?: number;
  earlyStop?: number;
  minImprovement?: number;
  batch?: number;
  lr?: number;
  optimizer?: string;
  clip?: number;
  seed?: number;
  validation?: number;
  trainLimit?: number;
  testLimit?: number;
  checkpointEvery?: number;
  data?: string;
  out?: string;
  resume?: string;
  json?: boolean;
  quiet?: boolean;
  skipBad?: boolean;
  microBatch?: number | "auto";
  dvsProtocol?: string;
}

/** The flags that change the configuration (not allowed with --resume); egru import takes some of them. */
export type ConfigFlags = Omit<TrainFlags, "preset" | "out" | "resume" | "json" | "quiet"> & { thresholdMode?: string };

function flagConfig(f: ConfigFlags): Record<string, unknown> {
  return mergeConfig({
    task: f.task,
    epochs: f.epochs,
    earlyStop: f.earlyStop,
    minImprovement: f.minImprovement,
    batchSize: f.batch,
    seed: f.seed,
    validation: f.validation,
    trainLimit: f.trainLimit,
    testLimit: f.testLimit,
    checkpointEvery: f.checkpointEvery,
    data: f.data,
    timeBudget: f.timeBudget,
    microBatch: f.microBatch,
    lm: { embedding: f.embedding, bptt: f.bptt },
    dvs: { skipBad: f.skipBad, protocol: f.dvsProtocol },
    model: {
      cell: f.cell,
      hidden: f.hidden,
      layers: f.layers,
      readout: f.readout,
      thresholdMode: f.thresholdMode,
      thresholdInit: f.thresholdInit,
      thresholdTarget: f.thresholdTarget,
    },
    optimizer: { kind: f.optimizer, lr: f.lr, clip: f.clip },
  });
}

/** Names of the configuration fields set in a (nested) flag object. */
function flagsGiven(o: Record<string, unknown>, prefix = ""): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v !== null && typeof v === "object"
      ? flagsGiven(v as Record<string, unknown>, `${prefix}${k}.`)
      : [`${prefix}${k}`],
  );
}

/** Read and parse a JSON configuration file; errors name the file. */
function readConfigFile(path: string): unknown {
  return checkConfigShape(readJsonFile(path, "a configuration, --config"), path);
}

export async function trainCommand(f: TrainFlags, ctx: { kernels?: Kernels; kernelName: string }): Promise<number> {
  const options = { kernels: ctx.kernels, kernelName: ctx.kernelName, json: f.json, quiet: f.quiet };
  if (f.resume) {
    const given = flagsGiven(flagConfig(f)).filter((k) => k !== "epochs"); // --epochs extends the run
    if (f.config) given.push("config");
    if (f.out) given.push("out");
    if (given.length) {
      throw new UsageError(
        "--resume",
        "no configuration flags but --epochs (a resumed run keeps its saved configuration; --epochs N trains it on to N epochs)",
        given.join(", "),
      );
    }
    return resumeRun(f.resume, { ...options, epochs: f.epochs });
  }
  const { config, source } = configFromFlags(f.preset, f);
  return startRun(config, f.out, { ...options, source });
}

/** The configuration of a preset, a JSON file (--config) and flags, in that order, validated; and where it came from. */
export function configFromFlags(presetName: string, f: ConfigFlags): { config: TrainConfig; source: string } {
  const presets = loadPresets();
  const preset = presets[presetName];
  if (!preset)
    throw new UsageError("--preset", `one of ${Object.keys(presets).join(", ")}`, JSON.stringify(presetName));
  const config = parseConfig(
    mergeConfig(preset, f.config ? readConfigFile(f.config) : {}, flagConfig(f)),
    f.config ?? "config",
  );
  return { config, source: f.config ? `${f.config} over preset ${presetName}` : `preset ${presetName}` };
}
