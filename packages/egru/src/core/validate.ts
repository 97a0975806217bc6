// Argument checks shared by the layers: each throws a typed error naming the argument.

import type { FloatArray } from "./buffer.js";
import { NonFiniteError, ShapeError, ValueError } from "./errors.js";

/** Index (from off) of the first NaN or ±Infinity in a[off, off + n), or −1: a kernel's firstNonFinite. */
export type FiniteScan = (a: FloatArray, off: number, n: number) => number;

/** Throw unless `a` has exactly `expected` entries; `how` explains the product, e.g. "T·B·I = 5·3·4". */
export function checkLength(
  name: string,
  a: ArrayLike<number> | undefined | null,
  expected: number,
  how: string,
): void {
  if (a === undefined || a === null) {
    throw new ShapeError(name, `an array of length ${expected} (${how})`, String(a));
  }
  if (a.length !== expected) {
    throw new ShapeError(name, `length ${expected} (${how})`, `length ${a.length}`);
  }
}

/**
 * Throw unless every entry is finite; names the first bad index. `scan` (a kernel set's
 * firstNonFinite) finds it in a float array where given.
 */
export function checkFinite(name: string, a: ArrayLike<number>, scan?: FiniteScan): void {
  if (scan && (a instanceof Float32Array || a instanceof Float64Array)) {
    const i = scan(a, 0, a.length);
    if (i >= 0) throw new NonFiniteError(name, "finite numbers", `${a[i]} at index ${i}`);
    return;
  }
  for (let i = 0; i < a.length; i++) {
    const v = a[i];
    if (!Number.isFinite(v)) {
      throw new NonFiniteError(name, "finite numbers", `${v} at index ${i}`);
    }
  }
}

/** Throw unless n is an integer ≥ 1. */
export function checkPositiveInt(name: string, n: unknown): asserts n is number {
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1) {
    throw new ValueError(name, "an integer ≥ 1", String(n));
  }
}

/** Throw unless p is a number in [0, 1). */
export function checkProbability(name: string, p: unknown): asserts p is number {
  if (typeof p !== "number" || !(p >= 0 && p < 1)) {
    throw new ValueError(name, "a probability in [0, 1)", String(p));
  }
}

/** Throw unless x is a finite number in the open or closed interval given. */
export function checkRange(
  name: string,
  x: unknown,
  lo: number,
  hi: number,
  opts: { loOpen?: boolean; hiOpen?: boolean } = {},
): asserts x is number {
  const ok =
    typeof x === "number" && Number.isFinite(x) && (opts.loOpen ? x > lo : x >= lo) && (opts.hiOpen ? x < hi : x <= hi);
  if (!ok) {
    const l = opts.loOpen ? "(" : "[";
    const r = opts.hiOpen ? ")" : "]";
    throw new ValueError(name, `a number in ${l}${lo}, ${hi}${r}`, String(x));
  }
}

/**
 * Whether a parsed JSON value nests deeper than `max` levels (each array or object is one): walks no
 * deeper than max + 1, so a value nested 10^5 deep (JSON.parse makes one; JSON.stringify and every
 * recursive walk overflow the stack on it) is found without a deep recursion.
 */
export function nestsDeeper(v: unknown, max: number): boolean {
  if (v === null || typeof v !== "object") return false;
  if (max <= 0) return true;
  for (const x of Object.values(v)) if (nestsDeeper(x, max - 1)) return true;
  return false;
}
