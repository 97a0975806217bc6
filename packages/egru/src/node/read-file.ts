// Reading files a user points at (Node only), with typed errors that name the path and say what was
// expected: a directory where a file should be, a missing or unreadable file, text that is not UTF-8
// (with the byte offset), JSON that does not parse or nests deeper than any of egru's files. Never a
// raw EISDIR / ENOENT with a stack, nor a RangeError from a value too deep to walk.

import { lstatSync, readFileSync, statSync } from "node:fs";
import { StateError, ValueError } from "../core/errors.js";
import { nestsDeeper } from "../core/validate.js";

/** The deepest nesting of a JSON file egru reads (its own nest a few levels): refused before anything walks it. */
export const MAX_JSON_DEPTH = 64;

/** The reason a path could not be read, in words. */
function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "nothing there";
  if (code === "EACCES" || code === "EPERM") return "not readable (permission denied)";
  if (code === "ENOTDIR") return "a path through something that is not a directory";
  if (code === "ELOOP") return "a loop of symbolic links";
  return code ?? (e as Error).message;
}

/**
 * Whether anything is at `path`, a broken or looping symbolic link too (existsSync follows links and
 * says no to those, so a reader would report "missing" instead of opening the link and naming why).
 */
export function entryExists(path: string): boolean {
  return lstatSync(path, { throwIfNoEntry: false }) !== undefined;
}

/** Check that `path` is a file (not a directory, not missing) before it is opened for streaming. */
export function checkIsFile(path: string, what: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch (e) {
    throw new StateError(path, `a file (${what})`, reason(e));
  }
  if (isDir) throw new StateError(path, `a file (${what})`, "a directory");
}

/** The bytes of the file at `path` (`what` says what it should be, e.g. "the run's configuration"). */
export function readFileBytes(path: string, what: string): Buffer {
  checkIsFile(path, what);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new StateError(path, `a readable file (${what})`, reason(e));
  }
}

/** Decode UTF-8, naming the byte offset of the first invalid sequence. */
export function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // find the offset: the longest prefix that decodes
    let lo = 0;
    let hi = bytes.length;
    const ok = (n: number): boolean => {
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
        return true;
      } catch {
        return false;
      }
    };
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ok(mid)) lo = mid;
      else hi = mid - 1;
    }
    if (lo === bytes.length) {
      // every prefix decodes as a stream: the last sequence is cut off; name where it starts
      let k = bytes.length - 1;
      while (k > 0 && (bytes[k] & 0xc0) === 0x80) k--;
      throw new ValueError(path, "UTF-8 text", `invalid UTF-8 at byte ${k} (a sequence cut off by the end)`);
    }
    // byte lo broke the text: a byte that cannot start a sequence there, or one that cut the previous
    // sequence short; in that case name where the broken sequence starts
    let at = lo;
    if ((bytes[lo] & 0xc0) !== 0x80) {
      let j = lo - 1;
      while (j >= 0 && (bytes[j] & 0xc0) === 0x80) j--;
      if (j >= 0 && bytes[j] >= 0xc0 && lo - j < 4) at = j;
    }
    throw new ValueError(path, "UTF-8 text", `invalid UTF-8 at byte ${at}`);
  }
}

/** The text of the file at `path`, which must be UTF-8. */
export function readFileText(path: string, what: string): string {
  return decodeUtf8(readFileBytes(path, what), path);
}

/** The JSON value of the file at `path`. */
export function readJsonFile(path: string, what: string): unknown {
  const text = readFileText(path, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ValueError(path, `JSON (${what})`, `unparsable text (${(e as Error).message})`);
  }
  if (nestsDeeper(value, MAX_JSON_DEPTH))
    throw new ValueError(path, `JSON nested at most ${MAX_JSON_DEPTH} levels deep (${what})`, "deeper nesting");
  return value;
}
