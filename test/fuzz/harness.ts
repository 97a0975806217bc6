// One fuzz case, judged: a valid instance of a format (its files in a directory) is copied, one of its
// files is damaged (damage.ts), the real reader reads the copy, and the outcome is one of
//   valid     a result that keeps the format's invariants (and, where the format has integrity
//             checks, equals what the intact instance gives)
//   typed     an EgruError (or a subclass: the CLI's UsageError, ConfigError, AedatError) whose message
//             starts with the damaged file's path (or, for an inconsistency between files, another file's
//             of the instance), as every reader's errors do: "PATH: field: expected …", "PATH at byte N: …"
// or a failure:
//   unnamed   an EgruError whose message does not start with the path of a file of the instance
//   crash     any other exception (TypeError, RangeError, SyntaxError, a raw EISDIR …)
//   hang      the read took longer than HANG_MS
//   memory    the read grew the array buffers or the peak resident memory by more than MEMORY_BOUND
//   garbage   an accepted result that breaks an invariant, or that an integrity check should have refused
// Shared by the suites (property.ts) and npm run fuzz (bench/fuzz.ts).

import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { EgruError } from "../../packages/egru/src/core/errors.js";
import { applyByteEdits, applyField, type Damage, damage, type Field, replaceFile } from "./damage.js";
import { applyJsonEdit, type BuiltJson } from "./json-damage.js";

export type Outcome = "valid" | "typed" | "unnamed" | "crash" | "hang" | "memory" | "garbage";
export const FAILURES: readonly Outcome[] = ["unnamed", "crash", "hang", "memory", "garbage"];

/** The longest a case may take (ms): every reader reads these small files in a few milliseconds. */
export const HANG_MS = 3000;
/** The most a case may grow the array buffers or the peak resident set (bytes): the files are kilobytes. */
export const MEMORY_BOUND = 128 * 2 ** 20;

/** How a file's JSON value is read from and written back to its bytes (a JSON file, a safetensors header). */
export interface JsonCodec {
  decode(bytes: Uint8Array): unknown;
  encode(value: BuiltJson, original: Uint8Array): Uint8Array;
  /** Record the digest a careful editor (or a bug) would record for the edited value. */
  reseal?(value: unknown): void;
}

export interface FuzzFile {
  /** Path inside the instance. */
  path: string;
  /** Size fields a case may set to hostile values. */
  fields?(bytes: Uint8Array): Field[];
  /** The JSON value inside, for JSON edits. */
  json?: JsonCodec;
}

export interface FuzzFormat<R = unknown> {
  name: string;
  /** The reader(s) under test, in words. */
  reads: string;
  /** The files of a valid instance, by path inside it (made once per run). */
  instance(): Record<string, Uint8Array>;
  /** The files a case may damage. */
  files: FuzzFile[];
  /** Text a text format may choke on, inserted by byte edits. */
  tokens?: readonly string[];
  /** Read the instance in `dir` as the real reader does; `seed` varies what the reader may vary (chunk sizes). */
  read(dir: string, seed: number): R;
  /**
   * What is wrong with a result the reader accepted, or null: an invariant broken, or (formats with
   * integrity checks) a difference from the intact instance's result `valid` that a check should catch.
   */
  wrong(result: R, valid: R, d: Damage): string | null;
}

export interface FuzzCase {
  damage: Damage;
  seed: number;
}

export interface Verdict {
  outcome: Outcome;
  detail: string;
  ms: number;
}

/** The cases of a format: its damage, and a seed for the reader. */
export function fuzzCases(f: FuzzFormat): fc.Arbitrary<FuzzCase> {
  return fc.record({
    damage: damage({
      files: f.files.length,
      fieldFiles: f.files.filter((x) => x.fields).length,
      jsonFiles: f.files.filter((x) => x.json).length,
      tokens: f.tokens,
    }),
    seed: fc.nat(),
  });
}

