// The kill campaign's comparison (bench/kill-campaign.ts): a run directory of egru train against the
// uninterrupted reference, byte for byte: the current checkpoint's model.safetensors and
// optimizer.safetensors, summary.json without its wall-clock seconds (the best result and every test
// figure), and metrics.jsonl without the time fields (seconds, tokensPerSecond).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The time fields of a record: they differ between any two runs. */
const TIME_FIELDS = ["seconds", "tokensPerSecond"];

/** The text of a JSON record without its time fields (a line that is not JSON as it is). */
function timeless(line: string): string {
  try {
    const r = JSON.parse(line) as Record<string, unknown>;
    for (const k of TIME_FIELDS) delete r[k];
    return JSON.stringify(r);
  } catch {
    return line;
  }
}

/** The files compared, by name: their contents as compared (bytes, or text without time fields). */
function comparable(dir: string): Map<string, Buffer | string> {
  const out = new Map<string, Buffer | string>();
  const read = (p: string): Buffer | null => (existsSync(join(dir, p)) ? readFileSync(join(dir, p)) : null);
  const pointer = read("checkpoint.json");
  const current = pointer ? (JSON.parse(pointer.toString()) as { current: string }).current : "(no checkpoint.json)";
  for (const f of ["model.safetensors", "optimizer.safetensors"]) {
    const b = read(join(current, f));
    out.set(`final ${f}`, b ?? "missing");
  }
  const summary = read("summary.json");
  out.set("summary.json", summary ? timeless(summary.toString()) : "missing");
  const metrics = read("metrics.jsonl");
  const lines = metrics ? metrics.toString().split("\n").filter(Boolean) : [];
  out.set("metrics.jsonl", metrics ? lines.map(timeless).join("\n") : "missing");
  return out;
}

/** What differs between a run directory and the reference's (empty when nothing does). */
export function runDifferences(dir: string, reference: string): string[] {
  const a = comparable(dir);
  const b = comparable(reference);
  const diffs: string[] = [];
  for (const [name, want] of b) {
    const have = a.get(name) as Buffer | string;
    const same = Buffer.isBuffer(want) && Buffer.isBuffer(have) ? want.equals(have) : want === have;
    if (!same) diffs.push(name);
  }
  return diffs;
}
