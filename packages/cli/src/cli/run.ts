// Process-level wrapper for commands: maps errors to exit codes and one-line messages.
// Exit codes: 0 success, 1 the run failed, 2 bad usage.

import { CommanderError } from "commander";
import { capText, EgruError } from "egru";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError } from "../run/exit.js";
import { ConfigError } from "../train/config.js";

export { EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError } from "../run/exit.js";

/** Print an error the way a user should see it (no stack for expected errors) and return the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander has already printed its message (or the help text)
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help")
      return EXIT_OK;
    return EXIT_USAGE;
  }
  if (e instanceof UsageError || e instanceof ConfigError) {
    process.stderr.write(`egru: ${e.message}\nTry 'egru --help'.\n`);
    return EXIT_USAGE;
  }
  if (e instanceof EgruError) {
    process.stderr.write(`egru: ${e.name}: ${e.message}\n`);
    return EXIT_FAILED;
  }
  process.stderr.write(`egru: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return EXIT_FAILED;
}

/** Parse a whole number ≥ min for option `name`. */
export function intOption(name: string, min = 1, max = Number.MAX_SAFE_INTEGER): (v: string) => number {
  const want = max < Number.MAX_SAFE_INTEGER ? `a whole number in ${min}…${max}` : `a whole number ≥ ${min}`;
  return (v: string) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new UsageError(
        name,
        want,
        JSON.stringify(v),
        `${name}: expected ${want}, got ${JSON.stringify(capText(v))}`,
      );
    }
    return n;
  };
}

/** Parse a finite number for option `name`, optionally > gt or ≥ min. */
export function numberOption(name: string, bound: { gt?: number; min?: number } = {}): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    const ok =
      v.trim() !== "" &&
      Number.isFinite(n) &&
      (bound.gt === undefined || n > bound.gt) &&
      (bound.min === undefined || n >= bound.min);
    if (!ok) {
      const want =
        bound.gt !== undefined
          ? `a number > ${bound.gt}`
          : bound.min !== undefined
            ? `a number ≥ ${bound.min}`
            : "a number";
      throw new UsageError(name, want, JSON.stringify(v), `${name}: expected ${want}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
}
