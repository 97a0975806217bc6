#!/usr/bin/env node
// The egru command line. Wiring only: parse arguments, call library code, print results.
// Exit codes: 0 success, 1 the run failed, 2 bad usage.

import { availableParallelism, totalmem } from "node:os";
import { Command, Option } from "commander";
import { chooseKernels, type KernelChoice, type Kernels, SCALE_AXES } from "egru";
import type { WasmKernels } from "egru";
import { createThreadedKernels } from "egru/node";
import { NODE_WASM_PAGES } from "../node/memory-limits.js";
import { demoTable, runDemo, type DemoOptions } from "./demo.js";
import { evalCommand, type EvalFlags } from "./eval.js";
import { exportCommand, type ExportFlags } from "./export.js";
import { importCommand, type ImportFlags } from "./import.js";
import { EXIT_OK, intOption, numberOption, reportError, UsageError } from "./run.js";
import { trainCommand, type TrainFlags } from "./train.js";
import { loadPresets } from "../node/presets.js";
import { registerDataCommand } from "./data.js";
import { generateCommand, type GenerateFlags } from "./generate.js";
import { quantizeCommand, type QuantizeFlags } from "./quantize.js";
import { rasterCommand, reportCommand, type ReportFlags } from "./report.js";
import { checkCommandName } from "./suggest.js";

/** The kernels chosen by --kernels and --threads (set before any action runs), passed to every command. */
let kernels: { kernels?: Kernels; kernelName: string } = { kernelName: "js" };
/** The exit code an action sets (commander's actions return nothing). */
let actionCode = EXIT_OK;

/** --weights and --scale-axis of eval and generate: evaluate or sample with int8 weights, quantised on the fly. */
function addWeightOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        "--weights <format>",
        "float32 (as trained) or int8: the weights quantised on the fly (egru quantize; recurrent, input, readout and embedding matrices)",
      )
        .choices(["float32", "int8"])
        .default("float32"),
    )
    .addOption(scaleAxisOption());
}

/** --scale-axis: the units each int8 scale belongs to. */
function scaleAxisOption(): Option {
  return new Option("--scale-axis <axis>", "int8 weights: one float32 scale per output unit or per input unit")
    .choices([...SCALE_AXES])
    .default(SCALE_AXES[0]);
}

/** The model flags of train and import: task, cell and sizes (they go over the preset's configuration). */
function addModelOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option("--task <task>", "the task").choices([
        "mnist-row",
        "smnist",
        "psmnist",
        "ptb",
        "wikitext-2",
        "dvs-gesture",
      ]),
    )
    .addOption(new Option("--cell <cell>", "recurrent cell").choices(["egru", "gru", "lstm"]))
    .option("--hidden <H>", "units per layer", intOption("--hidden"))
    .option("--layers <n>", "stacked layers", intOption("--layers"))
    .option("--embedding <E>", "language models: embedding size (also the last layer's)", intOption("--embedding"));
}

