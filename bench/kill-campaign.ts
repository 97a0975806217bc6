// `npm run kill-campaign`: a small egru train run (TRAIN below: seconds on two cores) once
// uninterrupted, the reference, then again in --runs=R run directories (default 10), each killed with
// SIGKILL at random moments and resumed with egru train --resume DIR until it finishes, until at least
// --kills=K kills in all (default 30). Four kills in ten come after a random delay, six a few
// milliseconds after a checkpoint save starts (bench/kill-attempt.ts), so many land inside a
// checkpoint's write, and some of a run's first attempts soon after config.json is written, before
// the first checkpoint. A run killed before it wrote its config.json has nothing to resume, and is started
// again as a user would. Every finished run is compared with the reference byte for byte
// (bench/run-compare.ts). Prints the kills, the kills during checkpoint writes, the runs compared,
// the runs identical and the losses (a resume that failed, a run that differs); exits 1 on any loss.
//
//   npm run kill-campaign
//   npm run kill-campaign -- --runs=3 --kills=6 --seed=2   (a short one)
//   npm run kill-campaign -- --verbose                      (each attempt's kill plan and end on stderr)

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Rng } from "../packages/egru/src/core/rng.js";
import { attempt, type KillPlan } from "./kill-attempt.js";
import { runDifferences } from "./run-compare.js";

const flag = (name: string, fallback: number): number =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const RUNS = flag("runs", 10);
const KILLS = flag("kills", 30);
const rng = new Rng(flag("seed", 1));
/** --verbose: a line on stderr per attempt (its kill plan and how it ended). */
const VERBOSE = process.argv.includes("--verbose");

const CLI = fileURLToPath(new URL("../packages/cli/src/cli/main.ts", import.meta.url));
const NODE = [...process.execArgv, CLI];
const TRAIN =
  "train --train-limit 1500 --validation 100 --test-limit 300 --hidden 32 --batch 25 --epochs 3 --checkpoint-every 7 --seed 11 --quiet";
/** Attempts of one run before the campaign gives up on it (a loss). */
const MAX_ATTEMPTS = 30;

const root = mkdtempSync(join(tmpdir(), "egru-kill-"));
const reference = join(root, "reference");
const ref = await attempt([...NODE, ...TRAIN.split(" "), "--out", reference], reference, null);
if (ref.code !== 0) throw new Error(`the reference run failed (exit ${ref.code}): ${ref.stderr}`);
console.log(
  `npm run kill-campaign: egru ${TRAIN}; Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}; ` +
    `the reference run took ${ref.seconds.toFixed(1)} s\n`,
);

/**
 * A kill plan: after a random moment of a whole run, 0–40 ms after one of the next six checkpoint
 * saves starts, or (a run with no checkpoint yet, one time in four) up to 0.3 s after config.json is
 * written.
 */
function plan(starting: boolean): KillPlan {
  if (starting && rng.uniform() < 0.25) return { after: "config", ms: rng.int(300) };
  if (rng.uniform() < 0.4) return { after: "time", ms: Math.round(rng.uniform() * ref.seconds * 1000) };
  return { after: "checkpoint", save: 1 + rng.int(6), ms: rng.int(40) };
}

let kills = 0;
let duringCheckpoint = 0;
let beforeCheckpoint = 0;
let compared = 0;
let identical = 0;
const losses: string[] = [];
for (let r = 0; r < RUNS || (kills < KILLS && r < 3 * RUNS); r++) {
  const dir = join(root, `run-${r}`);
  // this run's share of the kills still to come
  let toKill = Math.max(1, Math.ceil((KILLS - kills) / Math.max(1, RUNS - r)));
  let runKills = 0;
  let failed: string | null = null;
  for (let a = 0; ; a++) {
    if (a === MAX_ATTEMPTS) {
      failed = `not finished after ${MAX_ATTEMPTS} attempts`;
      break;
    }
    // (a run killed before it wrote config.json has nothing to resume: it is started again)
    const args = existsSync(join(dir, "config.json"))
      ? ["train", "--resume", dir, "--quiet"]
      : [...TRAIN.split(" "), "--out", dir];
    const p = toKill > 0 ? plan(!existsSync(join(dir, "checkpoint.json"))) : null;
    const at = await attempt([...NODE, ...args], dir, p);
    if (VERBOSE)
      process.stderr.write(
        `  ${args[1] === "--resume" ? "resume" : "start"} ${JSON.stringify(p)}: ${at.killed ? `killed${at.duringCheckpoint ? " during a checkpoint write" : ""}` : `exit ${at.code}`} after ${at.seconds.toFixed(2)} s\n`,
      );
    if (at.killed) {
      runKills++;
      toKill--;
      if (at.duringCheckpoint) duringCheckpoint++;
      if (existsSync(join(dir, "config.json")) && !existsSync(join(dir, "checkpoint.json"))) beforeCheckpoint++;
      continue;
    }
    if (at.code !== 0) failed = `egru ${args.join(" ")} failed (exit ${at.code}): ${at.stderr.trim().slice(-600)}`;
    break;
  }
  kills += runKills;
  if (failed === null) {
    compared++;
    const diffs = runDifferences(dir, reference);
    if (diffs.length === 0) identical++;
    else failed = `differs from the reference: ${diffs.join(", ")}`;
  }
  if (failed !== null) losses.push(`run ${r}: ${failed}`);
  process.stderr.write(`run ${r}: ${runKills} kills, ${failed ?? "identical to the reference"}\n`);
}

console.log(
  "| kills | kills during checkpoint writes | kills before the first checkpoint | runs compared | runs identical | losses |",
);
console.log("|---:|---:|---:|---:|---:|---:|");
console.log(`| ${kills} | ${duringCheckpoint} | ${beforeCheckpoint} | ${compared} | ${identical} | ${losses.length} |`);
if (losses.length) console.log(`\nlosses (run directories kept in ${root}):\n${losses.join("\n")}`);
else rmSync(root, { recursive: true, force: true });
if (losses.length || kills < KILLS) process.exitCode = 1;
if (kills < KILLS) console.log(`\nonly ${kills} kills of the ${KILLS} asked for`);
