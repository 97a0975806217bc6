// Dead EGRU layers and the data-dependent threshold init (README "Language modelling", docs/benchmarks.md
// §6): language models trained with the thresholds the configuration draws ("config") and with
// thresholds then set from the first training batches ("data", model.thresholdInit), on two cases:
//   tiny  the hostile-input issue's case: a 40-word corpus of 20,000 training words (a first-order
//         Markov chain, each word followed by one of 4 words, all drawn with a fixed seed), preset
//         ptb-small with hidden 32, embedding 16, 2 layers, bptt 12, 2 epochs; training seeds 1–6
//   wt2   WikiText-2 (the whole training split and vocabulary), preset ptb-small with hidden 128,
//         embedding 64, 3 layers, `--steps` training steps (default 100), seed 1; validated on the
//         first 20,000 tokens of the validation split (the whole split takes minutes per evaluation here)
// Each run goes through the CLI's own trainer, threshold init and dead-layer watch (egru train minus
// its files), with the same steps for both inits. Per run: the step from which each layer stayed
// silent to the end ("–": it emitted in the last step), the step of its dead-layer warning
// (model.deadLayerSteps 50), each layer's activity on the validation tokens after training, and the
// validation perplexity at batch 32 (the tiny case's whole validation split). Markdown tables on stdout.
//   targets  the tiny case's six seeds with thresholds from data at targets 0.05, 0.1 and 0.2, one
//         threshold per unit and one per layer: mean validation perplexity and activity after training
//         (how the defaults thresholdTarget 0.1, per unit, were chosen)
//
//   node --conditions=egru-source --import tsx bench/dead-layers.ts [--case=tiny|wt2|targets|all]
//        [--data=DIR (WikiText-2's folder)] [--steps=N] [--corpus=DIR (where the tiny corpus is written)]

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Rng } from "../packages/egru/src/core/rng.js";
import { chooseKernels } from "../packages/egru/src/wasm/select.js";
import type { Kernels } from "../packages/egru/src/kernels/backend.js";
import type { ThresholdGranularity } from "../packages/egru/src/nn/threshold-init.js";
import { buildCorpus, type Corpus } from "../packages/cli/src/data/corpus.js";
import { loadCorpus } from "../packages/cli/src/node/corpus-files.js";
import { NODE_WASM_PAGES } from "../packages/cli/src/node/memory-limits.js";
import { loadPresets } from "../packages/cli/src/node/presets.js";
import { buildLmTrainer } from "../packages/cli/src/train/build.js";
import { mergeConfig, parseConfig, type TrainConfigInput } from "../packages/cli/src/train/config.js";
import { thresholdsFromData } from "../packages/cli/src/train/data-thresholds.js";

const arg = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const CASE = arg("case", "all");
const DATA = arg("data", fileURLToPath(new URL("../../shared/data/wikitext-2", import.meta.url)));
const STEPS = Number(arg("steps", "100"));
const CORPUS = arg("corpus", join(fileURLToPath(new URL("..", import.meta.url)), "runs", "dead-layers-corpus"));
const VALID_TOKENS = 20_000;

/** The tiny corpus: 40 words w0 … w39, each followed by one of 4 successors (w+1 among them); lines of 20 words. */
export function tinyCorpusTexts(seed = 1): { train: string; valid: string; test: string } {
  const V = 40;
  const rng = new Rng(seed);
  const next = Array.from({ length: V }, () => [rng.int(V), rng.int(V), rng.int(V), rng.int(V)]);
  let w = 0;
  const text = (words: number): string => {
    const lines: string[] = [];
    for (let i = 0; i < words; i += 20) {
      const line: string[] = [];
      for (let k = 0; k < 20; k++) line.push(`w${(w = next[w][rng.int(4)])}`);
      lines.push(line.join(" "));
    }
    return `${lines.join("\n")}\n`;
  };
  return { train: text(20_000), valid: text(2_000), test: text(2_000) };
}

interface RunResult {
  init: string;
  seed: number;
  steps: number;
  initActivity: number[] | null;
  silentFrom: (number | null)[];
  warnedAt: (number | null)[];
  activity: number[];
  perplexity: number;
  seconds: number;
}

