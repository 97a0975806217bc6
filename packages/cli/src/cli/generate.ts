// `egru generate RUN_DIR --prompt "…" --tokens N --temperature T`: sample text from a trained
// language model. Reads the run's config.json and vocab.txt, the best-validation weights
// (best.safetensors; else the last checkpoint's), feeds <eos> and the prompt through an LmStream and
// samples one word at a time, writing words to stdout as they come (<eos> as a line break). With
// --weights int8 the weights are quantised first (the library's quantizeNetwork). Node only.

import { existsSync } from "node:fs";
import { type Kernels, LmStream, quantizeNetwork, Rng, sampleToken, type ScaleAxis, type WeightFormat } from "egru";
import { EOS } from "../data/corpus.js";
import { printable } from "../viz/printable.js";
import { loadRunWeights, readRunConfig, readVocab } from "../run/run-files.js";
import { isLmTask } from "../train/config.js";
import { pct } from "../run/format.js";
import { buildLanguageModel } from "../train/build.js";
import { EXIT_OK, UsageError } from "./run.js";

const UNK = "<unk>";

export interface GenerateFlags {
  prompt: string;
  tokens: number;
  temperature: number;
  topK: number;
  seed: number;
  segment?: number;
  json?: boolean;
  quiet?: boolean;
  /** "int8": quantise the weights first. Default float32. */
  weights?: WeightFormat;
  scaleAxis?: ScaleAxis;
}

/** The prompt's ids after a leading <eos>; line breaks are <eos>; unknown words become <unk> (with a warning) or are an error. */
export function promptIds(prompt: string, ids: Map<string, number>, warn: (m: string) => void): number[] {
  const eos = ids.get(EOS);
  if (eos === undefined) throw new UsageError("vocab.txt", `a vocabulary with ${EOS}`, "none");
  const out = [eos];
  const lines = prompt.split("\n");
  lines.forEach((line, i) => {
    for (const w of line.split(/\s+/)) {
      if (w === "") continue;
      let id = ids.get(w);
      if (id === undefined) {
        const unk = ids.get(UNK);
        if (unk === undefined) throw new UsageError("--prompt", "words of the run's vocabulary", JSON.stringify(w));
        warn(`egru generate: ${JSON.stringify(w)} is not in the vocabulary; it is read as ${UNK}`);
        id = unk;
      }
      out.push(id);
    }
    if (i < lines.length - 1) out.push(eos);
  });
  return out;
}

export async function generateCommand(runDir: string, f: GenerateFlags, ctx: { kernels?: Kernels }): Promise<number> {
  if (!existsSync(runDir))
    throw new UsageError("RUN_DIR", "a language-model run directory", `${runDir}, which does not exist`);
  const config = readRunConfig(runDir);
  if (!isLmTask(config.task))
    throw new UsageError("RUN_DIR", "a language-model run (task ptb or wikitext-2)", `a ${config.task} run`);
  const words = readVocab(runDir);
  const ids = new Map(words.map((w, i) => [w, i]));
  const model = buildLanguageModel(config, words.length, ctx.kernels);
  const source = loadRunWeights(model, runDir);
  const int8 = f.weights === "int8";
  if (int8) quantizeNetwork(model, { axis: f.scaleAxis });
  const log = (m: string): void => {
    if (!f.quiet) process.stderr.write(`${m}\n`);
  };
  const prompt = promptIds(f.prompt, ids, log);
  const stream = new LmStream(model, { segment: f.segment ?? config.lm.bptt });
  const rng = new Rng(f.seed);
  log(
    `egru generate: ${config.model.cell.toUpperCase()} language model of ${runDir} (weights ${source}${int8 ? ", int8" : ""}), temperature ${f.temperature}` +
      `${f.topK > 0 ? `, top ${f.topK}` : ""}, seed ${f.seed}`,
  );

  // words as the terminal shows them (control characters made visible); JSON output keeps them escaped
  const text = (w: string): string => (w === EOS ? "\n" : w);
  const shownWord = (w: string): string => (w === EOS ? "\n" : printable(w));
  const out: string[] = [];
  const shown = prompt
    .slice(1)
    .map((i) => shownWord(words[i]))
    .join(" ")
    .replace(/ ?\n ?/g, "\n");
  if (!f.json) process.stdout.write(shown);
  let lineStart = shown === "" || shown.endsWith("\n");
  const t0 = performance.now();
  let logits = stream.feedAll(prompt);
  for (let n = 0; n < f.tokens; n++) {
    const id = sampleToken(logits, f.temperature, rng.uniform(), f.topK);
    const w = words[id];
    out.push(w);
    if (!f.json) {
      process.stdout.write(w === EOS ? "\n" : lineStart ? printable(w) : ` ${printable(w)}`);
      lineStart = w === EOS;
    }
    if (n < f.tokens - 1) logits = stream.feed(id);
  }
  const seconds = (performance.now() - t0) / 1000;
  const sparsity = stream.layerSparsity();
  if (f.json) {
    process.stdout.write(
      `${JSON.stringify({
        type: "generate",
        run: runDir,
        prompt: f.prompt,
        temperature: f.temperature,
        topK: f.topK,
        seed: f.seed,
        segment: stream.segment,
        tokens: out,
        text: out
          .map(text)
          .join(" ")
          .replace(/ ?\n ?/g, "\n"),
        layerSparsity: config.model.cell === "egru" ? sparsity : null,
        weightFormat: int8 ? "int8" : "float32",
        tokensPerSecond: stream.position / seconds,
      })}\n`,
    );
  } else {
    if (!lineStart) process.stdout.write("\n");
    log(
      `egru generate: ${stream.position} tokens read in ${seconds.toFixed(2)} s (${(stream.position / seconds).toFixed(0)} tokens/s)` +
        (config.model.cell === "egru" ? `; activity sparsity per layer ${sparsity.map(pct).join(", ")}` : ""),
    );
  }
  return EXIT_OK;
}
