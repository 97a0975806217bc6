// `npm run fuzz`: the fuzz suites' property (test/fuzz/) at campaign size: every format's readers on
// --cases=N damaged copies of a valid instance (default 1000), drawn from --seed=S (default 1; the
// same seed draws the same cases). Each format runs in a child process (bench/fuzz-cases.ts) that this
// one watches: a case with no answer within WATCHDOG_MS is a hang (the child is killed and the
// format goes on after that case), and a child that dies inside a case is a crash of that case.
// Prints a markdown table (cases, valid results, typed errors, raw crashes, hangs, garbage accepted,
// errors that do not name the file, cases over the memory bound) and every failing case with its
// damage; exits 1 when any case failed.
//
//   npm run fuzz
//   npm run fuzz -- --cases=5000 --seed=7
//   npm run fuzz -- --format=aedat,checkpoint

import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { cpus } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { FORMATS } from "../test/fuzz/formats.js";
import { FAILURES, HANG_MS, MEMORY_BOUND, type Outcome, type Verdict } from "../test/fuzz/harness.js";

const flag = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const CASES = Number(flag("cases") ?? 1000);
const SEED = Number(flag("seed") ?? 1);
const ONLY = flag("format")?.split(",");
const CHILD = fileURLToPath(new URL("./fuzz-cases.ts", import.meta.url));
/** How long a case (or a child's start) may go without an answer before it counts as a hang. */
const WATCHDOG_MS = 60_000;

interface Ran extends Verdict {
  i: number;
  damage: unknown;
}

/** Every case of one format, from child processes (a new one after a case that hung or killed its process). */
async function runFormat(name: string): Promise<Ran[]> {
  const ran: Ran[] = [];
  let from = 0;
  while (from < CASES) {
    const child = spawn(
      process.execPath,
      [...process.execArgv, CHILD, `--format=${name}`, `--seed=${SEED}`, `--cases=${CASES}`, `--from=${from}`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let current: { i: number; damage: unknown } | null = null;
    let hung = false;
    let stderr = "";
    let root: string | undefined;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        hung = true;
        child.kill("SIGKILL");
      }, WATCHDOG_MS);
    };
    arm();
    child.stderr.on("data", (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-2000)));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const m = JSON.parse(line) as { i: number; damage?: unknown; root?: string } & Verdict;
      if (m.root !== undefined) root = m.root;
      else if (m.damage !== undefined) current = { i: m.i, damage: m.damage };
      else {
        ran.push({ ...m, damage: current?.damage });
        current = null;
        from = m.i + 1;
      }
      arm();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    clearTimeout(timer);
    if (root) rmSync(root, { recursive: true, force: true }); // (left behind by a child that was killed)
    const open = current as { i: number; damage: unknown } | null;
    if (open) {
      const detail = hung ? `no answer within ${WATCHDOG_MS / 1000} s` : `the process died (exit ${code}): ${stderr}`;
      ran.push({ i: open.i, damage: open.damage, outcome: hung ? "hang" : "crash", detail, ms: NaN });
      from = open.i + 1;
    } else if (from < CASES) throw new Error(`bench/fuzz-cases.ts --format=${name} stopped (exit ${code}): ${stderr}`);
  }
  return ran;
}

const COLUMNS: [Outcome, string][] = [
  ["valid", "valid results"],
  ["typed", "typed errors"],
  ["crash", "raw crashes"],
  ["hang", "hangs"],
  ["garbage", "garbage accepted"],
  ["unnamed", "errors not naming the file"],
  ["memory", "over the memory bound"],
];

const formats = FORMATS.filter((f) => !ONLY || ONLY.includes(f.name));
if (formats.length === 0) throw new Error(`--format: among ${FORMATS.map((f) => f.name).join(", ")}`);
console.log(
  `npm run fuzz: ${CASES} cases per format, seed ${SEED}; Node ${process.version}, ${cpus().length} × ${cpus()[0]?.model}; ` +
    `a case fails past ${HANG_MS / 1000} s or ${MEMORY_BOUND / 2 ** 20} MiB more memory\n`,
);
const rows: string[] = [];
const failed: string[] = [];
for (const f of formats) {
  const t0 = performance.now();
  const ran = await runFormat(f.name);
  const count = (o: Outcome): number => ran.filter((r) => r.outcome === o).length;
  const slowest = Math.max(...ran.map((r) => r.ms).filter(Number.isFinite));
  rows.push(
    `| ${f.name} | ${f.reads} | ${ran.length} | ${COLUMNS.map(([o]) => count(o)).join(" | ")} | ${slowest.toFixed(0)} ms | ${((performance.now() - t0) / 1000).toFixed(0)} s |`,
  );
  for (const r of ran.filter((x) => FAILURES.includes(x.outcome)))
    failed.push(`- ${f.name}, case ${r.i}: ${r.outcome}: ${r.detail}\n  damage ${JSON.stringify(r.damage)}`);
  process.stderr.write(`${f.name}: ${ran.length} cases\n`);
}
console.log(`| format | reader | cases | ${COLUMNS.map(([, c]) => c).join(" | ")} | slowest case | time |`);
console.log(`|---|---|${"---:|".repeat(COLUMNS.length + 3)}`);
for (const r of rows) console.log(r);
if (failed.length) {
  console.log(
    `\n${failed.length} failing cases (rerun one: node --conditions=egru-source --import tsx bench/fuzz-cases.ts ` +
      `--format=NAME --seed=${SEED} --cases=${CASES} --from=CASE):\n${failed.join("\n")}`,
  );
  process.exitCode = 1;
} else console.log("\nno crash, hang, garbage accepted, unnamed error or case over the memory bound");
