// One attempt of the kill campaign (bench/kill-campaign.ts): egru train (a start or a --resume) in a
// child process, killed with SIGKILL as the plan says — after a delay, a delay after the n-th
// checkpoint's directory ckpt-N appears in the run directory (a save writes model, optimizer and state
// there, each through the atomic writer of src/node/atomic-file.ts, then checkpoint.json, then removes
// the previous checkpoint: tens of milliseconds with the fsyncs), or a delay after config.json is
// written (before the first checkpoint) — or left to finish. After a kill,
// the run directory tells whether a checkpoint was being written: a temporary file of the killed
// process in a checkpoint, a checkpoint directory other than the current one changed since the
// process started, or checkpoint.json replaced while an older checkpoint directory was still there.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, watch } from "node:fs";
import { join } from "node:path";

/** When to kill: `ms` after the start, after the `save`-th checkpoint save starts, or after config.json is written; null: never. */
export type KillPlan =
  | { after: "time"; ms: number }
  | { after: "checkpoint"; save: number; ms: number }
  | { after: "config"; ms: number }
  | null;

export interface Attempt {
  /** Killed (by the plan), or its exit code. */
  killed: boolean;
  code: number | null;
  /** Killed while a checkpoint was being written. */
  duringCheckpoint: boolean;
  stderr: string;
  seconds: number;
}

/** The name of the current checkpoint (checkpoint.json's), or null. */
function currentCheckpoint(dir: string): string | null {
  try {
    return (JSON.parse(readFileSync(join(dir, "checkpoint.json"), "utf8")) as { current: string }).current;
  } catch {
    return null;
  }
}

/** Whether the process `pid`, started at `t0` (ms since the epoch), was writing a checkpoint in `dir` when it stopped. */
export function wasWritingCheckpoint(dir: string, pid: number, t0: number): boolean {
  if (!existsSync(dir)) return false;
  const tmp = `.tmp-${pid}`;
  if (existsSync(join(dir, `checkpoint.json${tmp}`))) return true;
  const current = currentCheckpoint(dir);
  const others = readdirSync(dir).filter((d) => /^ckpt-\d+$/.test(d) && d !== current);
  for (const d of readdirSync(dir).filter((x) => /^ckpt-\d+$/.test(x)))
    if (readdirSync(join(dir, d)).some((f) => f.endsWith(tmp))) return true;
  if (others.some((d) => statSync(join(dir, d)).mtimeMs >= t0)) return true;
  const pointer = join(dir, "checkpoint.json");
  return others.length > 0 && existsSync(pointer) && statSync(pointer).mtimeMs >= t0;
}

/** Run `node ...args` (egru train) with the run directory `dir`, killed as `plan` says. */
export async function attempt(args: string[], dir: string, plan: KillPlan): Promise<Attempt> {
  mkdirSync(dir, { recursive: true }); // (a new run's directory may exist empty; watched from the start)
  const t0 = Date.now();
  const child = spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  let killed = false;
  const kill = (): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    killed = true;
    child.kill("SIGKILL");
  };
  const later = (ms: number): void => void (ms > 0 ? setTimeout(kill, ms) : kill());
  let timer: NodeJS.Timeout | undefined;
  let watcher: ReturnType<typeof watch> | undefined;
  if (plan?.after === "time") timer = setTimeout(kill, plan.ms);
  else if (plan) {
    let seen = 0;
    const sign = plan.after === "config" ? /^config\.json$/ : /^ckpt-\d+$/;
    const nth = plan.after === "config" ? 1 : plan.save;
    // (a ckpt-N directory that is there when the event comes was made, not removed)
    watcher = watch(dir, (_, name) => {
      if (name && sign.test(name) && existsSync(join(dir, name)) && ++seen === nth) later(plan.ms);
    });
  }
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    child.on("close", (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  watcher?.close();
  const wasKilled = killed && signal === "SIGKILL";
  return {
    killed: wasKilled,
    code,
    duringCheckpoint: wasKilled && wasWritingCheckpoint(dir, child.pid as number, t0),
    stderr,
    seconds: (Date.now() - t0) / 1000,
  };
}