/** Train one language model to its end (or `steps`), watching each layer's events per step. */
function trainOnce(
  corpus: Corpus,
  overrides: TrainConfigInput,
  init: "config" | "data",
  kernels: Kernels,
  steps: number | null,
  per: ThresholdGranularity = "unit",
): RunResult {
  const config = parseConfig(mergeConfig(loadPresets()["ptb-small"], overrides, { model: { thresholdInit: init } }));
  const t0 = performance.now();
  const trainer = buildLmTrainer(config, corpus, { kernels });
  const data = init === "data" ? thresholdsFromData(trainer, config.model.thresholdTarget, per) : null;
  const L = config.model.layers;
  const silentFrom: (number | null)[] = new Array(L).fill(null);
  const warnedAt: (number | null)[] = new Array(L).fill(null);
  trainer.run({
    onStep: (s) => {
      s.layerEvents.forEach((e, l) => {
        silentFrom[l] = e > 0 ? null : (silentFrom[l] ?? s.step);
      });
      for (const w of s.deadLayerWarnings) warnedAt[w.layer - 1] ??= w.step;
    },
    stop: (p) => steps !== null && p.step >= steps,
  });
  const valid = trainer.evaluate("valid", 32);
  return {
    init,
    seed: config.seed,
    steps: trainer.position.step,
    initActivity: data ? data.result.layers.map((l) => l.activity) : null,
    silentFrom,
    warnedAt,
    activity: valid.layerSparsity.map((s) => 1 - s),
    perplexity: valid.perplexity,
    seconds: (performance.now() - t0) / 1000,
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;
const steps = (a: (number | null)[]): string => a.map((s) => (s === null ? "–" : String(s))).join(" / ");

function table(title: string, rows: RunResult[]): string {
  const head =
    "| init | seed | steps | activity after init | silent from step (per layer) | warned at step | activity after training | valid ppl | seconds |\n" +
    "|---|---|---|---|---|---|---|---|---|";
  const lines = rows.map(
    (r) =>
      `| ${r.init} | ${r.seed} | ${r.steps} | ${r.initActivity ? r.initActivity.map(pct).join(" / ") : "–"} | ` +
      `${steps(r.silentFrom)} | ${steps(r.warnedAt)} | ${r.activity.map(pct).join(" / ")} | ${r.perplexity.toFixed(2)} | ${r.seconds.toFixed(0)} |`,
  );
  return `### ${title}\n\n${head}\n${lines.join("\n")}\n`;
}

/** The mean of each layer's (or each run's) figure over runs. */
const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

const SEEDS = [1, 2, 3, 4, 5, 6];
const TINY: TrainConfigInput = {
  task: "ptb",
  model: { hidden: 32, layers: 2 },
  lm: { embedding: 16, bptt: 12 },
  epochs: 2,
};

async function main(): Promise<void> {
  const kernels = await chooseKernels("auto", { maximumPages: NODE_WASM_PAGES });
  process.stderr.write(`dead-layers: kernels ${kernels.name}, ${cpus().length} cores, ${new Date().toISOString()}\n`);
  const texts = tinyCorpusTexts();
  const tiny = buildCorpus(texts);
  if (CASE === "tiny" || CASE === "all") {
    mkdirSync(CORPUS, { recursive: true });
    for (const [split, text] of Object.entries(texts)) writeFileSync(join(CORPUS, `ptb.${split}.txt`), text);
    const rows: RunResult[] = [];
    for (const seed of SEEDS)
      for (const init of ["config", "data"] as const) {
        rows.push(trainOnce(tiny, { ...TINY, seed }, init, kernels, null));
        process.stderr.write(`tiny seed ${seed} ${init} done\n`);
      }
    process.stdout.write(`${table(`tiny: 40 words, 20,000 training words (corpus in ${CORPUS})`, rows)}\n`);
  }
  if (CASE === "targets" || CASE === "all") {
    const lines = [
      "| per | target | mean valid ppl (seeds 1–6) | mean activity after training (per layer) |",
      "|---|---|---|---|",
    ];
    for (const per of ["unit", "layer"] as const)
      for (const target of [0.05, 0.1, 0.2]) {
        const runs = SEEDS.map((seed) =>
          trainOnce(
            tiny,
            { ...TINY, seed, model: { ...TINY.model, thresholdTarget: target } },
            "data",
            kernels,
            null,
            per,
          ),
        );
        const activity = runs[0].activity.map((_, l) => mean(runs.map((r) => r.activity[l])));
        lines.push(
          `| ${per} | ${target} | ${mean(runs.map((r) => r.perplexity)).toFixed(2)} | ${activity.map(pct).join(" / ")} |`,
        );
        process.stderr.write(`targets ${per} ${target} done\n`);
      }
    process.stdout.write(`### tiny, thresholds from data: target and granularity\n\n${lines.join("\n")}\n\n`);
  }
  if (CASE === "wt2" || CASE === "all") {
    const full = loadCorpus("wikitext-2", DATA);
    const corpus: Corpus = { ...full, valid: full.valid.subarray(0, VALID_TOKENS) };
    const over: TrainConfigInput = {
      task: "wikitext-2",
      model: { hidden: 128, layers: 3 },
      lm: { embedding: 64 },
      seed: 1,
    };
    const rows: RunResult[] = [];
    for (const init of ["config", "data"] as const) {
      rows.push(trainOnce(corpus, over, init, kernels, STEPS));
      process.stderr.write(`wt2 ${init} done\n`);
    }
    process.stdout.write(
      `${table(`WikiText-2: ${STEPS} steps, validation on its first ${VALID_TOKENS} tokens`, rows)}\n`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
