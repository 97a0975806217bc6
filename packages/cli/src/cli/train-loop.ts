// The outer loop both train commands share (Node only): run the trainer a step at a time, save a
// checkpoint when one is due (an epoch ended, every checkpointEvery steps, on Ctrl-C, or when the
// command says so), stop on Ctrl-C with exit 130 and the --resume line (a second Ctrl-C leaves at
// once), and turn a NaN/Infinity stop into exit 1 naming the last good checkpoint.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { NonFiniteError } from "egru";
import type { Optimizer, Param, Rng, RngState } from "egru";
import { checkpointDir, type LoadedCheckpoint } from "../node/checkpoint.js";
import { loadModelTensors, optimizerStateFrom, type ParamOwner } from "../train/build.js";
import { EXIT_FAILED } from "./run.js";

export const EXIT_INTERRUPTED = 130;

/** A run that stopped on NaN or Infinity: say where, and name the last good checkpoint (exit 1); rethrow anything else. */
export function trainingFailed(e: unknown, runDir: string): number {
  if (!(e instanceof NonFiniteError)) throw e;
  const last = existsSync(join(runDir, "checkpoint.json")) ? checkpointDir(runDir) : null;
  process.stderr.write(
    `egru: training stopped: ${e.message}. ${last ? `The last good checkpoint is ${last}.` : "No checkpoint was saved yet."}\n`,
  );
  return EXIT_FAILED;
}

/** What either trainer keeps that a checkpoint restores. */
export interface Restorable<Position, Sums> {
  model: ParamOwner & { rng: Rng; params(): Param[]; weightsChanged?(): void };
  optimizer: Optimizer;
  position: Position;
  sums: Sums;
}

/** Put a trainer back where its checkpoint was: weights, optimizer moments, random state, data position, epoch sums. */
export function restoreTrainer<Position, Sums>(t: Restorable<Position, Sums>, ck: LoadedCheckpoint): void {
  loadModelTensors(t.model, ck.model, join(ck.dir, "model.safetensors"));
  t.model.weightsChanged?.();
  t.optimizer.loadState(optimizerStateFrom(ck.state.optimizerStep, ck.optimizer), t.model.params());
  t.model.rng.setState(ck.state.rng as RngState);
  t.position = { ...(ck.state.position as Position) };
  t.sums = { ...(ck.state.sums as Sums) };
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
