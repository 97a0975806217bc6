// The small-scale comparison of the README: EGRU, GRU and LSTM language models of matching size on
// Penn Treebank, each with a learning-rate sweep, trained until validation perplexity stops improving.
// Two families of presets (--family):
//   hour      ptb-hour, ptb-hour-gru, ptb-hour-lstm (default): two layers of 128 units (LSTM 102),
//             embedding 64, no dropout, the rate cut by 4 whenever validation does not improve by
//             0.2 %, early stop after 2 such epochs; sized so that a cell converges in about an hour
//   converge  ptb-converge, ptb-converge-gru, ptb-converge-lstm: two layers of 256 (LSTM 205), embedding
//             128, dropouts; the first attempt, whose baselines took more than a session to converge
//
// Protocol (successive halving, two rounds):
//   sweep     every cell × rate trains one epoch (a run of `--epochs 1`, in OUT/sweep-<cell>-lr<rate>)
//   converge  per cell, the rate with the lowest validation perplexity after that epoch trains from the
//             start in OUT/<cell>-lr<rate> until early stopping ends it (or the preset's epoch cap),
//             starting as soon as that cell's sweep has ended; its first epoch repeats the sweep run's
//             bits (same seed and configuration), which the table checks
//   table     prints the markdown tables of docs/benchmarks.md and the README, and writes the learning
//             curves (validation perplexity per epoch of every run) to the family's SVG under docs/
// A run that was interrupted resumes from its checkpoint when the script runs again, so the comparison
// can span sessions; only figures need to outlive them (the sweep's are kept in the family's JSON under
// bench/). Nothing here is part of npm test.
//
//   npm run converge                        sweep, then converge, then the table
//   npm run converge -- --family=converge   the first, larger presets
//   npm run converge -- --stage=table       only the table (from the run directories)
//   npm run converge -- --jobs=2 --threads=1   two runs at a time, one kernel thread each (default)
//   npm run converge -- --cells=lstm --jobs=1  only these cells' runs (another invocation may train the others)
//   npm run converge -- --out=DIR --data=DIR   run directories (default runs/<family>) and the PTB folder
//   npm run converge -- --fresh-sweep       repeat the sweep runs recorded in the family's sweep file

import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const arg = (name: string, fallback: string): string =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FAMILY_NAME = arg("family", "hour");
const DATA = arg("data", fileURLToPath(new URL("../../shared/data/ptb", import.meta.url)));
const JOBS = Number(arg("jobs", "2"));
const THREADS = Number(arg("threads", "1"));
const STAGE = arg("stage", "all");

const CELLS = ["egru", "gru", "lstm"] as const;
type Cell = (typeof CELLS)[number];
interface Family {
  preset: Record<Cell, string>;
  /** The sweep's rates per cell: three, a factor of two apart. */
  rates: Record<Cell, number[]>;
  /** The sweep's figures (committed), the curves' SVG. */
  sweepFile: string;
  curves: string;
}
const FAMILIES: Record<string, Family> = {
  hour: {
    preset: { egru: "ptb-hour", gru: "ptb-hour-gru", lstm: "ptb-hour-lstm" },
    // centred on each cell's best: first on the rates the larger presets chose (EGRU 4e-3, LSTM 2e-3), the
    // GRU's one step up (1e-3, 2e-3, 4e-3); where the best was an end of the three (GRU 1e-3, LSTM 4e-3),
    // one more rate beyond it made the three centred (the rate left out, GRU 4e-3 and LSTM 1e-3, is kept
    // in bench/converge-hour-sweep.json)
    rates: { egru: [2e-3, 4e-3, 8e-3], gru: [5e-4, 1e-3, 2e-3], lstm: [2e-3, 4e-3, 8e-3] },
    sweepFile: "converge-hour-sweep.json",
    curves: "converge-hour-curves.svg",
  },
  converge: {
    preset: { egru: "ptb-converge", gru: "ptb-converge-gru", lstm: "ptb-converge-lstm" },
    // centred on the best rate of each cell in a first one-epoch sweep over 1e-3, 2e-3 and 4e-3 for all
    // cells (EGRU 4e-3, GRU 1e-3, LSTM 2e-3)
    rates: { egru: [2e-3, 4e-3, 8e-3], gru: [5e-4, 1e-3, 2e-3], lstm: [1e-3, 2e-3, 4e-3] },
    sweepFile: "converge-sweep.json",
    curves: "converge-curves.svg",
  },
};
const FAMILY = FAMILIES[FAMILY_NAME];
if (!FAMILY) {
  process.stderr.write(`converge: --family: expected one of ${Object.keys(FAMILIES).join(", ")}, got ${FAMILY_NAME}\n`);
  process.exit(2);
}
const OUT = arg("out", join(ROOT, "runs", FAMILY_NAME));
/** The cells whose runs this invocation trains (--cells=egru,gru; default all; the table shows all). */
const ONLY = arg("cells", CELLS.join(",")).split(",");
if (!ONLY.every((c) => (CELLS as readonly string[]).includes(c))) {
  process.stderr.write(`converge: --cells: expected some of ${CELLS.join(",")}, got ${ONLY.join(",")}\n`);
  process.exit(2);
}
const PRESET = FAMILY.preset;
const RATES = FAMILY.rates;
/** Epochs every rate trains before the rates of a cell are compared. */
const SWEEP_EPOCHS = 1;

