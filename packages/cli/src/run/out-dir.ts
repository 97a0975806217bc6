// Output directories a command writes into (Node only), checked before anything is written: a path
// that is a file, or lies below one, is a usage error naming it (not a raw ENOTDIR), as is a run
// directory that already has files (egru never overwrites a run).

import { existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "./exit.js";

/** The first file (not directory) on the way from the root to `dir`, or null. */
function fileOnPath(dir: string): string | null {
  const chain: string[] = [];
  for (let d = resolve(dir); ; d = dirname(d)) {
    chain.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of chain) {
    if (!existsSync(d)) return null;
    if (!statSync(d).isDirectory()) return d;
  }
  return null;
}

/**
 * Check that `dir` can be the output directory of `flag`: a directory or nothing yet, not below a
 * file; with `empty`, one without files.
 */
export function checkOutDir(dir: string, flag: string, expected: string, empty = true): void {
  const file = fileOnPath(dir);
  if (file !== null)
    throw new UsageError(
      flag,
      expected,
      file === resolve(dir) ? `${dir}, which is a file` : `${dir}, below the file ${file}`,
    );
  if (empty && existsSync(dir) && readdirSync(dir).length > 0)
    throw new UsageError(flag, expected, `${dir}, which has files`);
}

/** Create `dir` (and its parents) after checkOutDir; returns the first directory made (mkdirSync's), if any. */
export function makeOutDir(dir: string, flag: string): string | undefined {
  try {
    return mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(flag, "a directory egru can create", `${dir} (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
}