/** A format's valid instance on disk and its intact result, ready to run cases on copies. */
export class FuzzRun<R = unknown> {
  readonly root = mkdtempSync(join(tmpdir(), "egru-fuzz-"));
  private readonly validDir = join(this.root, "valid");
  private readonly caseDir = join(this.root, "case");
  private readonly scratch = join(this.root, "scratch");
  private readonly files: Record<string, Uint8Array>;
  readonly valid: R;

  /** `hangMs`: the longest a case may take (the harness's own test shortens it). */
  constructor(
    readonly format: FuzzFormat<R>,
    private readonly hangMs = HANG_MS,
  ) {
    this.files = format.instance();
    for (const [path, bytes] of Object.entries(this.files)) {
      mkdirSync(join(this.validDir, path, ".."), { recursive: true });
      writeFileSync(join(this.validDir, path), bytes);
    }
    this.valid = format.read(this.validDir, 0);
  }

  /** The file a damage is done to. */
  private target(d: Damage): FuzzFile {
    const f = this.format.files;
    if (d.kind === "field") return f.filter((x) => x.fields)[d.target];
    if (d.kind === "json") return f.filter((x) => x.json)[d.target];
    return f[d.target];
  }

  /** Damage a fresh copy of the instance; returns the damaged file's path. */
  private damaged(d: Damage): string {
    rmSync(this.caseDir, { recursive: true, force: true });
    rmSync(this.scratch, { recursive: true, force: true });
    mkdirSync(this.scratch);
    cpSync(this.validDir, this.caseDir, { recursive: true });
    const file = this.target(d);
    const path = join(this.caseDir, file.path);
    const bytes = readFileSync(path);
    if (d.kind === "replace") replaceFile(path, d.by, bytes, this.scratch);
    else if (d.kind === "bytes") writeFileSync(path, applyByteEdits(bytes, d.edits));
    else if (d.kind === "field") {
      const fields = file.fields?.(bytes) ?? [];
      writeFileSync(path, applyField(bytes, fields[d.field % fields.length], d.value));
    } else {
      const codec = file.json as JsonCodec;
      const built = applyJsonEdit(codec.decode(bytes), d.edit);
      if (d.reseal && codec.reseal && built.raws.length === 0) codec.reseal(built.value);
      writeFileSync(path, codec.encode(built, bytes));
    }
    return path;
  }

  /** Run one case and judge it. */
  run(c: FuzzCase): Verdict {
    const path = this.damaged(c.damage);
    const buffers0 = process.memoryUsage().arrayBuffers;
    const peak0 = process.resourceUsage().maxRSS * 1024;
    const t0 = performance.now();
    let result: R | undefined;
    let error: unknown;
    try {
      result = this.format.read(this.caseDir, c.seed);
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - t0;
    const grown = Math.max(
      process.memoryUsage().arrayBuffers - buffers0,
      process.resourceUsage().maxRSS * 1024 - peak0,
    );
    const verdict = (outcome: Outcome, detail: string): Verdict => ({ outcome, detail, ms });
    if (ms > this.hangMs) return verdict("hang", `${ms.toFixed(0)} ms`);
    if (grown > MEMORY_BOUND) return verdict("memory", `${(grown / 2 ** 20).toFixed(0)} MiB more`);
    if (error === undefined) {
      const wrong = this.format.wrong(result as R, this.valid, c.damage);
      return wrong === null ? verdict("valid", "") : verdict("garbage", wrong);
    }
    const e = error as Error;
    const text = `${e?.name}: ${String(e?.message).slice(0, 400)}`;
    if (!(error instanceof EgruError)) return verdict("crash", `${text}\n${String(e?.stack).split("\n")[1]?.trim()}`);
    // the damaged file, or (an inconsistency between files: a corpus word missing from the training split) another
    const named = Object.keys(this.files).some((f) => error.message.startsWith(join(this.caseDir, f)));
    return named ? verdict("typed", text) : verdict("unnamed", `${text} (damaged: ${path})`);
  }

  dispose(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