const runDir = (cell: Cell, lr: number): string => join(OUT, `${cell}-lr${lr}`);
const sweepDir = (cell: Cell, lr: number): string => join(OUT, `sweep-${cell}-lr${lr}`);

type Rec = Record<string, unknown>;
function records(dir: string): Rec[] {
  const p = join(dir, "metrics.jsonl");
  if (!existsSync(p)) return [];
  return readFileSync(p, "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Rec);
}
const epochRecords = (dir: string): Rec[] => records(dir).filter((r) => r.type === "epoch");
const finished = (dir: string): boolean => existsSync(join(dir, "summary.json"));
const epochsDone = (dir: string): number => Math.max(0, ...epochRecords(dir).map((r) => r.epoch as number));
const validAt = (dir: string, epoch: number): number | undefined =>
  epochRecords(dir).find((r) => r.epoch === epoch)?.perplexity as number | undefined;

/** The epochs of a cell's preset: a converge run ends by early stopping or once it has trained these. */
const presetEpochs = (cell: Cell): number =>
  (JSON.parse(readFileSync(join(ROOT, "packages/cli/presets", `${PRESET[cell]}.json`), "utf8")) as { epochs: number })
    .epochs;
const summaryOf = (dir: string): Rec | null =>
  finished(dir) ? (JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as Rec) : null;
/**
 * A converge run has ended: early stopping ended it, or it has trained its preset's epochs. (A run
 * that finished an earlier, smaller epoch budget is trained on: egru train --resume DIR --epochs N.)
 */
function ended(cell: Cell, dir: string): boolean {
  const s = summaryOf(dir);
  return s !== null && (s.stoppedEarly != null || epochsDone(dir) >= presetEpochs(cell));
}

/**
 * Train (or resume) one run: a sweep run (`--epochs` SWEEP_EPOCHS, in sweepDir) or a converge run
 * (runDir; a resumed one trains on to its preset's epochs, so a run that finished a smaller budget goes on).
 */
function train(kind: "sweep" | "converge", cell: Cell, lr: number): Promise<number | null> {
  const dir = kind === "sweep" ? sweepDir(cell, lr) : runDir(cell, lr);
  const epochs = kind === "sweep" ? SWEEP_EPOCHS : presetEpochs(cell);
  const args = existsSync(join(dir, "checkpoint.json"))
    ? ["train", "--resume", dir, "--epochs", String(epochs)]
    : ["train", "--preset", PRESET[cell], "--lr", String(lr), "--epochs", String(epochs), "--data", DATA, "--out", dir];
  const child = spawn(
    process.execPath,
    [
      "--conditions=egru-source",
      "--import",
      "tsx",
      join(ROOT, "packages/cli/src/cli/main.ts"),
      "--threads",
      String(THREADS),
      ...args,
      "--json",
      "--quiet",
    ],
    { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
  );
  let line = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    line += d;
    for (let nl = line.indexOf("\n"); nl >= 0; nl = line.indexOf("\n")) {
      const r = JSON.parse(line.slice(0, nl)) as Rec;
      line = line.slice(nl + 1);
      if (r.type === "epoch") {
        process.stderr.write(
          `converge: ${kind} ${cell} lr ${lr} epoch ${r.epoch}: valid ppl ${(r.perplexity as number).toFixed(2)} (${((r.seconds as number) / 60).toFixed(1)} min)\n`,
        );
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => {
    err = (err + d).slice(-4000);
  });
  return new Promise((done) =>
    child.on("close", (code) => {
      if (code !== 0 && code !== 130)
        process.stderr.write(`converge: ${kind} ${cell} lr ${lr} failed (exit ${code}): ${err}\n`);
      done(code);
    }),
  );
}

/**
 * The sweep's results outlive its run directories in bench/converge-sweep.json (committed): the
 * validation perplexity of every cell × rate after the sweep's epochs, with the day and commit it was
 * measured on. A sweep run whose result is recorded there is not repeated (--fresh-sweep repeats them),
 * so on a new machine the comparison goes straight to the converge stage.
 */
const SWEEP_FILE = join(ROOT, "bench", FAMILY.sweepFile);
type SweepRecord = { cell: Cell; lr: number; validPerplexity: number; measured: string; commit: string };
const FRESH_SWEEP = process.argv.includes("--fresh-sweep");
function recordedSweep(): SweepRecord[] {
  if (FRESH_SWEEP || !existsSync(SWEEP_FILE)) return [];
  return (JSON.parse(readFileSync(SWEEP_FILE, "utf8")) as { runs: SweepRecord[] }).runs;
}
function recordSweep(cell: Cell, lr: number): void {
  const v = validAt(sweepDir(cell, lr), SWEEP_EPOCHS);
  if (v === undefined) return;
  const commit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).stdout.trim();
  const runs = (
    existsSync(SWEEP_FILE) ? (JSON.parse(readFileSync(SWEEP_FILE, "utf8")) as { runs: SweepRecord[] }).runs : []
  )
    .filter((r) => !(r.cell === cell && r.lr === lr))
    .concat([{ cell, lr, validPerplexity: v, measured: new Date().toISOString().slice(0, 10), commit }]);
  const note = `validation perplexity after ${SWEEP_EPOCHS} epoch(s) of each cell and rate (bench/converge.ts)`;
  writeFileSync(SWEEP_FILE, `${JSON.stringify({ note, runs }, null, 2)}\n`);
}
/** A sweep run's score: from its run directory, else as recorded. */
const sweepScore = (cell: Cell, lr: number): number | undefined =>
  validAt(sweepDir(cell, lr), SWEEP_EPOCHS) ??
  recordedSweep().find((r) => r.cell === cell && r.lr === lr)?.validPerplexity;

/** The rate of each cell with the lowest validation perplexity after the sweep's epochs. */
function chosen(cell: Cell): number | null {
  const scored = RATES[cell]
    .map((lr) => [lr, sweepScore(cell, lr)] as const)
    .filter((x): x is readonly [number, number] => x[1] !== undefined);
  if (scored.length < RATES[cell].length) return null;
  return scored.reduce((a, b) => (b[1] < a[1] ? b : a))[0];
}

/**
 * The sweep and the converge stage as one queue: every cell's sweep runs first, in cell order, and as
 * soon as the last sweep run of a cell ends, that cell's chosen run resumes ahead of the remaining sweep
 * runs, so no core waits for another cell's sweep.
 */
async function sweepAndConverge(doSweep: boolean, doConverge: boolean): Promise<void> {
  const queue: (() => Promise<unknown>)[] = [];
  const convergeTask = (cell: Cell): (() => Promise<unknown>) | null => {
    const lr = chosen(cell);
    if (lr === null) {
      process.stderr.write(`converge: ${cell}: the sweep is not complete\n`);
      return null;
    }
    return ended(cell, runDir(cell, lr)) ? null : () => train("converge", cell, lr);
  };
  for (const cell of CELLS.filter((c) => ONLY.includes(c))) {
    const todo = doSweep
      ? RATES[cell].filter((lr) => !finished(sweepDir(cell, lr)) && sweepScore(cell, lr) === undefined)
      : [];
    if (todo.length === 0) {
      const c = doConverge ? convergeTask(cell) : null;
      if (c) queue.push(c);
      continue;
    }
    let left = todo.length;
    for (const lr of todo)
      queue.push(async () => {
        await train("sweep", cell, lr);
        recordSweep(cell, lr);
        left -= 1;
        const c = left === 0 && doConverge ? convergeTask(cell) : null;
        if (c) queue.unshift(c);
      });
  }
  let running = 0;
  const worker = async (): Promise<void> => {
    // A running sweep run may still queue its cell's converge run: idle until every run has ended.
    while (queue.length > 0 || running > 0) {
      const task = queue.shift();
      if (!task) {
        await new Promise((r) => setTimeout(r, 1000));
        continue;
      }
      running += 1;
      await task();
      running -= 1;
    }
  };
  await Promise.all(Array.from({ length: JOBS }, worker));
}

const f2 = (x: unknown): string => (typeof x === "number" ? x.toFixed(2) : "–");
const pct = (x: unknown): string => (typeof x === "number" ? `${(100 * x).toFixed(2)} %` : "–");
const kilo = (x: unknown): string =>
  typeof x === "number" ? (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(1)} k`) : "–";

async function table(): Promise<void> {
  const out: string[] = [];
  out.push("| cell | learning rate | valid ppl after epoch 1 | chosen |", "|---|---:|---:|---|");
  for (const cell of CELLS) {
    const pick = chosen(cell);
    for (const lr of RATES[cell])
      out.push(`| ${cell.toUpperCase()} | ${lr} | ${f2(sweepScore(cell, lr))} | ${lr === pick ? "yes" : ""} |`);
  }
  out.push(
    "",
    "| cell (preset) | rate | parameters | epochs (best) | valid ppl | test ppl | activity sparsity | backward sparsity (paper's, on h) | MACs per token, executed of dense | wall time | training tokens/s |",
    "|---|---:|---:|---|---:|---:|---:|---:|---|---:|---:|",
  );
  const series: { name: string; points: [number, number][] }[] = [];
  for (const cell of CELLS) {
    const lr = chosen(cell);
    if (lr === null) continue;
    const dir = runDir(cell, lr);
    for (const r of RATES[cell])
      series.push({
        name: `${cell.toUpperCase()} lr ${r}${r === lr ? "" : " (sweep)"}`,
        points: epochRecords(r === lr ? dir : sweepDir(cell, r)).map((e) => [
          e.epoch as number,
          e.perplexity as number,
        ]),
      });
    // the converge run's first epoch repeats its sweep run (same seed, same configuration)
    const first = validAt(dir, 1);
    const swept = sweepScore(cell, lr);
    if (first !== undefined && swept !== undefined && first !== swept)
      process.stderr.write(`converge: ${cell} lr ${lr}: epoch 1 gave ${first}, its sweep run ${swept}\n`);
    if (!ended(cell, dir)) {
      // not converged yet: the best validation so far, its epoch's figures (validation set), no test
      const eps = epochRecords(dir);
      const b = eps.reduce<Rec | undefined>(
        (a, e) => (a === undefined || (e.perplexity as number) < (a.perplexity as number) ? e : a),
        undefined,
      );
      const events = cell === "egru";
      const last = eps.at(-1);
      out.push(
        `| ${cell.toUpperCase()} (\`${PRESET[cell]}\`) | ${lr} | | ${epochsDone(dir)} so far (${b?.epoch ?? "–"}), not converged | ${f2(b?.perplexity)} | – | ` +
          `${events ? pct(b?.activitySparsity) : "none"} | ${events ? `${pct(b?.backwardSparsity)} (${pct(b?.paperBackwardSparsity)})` : "none"} | ` +
          `${kilo(b?.macsExecutedPerToken)} of ${kilo(b?.macsDensePerToken)} | ${last ? ((last.seconds as number) / 60).toFixed(0) : "–"} min so far | |`,
      );
      continue;
    }
    const s = summaryOf(dir) as Rec;
    const v = s.valid as Rec;
    const t = s.test as Rec;
    const best = (s.best as Rec | undefined)?.epoch;
    const events = cell === "egru";
    out.push(
      `| ${cell.toUpperCase()} (\`${PRESET[cell]}\`) | ${lr} | ${(s.parameters as number).toLocaleString("en-US")} | ${epochsDone(dir)} (${best}), ${s.stoppedEarly != null ? "early stop" : "epoch cap"} | ${f2(v.perplexity)} | ${f2(t.perplexity)} | ` +
        `${events ? pct(t.activitySparsity) : "none"} | ${events ? `${pct(t.backwardSparsity)} (${pct(t.paperBackwardSparsity)})` : "none"} | ` +
        `${kilo(t.macsExecutedPerToken)} of ${kilo(t.macsDensePerToken)} | ${((s.seconds as number) / 60).toFixed(0)} min | ${(s.tokensPerSecond as number).toFixed(0)} |`,
    );
  }
  // validation perplexity per epoch of each cell's chosen run, side by side
  const chosenRuns = CELLS.flatMap((cell) => {
    const lr = chosen(cell);
    return lr === null ? [] : [{ cell, eps: epochRecords(runDir(cell, lr)) }];
  });
  const most = Math.max(0, ...chosenRuns.map((r) => r.eps.length));
  if (most > 0) {
    out.push("", `| epoch | ${chosenRuns.map((r) => r.cell.toUpperCase()).join(" | ")} |`);
    out.push(`|---:|${chosenRuns.map(() => "---:").join("|")}|`);
    for (let e = 1; e <= most; e++)
      out.push(`| ${e} | ${chosenRuns.map((r) => f2(r.eps.find((x) => x.epoch === e)?.perplexity)).join(" | ")} |`);
  }
  process.stdout.write(`${out.join("\n")}\n`);
  if (series.length) {
    const { lineChart } = await import("../packages/cli/src/viz/line-chart.js");
    const svg = lineChart({
      title: `Penn Treebank validation perplexity per epoch (${PRESET.egru} presets)`,
      xLabel: "epoch",
      yLabel: "validation perplexity",
      xIntegers: true,
      yLog: true,
      series: series.map((s) => ({ ...s, dashed: s.name.endsWith("(sweep)") })),
    });
    writeFileSync(join(ROOT, "docs", FAMILY.curves), svg);
    process.stderr.write(`converge: wrote docs/${FAMILY.curves}\n`);
  }
}

await sweepAndConverge(STAGE === "all" || STAGE === "sweep", STAGE === "all" || STAGE === "converge");
await table();
