// The outer loop of a run (Node only; run/life.ts drives it): run the trainer a step at a time, save a
// checkpoint when one is due (an epoch ended, every checkpointEvery steps, on Ctrl-C, or when the
// command says so), stop on Ctrl-C with exit 130 and the --resume line (a second Ctrl-C leaves at
// once), and turn a NaN/Infinity stop into exit 1 naming the last good checkpoint.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { NonFiniteError } from "egru";
import { checkpointDir } from "./checkpoint.js";
import { EXIT_FAILED, EXIT_INTERRUPTED } from "./exit.js";

/** A run that stopped on NaN or Infinity: say where, and name the last good checkpoint (exit 1); rethrow anything else. */
function trainingFailed(e: unknown, runDir: string): number {
  if (!(e instanceof NonFiniteError)) throw e;
  const last = existsSync(join(runDir, "checkpoint.json")) ? checkpointDir(runDir) : null;
  process.stderr.write(
    `egru: training stopped: ${e.message}. ${last ? `The last good checkpoint is ${last}.` : "No checkpoint was saved yet."}\n`,
  );
  return EXIT_FAILED;
}

export interface TrainingLoop {
  runDir: string;
  /** Steps between periodic checkpoints (0 = epoch ends only). */
  checkpointEvery: number;
  position(): { step: number; epoch: number };
  /** Run the trainer for one step: whether an epoch ended, whether the run is done, and any other reason to save now. */
  advance(): { epochEnded: boolean; done: boolean; saveNow?: boolean };
  save(): void;
  /** Called before a message is printed or the loop returns early (stops the progress bar). */
  stopOutput(): void;
}

/** Drive a run to its end; returns null when it finished, else the exit code (130 interrupted, 1 failed). */
export async function runTrainingLoop(o: TrainingLoop): Promise<number | null> {
  let interrupted = false;
  const onSigint = (): void => {
    if (interrupted) process.exit(EXIT_INTERRUPTED); // a second Ctrl-C: leave at once
    interrupted = true;
  };
  process.on("SIGINT", onSigint);
  let lastSaved = o.position().step;
  try {
    for (;;) {
      const r = o.advance();
      const { step, epoch } = o.position();
      if (
        r.epochEnded ||
        interrupted ||
        r.saveNow ||
        (o.checkpointEvery > 0 && step - lastSaved >= o.checkpointEvery)
      ) {
        o.save();
        lastSaved = step;
      }
      if (interrupted) {
        o.stopOutput();
        process.stderr.write(
          `egru train: interrupted at step ${step} (epoch ${epoch + 1}); checkpoint saved. Continue with: egru train --resume ${o.runDir}\n`,
        );
        return EXIT_INTERRUPTED;
      }
      if (r.done) return null;
      await new Promise((resolve) => setImmediate(resolve)); // let Ctrl-C through
    }
  } catch (e) {
    o.stopOutput();
    return trainingFailed(e, o.runDir);
  } finally {
    process.off("SIGINT", onSigint);
  }
}
