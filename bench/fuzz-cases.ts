// One format's cases of npm run fuzz, in a child process (bench/fuzz.ts starts it and watches it):
// the cases are drawn from the seed (the same seed, the same cases), run from --from on, and each is
// reported on stdout as a JSON line: {"i", "damage"} before it runs (so a case that hangs or kills
// the process is known), {"i", "outcome", "detail", "ms"} after. The first line, {"root"}, names
// the temporary directory, for the parent to remove if it has to kill this process.
//
//   node --conditions=egru-source --import tsx bench/fuzz-cases.ts --format=NAME --seed=S --cases=N [--from=K]

import fc from "fast-check";
import { FORMATS } from "../test/fuzz/formats.js";
import { FuzzRun, fuzzCases } from "../test/fuzz/harness.js";

const flag = (name: string): string | undefined =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const format = FORMATS.find((f) => f.name === flag("format"));
if (!format) throw new Error(`--format: one of ${FORMATS.map((f) => f.name).join(", ")}`);
const seed = Number(flag("seed"));
const cases = fc.sample(fuzzCases(format), { seed, numRuns: Number(flag("cases")) });
const run = new FuzzRun(format);
const say = (o: object): void => void process.stdout.write(`${JSON.stringify(o)}\n`); // (a pipe: written at once)
say({ root: run.root });
try {
  for (let i = Number(flag("from") ?? 0); i < cases.length; i++) {
    say({ i, damage: cases[i].damage, seed: cases[i].seed });
    say({ i, ...run.run(cases[i]) });
  }
} finally {
  run.dispose();
}
