#!/usr/bin/env node
// The egru command line. Wiring only: parse arguments, call library code, print results.
// Exit codes: 0 success, 1 the run failed, 2 bad usage.

import { Command, Option } from "commander";
import { setKernels } from "../kernels/backend.js";
import { createThreadedKernels } from "../node/threaded-kernels.js";
import { loadBestKernels, type KernelChoice } from "../wasm/select.js";
import type { WasmKernels } from "../wasm/wasm-kernels.js";
import { demoTable, runDemo, type DemoOptions } from "./demo.js";
import { EXIT_OK, intOption, reportError } from "./run.js";

let kernelName = "js";

function program(): Command {
  const prog = new Command("egru")
    .description("Event-based, activity-sparse recurrent networks (EGRU) with GRU and LSTM baselines.")
    .version("0.1.0")
    .showHelpAfterError("(add --help for usage)")
    .addOption(
      new Option("--kernels <kind>", "compute kernels: WebAssembly SIMD where available, or the portable TypeScript ones")
        .choices(["auto", "wasm", "js"])
        .default("auto"),
    )
    .option("--threads <n>", "threads for large products (WebAssembly kernels; results do not depend on it)", intOption("--threads"), 1)
    .hook("preAction", async (cmd) => {
      const opts = cmd.opts();
      const k = await loadBestKernels(opts.kernels as KernelChoice);
      kernelName = k.name;
      if (opts.threads > 1 && k.name === "wasm-simd") {
        const threaded = createThreadedKernels(k as WasmKernels, opts.threads);
        setKernels(threaded);
        kernelName = threaded.name;
      }
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
      const rows = runDemo(opts);
      if (opts.json) {
        for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
      } else {
        process.stdout.write(
          `egru demo: T=${opts.steps} B=${opts.batch} I=${opts.input} H=${opts.hidden} seed=${opts.seed} kernels=${kernelName}\n\n` +
            `${demoTable(rows)}\n\n` +
            "Training on real tasks arrives with `egru train`; see README.md.\n",
        );
      }
    });
  return prog;
}

async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv);
    return EXIT_OK;
  } catch (e) {
    return reportError(e);
  }
}

process.exitCode = await main(process.argv);