function program(): Command {
  const prog = new Command("egru")
    .description("Event-based, activity-sparse recurrent networks (EGRU) with GRU and LSTM baselines.")
    .version("0.1.0")
    .showHelpAfterError("(add --help for usage)")
    .configureHelp({ showGlobalOptions: true }) // --kernels and --threads in every command's help (they work anywhere on the line)
    .addOption(
      new Option(
        "--kernels <kind>",
        "compute kernels: WebAssembly SIMD where available, or the portable TypeScript ones",
      )
        .choices(["auto", "wasm", "js"])
        .default("auto"),
    )
    .option(
      "--threads <n>",
      "threads: a classifier's row blocks run on model replicas, one per thread, else large products are split (WebAssembly kernels; results do not depend on it)",
      intOption("--threads"),
      1,
    )
    .option("--force-threads", "allow --threads above this machine's logical cores", false)
    .hook("preAction", async (cmd) => {
      const opts = cmd.opts();
      const cores = availableParallelism();
      if (opts.threads > cores && !opts.forceThreads)
        throw new UsageError(
          "--threads",
          `at most ${cores} (this machine's logical cores; --force-threads to go beyond)`,
          String(opts.threads),
        );
      const k = await chooseKernels(opts.kernels as KernelChoice, { maximumPages: NODE_WASM_PAGES });
      const chosen =
        opts.threads > 1 && k.name === "wasm-simd" ? createThreadedKernels(k as WasmKernels, opts.threads) : k;
      // the relaxed-SIMD build of the WebAssembly kernels (Node ≥ 22) says so in the run's records
      const relaxed = k.name === "wasm-simd" && (k as WasmKernels).wasm.relaxed;
      kernels = { kernels: chosen, kernelName: relaxed ? `${chosen.name} (relaxed SIMD)` : chosen.name };
    })
    .exitOverride();

  prog
    .command("demo", { isDefault: true })
    .description(
      "Run one forward and backward pass of EGRU, GRU and LSTM on a seeded random sequence and report " +
        "activity sparsity, backward sparsity and executed vs dense multiply-accumulates (the default command).",
    )
    .addOption(new Option("--cell <cell>", "which cell to run").choices(["egru", "gru", "lstm", "all"]).default("all"))
    .option("--steps <T>", "time steps", intOption("--steps"), 28)
    .option("--batch <B>", "batch size", intOption("--batch"), 16)
    .option("--input <I>", "input features per step", intOption("--input"), 28)
    .option("--hidden <H>", "units per layer", intOption("--hidden"), 128)
    .option("--seed <n>", "random seed", intOption("--seed", 0), 0)
    .option("--json", "print one JSON object per cell (JSON lines) instead of a table", false)
    .exitOverride()
    .action((opts: DemoOptions) => {
      const rows = runDemo({ ...opts, kernels: kernels.kernels }, totalmem() / 3);
      if (opts.json) {
        for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
      } else {
        process.stdout.write(
          `egru demo: T=${opts.steps} B=${opts.batch} I=${opts.input} H=${opts.hidden} seed=${opts.seed} kernels=${kernels.kernelName}\n\n` +
            `${demoTable(rows)}\n\n` +
            "Training on real tasks arrives with `egru train`; see README.md.\n",
        );
      }
    });
  const train = prog
    .command("train")
    .description(
      "Train a sequence classifier and evaluate it on the test set. With no options: an EGRU on row-sequential " +
        "MNIST (the built-in default, a few minutes on two cores). Writes a run directory with config.json, " +
        "metrics.jsonl, checkpoints and summary.json. Ctrl-C saves a checkpoint and exits (code 130); --resume continues.",
    )
    .addOption(
      new Option("--preset <name>", "starting configuration (README: Presets)")
        .choices(Object.keys(loadPresets()))
        .default("default"),
    )
    .option("--config <file>", "JSON configuration merged over the preset (see README: Training)");
  addModelOptions(train)
    .option("--bptt <T>", "language models: nominal BPTT segment length", intOption("--bptt", 2))
    .option(
      "--time-budget <minutes>",
      "stop training after so many minutes, then validate and test",
      numberOption("--time-budget", { gt: 0 }),
    )
    .addOption(
      new Option("--readout <kind>", "what the classifier reads").choices(["trace", "last", "mean", "trace-mean"]),
    )
    .addOption(
      new Option(
        "--threshold-init <how>",
        "EGRU thresholds: config (drawn as thresholdMode and thresholdMean say) or data (then set from the first batches to --threshold-target activity)",
      ).choices(["config", "data"]),
    )
    .option(
      "--threshold-target <fraction>",
      "with --threshold-init data: the fraction of units active, in (0, 1)",
      numberOption("--threshold-target", { gt: 0 }),
    )
    .option(
      "--epochs <n>",
      "training epochs (with --resume: train the run on to n epochs in all, extending it)",
      intOption("--epochs"),
    )
    .option(
      "--early-stop <epochs>",
      "stop once validation has not improved for so many epochs (0 = never), then test the best weights",
      intOption("--early-stop", 0),
    )
    .option(
      "--min-improvement <fraction>",
      "validation improves, for --early-stop and the plateau schedule, only when better than the best by more than this fraction, e.g. 0.002 (default 0: any gain; the best weights follow any gain)",
      numberOption("--min-improvement", { min: 0 }),
    )
    .option("--batch <B>", "batch size", intOption("--batch"))
    .addOption(new Option("--optimizer <kind>", "optimizer").choices(["sgd", "adam", "adamw"]))
    .option("--lr <rate>", "learning rate", numberOption("--lr", { gt: 0 }))
    .option("--clip <norm>", "global gradient-norm clipping (0 = off)", numberOption("--clip", { min: 0 }))
    .option("--seed <n>", "random seed (init, masks, batch order)", intOption("--seed", 0))
    .option("--validation <n>", "training examples held out for validation", intOption("--validation", 0))
    .option(
      "--micro-batch <n|auto>",
      "rows per forward and backward (auto: as many as the memory estimate fits, for classifiers at most 64; the summed gradients equal the whole batch's)",
      (v: string) => (v.trim() === "auto" ? "auto" : intOption("--micro-batch")(v)),
    )
    .option("--train-limit <n>", "use only the first n training examples", intOption("--train-limit"))
    .option("--test-limit <n>", "use only the first n test examples", intOption("--test-limit"))
    .option(
      "--checkpoint-every <steps>",
      "checkpoint every so many steps, besides every epoch end (0 = epoch ends only)",
      intOption("--checkpoint-every", 0),
    )
    .option("--skip-bad", "dvs-gesture: continue past recordings that fail to read (each one named in the log)")
    .addOption(
      new Option(
        "--dvs-protocol <protocol>",
        "dvs-gesture model selection: holdout (validation clips held out of training) or authors (the official code's: validate on the TEST set, optimistic)",
      ).choices(["holdout", "authors"]),
    )
    .option(
      "--data <dir>",
      "directory with the dataset's files (default: the packaged MNIST; for ptb / wikitext-2 the cache `egru data download` fills)",
    )
    .option("--out <dir>", "run directory (default runs/<task>-<cell>-<time>; must be new or empty)")
    .option("--resume <dir>", "continue the run in this directory from its last checkpoint (only --epochs may change)")
    .option("--json", "print metrics as JSON lines on stdout instead of the progress bar and table", false)
    .option("--quiet", "no progress output on stderr", false)
    .exitOverride()
    .action(async (opts: TrainFlags) => {
      actionCode = await trainCommand(opts, kernels);
    });

  const evalCmd = prog
    .command("eval")
    .description(
      "Evaluate a trained model (a run directory's last checkpoint, or a checkpoint directory) and write eval-<split>.json. " +
        "A language-model run: its best-validation weights at the test batch size, validation and test perplexity, as egru train ends.",
    )
    .argument("<run>", "run directory or checkpoint directory")
    .addOption(
      new Option("--split <split>", "which split (default: test; language models: valid and test)").choices([
        "test",
        "valid",
        "train",
      ]),
    )
    .option("--json", "print one JSON line instead of the table", false)
    .option("--quiet", "no progress output on stderr", false);
  addWeightOptions(evalCmd)
    .exitOverride()
    .action(async (run: string, opts: EvalFlags) => {
      actionCode = await evalCommand(run, opts, kernels);
    });
  prog
    .command("quantize")
    .description(
      "Write a run's model with int8 weights for inference: the recurrent layers' input and recurrent matrices, the " +
        "readout and the embedding as int8 with one float32 scale per output (or input) unit; biases and thresholds " +
        "float32. One sealed bundle (default RUN_DIR/model-int8.safetensors; loadModel() reads it, in the browser too) " +
        "or a model directory; prints the sizes before and after.",
    )
    .argument("<run>", "run directory of egru train or egru import (or a saveModel directory)")
    .option(
      "--out <file-or-dir>",
      "a .safetensors file (a bundle) or a directory (model.json and model.safetensors); nothing is overwritten",
    )
    .addOption(scaleAxisOption())
    .option("--json", "print one JSON line instead of the message", false)
    .exitOverride()
    .action(async (run: string, opts: QuantizeFlags) => {
      actionCode = await quantizeCommand(run, opts, kernels);
    });
  const generateCmd = prog
    .command("generate")
    .description(
      "Sample text from a trained language model (a ptb or wikitext-2 run directory): its best-validation weights, " +
        "fed <eos> and the prompt, then one sampled word at a time (<eos> prints as a line break).",
    )
    .argument("<run>", "run directory of `egru train --task ptb|wikitext-2`")
    .option("--prompt <text>", "words to start from (unknown words are read as <unk>)", "")
    .option("--tokens <n>", "words to sample", intOption("--tokens", 1, 1_000_000), 50)
    .option(
      "--temperature <t>",
      "softmax temperature (0 = always the most likely word)",
      numberOption("--temperature", { min: 0 }),
      1,
    )
    .option("--top-k <k>", "sample only among the k most likely words (0 = all)", intOption("--top-k", 0), 0)
    .option("--seed <n>", "random seed of the sampling", intOption("--seed", 0), 0)
    .option(
      "--segment <n>",
      "EGRU: restart the internal state every n words, as evaluation does (default: the run's bptt; 0 = never)",
      intOption("--segment", 0),
    )
    .option("--json", "print one JSON line (words, text, sparsity) instead of streaming the text", false)
    .option("--quiet", "no messages on stderr", false);
  addWeightOptions(generateCmd)
    .exitOverride()
    .action(async (run: string, opts: GenerateFlags) => {
      actionCode = await generateCommand(run, opts, kernels);
    });
  prog
    .command("report")
    .description(
      "Draw a run's pictures: learning curves, sparsity per layer, executed vs dense MACs, an event raster and the " +
        "distribution of c − ϑ, as charts/*.svg and *.png and one self-contained report.html in the run directory.",
    )
    .argument("<run>", "run directory of egru train")
    .option(
      "--input <n>",
      "test example (classifier) or test sentence (language model) for the raster",
      intOption("--input", 0),
      0,
    )
    .option("--no-png", "SVG only (skip the PNG copies)")
    .option("--quiet", "no messages on stderr", false)
    .exitOverride()
    .action(async (run: string, opts: ReportFlags) => {
      actionCode = await reportCommand(run, opts, kernels);
    });
  prog
    .command("raster")
    .description(
      "Draw the event raster (units × time, a mark per event coloured by its value) of an EGRU run on one test input: charts/raster-N.svg and .png.",
    )
    .argument("<run>", "run directory of egru train (EGRU)")
    .option(
      "--input <n>",
      "test example (classifier) or test sentence (language model; its words label the time axis)",
      intOption("--input", 0),
      0,
    )
    .option("--no-png", "SVG only (skip the PNG copy)")
    .exitOverride()
    .action(async (run: string, opts: ReportFlags) => {
      actionCode = await rasterCommand(run, opts, kernels);
    });
  prog
    .command("export")
    .description(
      "Write a run's weights for PyTorch: OUT/model.safetensors under the names of the equivalent PyTorch model " +
        "(EvNN's EGRU names, nn.GRU / nn.LSTM, nn.Embedding, nn.Linear, the CNN as nn.Sequential) and OUT/config.json; " +
        "tools/egru_pytorch.py builds that model, loads them and runs inputs; tools/pytorch_train_step.py trains it " +
        "(README: PyTorch and EvNN).",
    )
    .argument("<run>", "run directory of egru train or egru import (or a saveModel directory)")
    .addOption(new Option("--format <format>", "what to write").choices(["pytorch"]).makeOptionMandatory())
    .requiredOption("--out <dir>", "directory for model.safetensors and config.json (neither may exist yet)")
    .option("--json", "print one JSON line instead of the message", false)
    .exitOverride()
    .action(async (run: string, opts: ExportFlags) => {
      actionCode = await exportCommand(run, opts, kernels);
    });
  const imp = prog
    .command("import")
    .description(
      "Make a run directory from a PyTorch / EvNN checkpoint (safetensors; convert a .pt state dict with " +
        "tools/evnn_to_safetensors.py) for egru eval, report, generate and loadModel(). The model is the preset's " +
        "(with --config and the flags over it); the file must hold exactly its tensors under their PyTorch names. " +
        "EvNN v0.1 checkpoints (thr_reparam) need --threshold-mode sigmoid. The run has no training state: --resume refuses it.",
    )
    .argument("<file>", "safetensors file of the checkpoint's state dict")
    .addOption(
      new Option("--preset <name>", "the configuration the checkpoint was trained with (README: Presets)")
        .choices(Object.keys(loadPresets()))
        .makeOptionMandatory(),
    )
    .option("--config <file>", "JSON configuration merged over the preset (e.g. the model's sizes)");
  addModelOptions(imp)
    .addOption(
      new Option(
        "--threshold-mode <mode>",
        "EGRU thresholds: clamp (EvNN v0.2, thr) or sigmoid (v0.1, thr_reparam)",
      ).choices(["clamp", "sigmoid"]),
    )
    .option("--data <dir>", "the task's data (a language model's vocabulary comes from its corpus)")
    .option("--out <dir>", "run directory (default runs/<task>-<cell>-<time>; must be new or empty)")
    .option("--json", "print one JSON line instead of the message", false)
    .exitOverride()
    .action(async (file: string, opts: ImportFlags) => {
      actionCode = await importCommand(file, opts, kernels);
    });
  registerDataCommand(prog, (c) => {
    actionCode = c;
  });
  return prog;
}

async function main(argv: string[]): Promise<number> {
  try {
    const prog = program();
    checkCommandName(prog, argv.slice(2));
    await prog.parseAsync(argv);
    return actionCode;
  } catch (e) {
    return reportError(e);
  }
}

process.exitCode = await main(process.argv);
