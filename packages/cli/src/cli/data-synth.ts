// `egru data synth-dvs --out DIR`: write a synthetic DVS128 Gesture set (AEDAT 3.1 recordings,
// labels, split lists, gesture_mapping.csv) in exactly the real dataset's layout. Node only.

import type { Command } from "commander";
import { checkOutDir } from "../run/out-dir.js";
import { writeSynthGestures } from "../node/dvs-files.js";
import { SYNTH_CLASSES } from "../data/synth-dvs.js";
import { EXIT_OK, intOption, UsageError } from "./run.js";

export interface SynthDvsFlags {
  out: string;
  classes: number;
  trainUsers: number;
  testUsers: number;
  rate: number;
  seed: number;
  json?: boolean;
}

/** The largest synthetic set egru data synth-dvs writes (the real DVS Gesture is about 3 GiB). */
const SYNTH_MAX_BYTES = 8 * 2 ** 30;

export function synthDvsCommand(f: SynthDvsFlags): number {
  checkOutDir(f.out, "--out", "a new or empty directory");
  if (f.classes > SYNTH_CLASSES.length)
    throw new UsageError("--classes", `2…${SYNTH_CLASSES.length}`, String(f.classes));
  // about 2.3 s of gesture and pause per class and recording, 8 bytes an event
  const bytes = 8 * (f.trainUsers + f.testUsers) * f.classes * 2300 * f.rate;
  if (bytes > SYNTH_MAX_BYTES)
    throw new UsageError(
      "--train-users, --test-users, --classes, --rate",
      `a set of at most ${SYNTH_MAX_BYTES / 2 ** 30} GiB`,
      `an estimate of ${(bytes / 2 ** 30).toFixed(1)} GiB of recordings`,
    );
  const t0 = performance.now();
  const r = writeSynthGestures(f.out, {
    classes: f.classes,
    trainUsers: f.trainUsers,
    testUsers: f.testUsers,
    rate: f.rate,
    seed: f.seed,
  });
  const seconds = (performance.now() - t0) / 1000;
  if (f.json)
    process.stdout.write(
      `${JSON.stringify({ type: "synth-dvs", out: f.out, ...r, classes: SYNTH_CLASSES.slice(0, f.classes), seconds })}\n`,
    );
  else {
    process.stdout.write(
      `egru data synth-dvs: ${f.trainUsers} train + ${f.testUsers} test recordings of ${f.classes} classes ` +
        `(${SYNTH_CLASSES.slice(0, f.classes).join(", ")}), ${r.events.toLocaleString("en-US")} events, in ${f.out}\n`,
    );
  }
  return EXIT_OK;
}

/** Add `data synth-dvs` under the `data` command. */
export function registerSynthDvs(data: Command, setCode: (code: number) => void): void {
  data
    .command("synth-dvs")
    .description(
      "Write a synthetic DVS128 Gesture set in the real layout (userNN_natural.aedat in AEDAT 3.1, _labels.csv, " +
        "trials_to_train.txt, trials_to_test.txt, gesture_mapping.csv): each recording shows every class once, a disc " +
        "moving in one direction or a bar rotating, as ON/OFF edge events with background noise.",
    )
    .requiredOption("--out <dir>", "directory to write (new or empty)")
    .option("--classes <n>", `classes (2…${SYNTH_CLASSES.length})`, intOption("--classes", 2), 4)
    .option("--train-users <n>", "training recordings", intOption("--train-users"), 32)
    .option("--test-users <n>", "test recordings", intOption("--test-users"), 8)
    .option("--rate <n>", "edge events per millisecond while a gesture runs", intOption("--rate"), 8)
    .option("--seed <n>", "random seed", intOption("--seed", 0), 0)
    .option("--json", "print one JSON line instead of the summary", false)
    .exitOverride()
    .action((opts: SynthDvsFlags) => setCode(synthDvsCommand(opts)));
}
