// Typed errors of the egru library. Every error names the argument (or file, field, step)
// at fault and says what was expected, so a caller can print it without a stack trace.

/** Base class: every error egru raises on purpose is an EgruError. */
export class EgruError extends Error {
  /** Which argument, field, file or step the error is about, e.g. "x" or "options.zoneout". */
  readonly argument: string;
  /** What was expected there, in words, e.g. "length 60 (T·B·I = 5·3·4)". */
  readonly expected: string;
  /** What was found, in words. */
  readonly got: string;

  constructor(argument: string, expected: string, got: string, message?: string) {
    // (got may arrive as undefined from JSON.stringify(undefined): say "nothing" rather than fail here)
    const arg = capText(String(argument));
    const shown = capText(got === undefined ? "nothing" : String(got));
    super(
      message !== undefined ? capText(message, 4 * MESSAGE_PART_CHARS) : `${arg}: expected ${expected}, got ${shown}`,
    );
    this.name = new.target.name;
    this.argument = arg;
    this.expected = expected;
    this.got = shown;
  }
}

/** The most characters of a value (or name) an error message quotes: a 1 MiB token must not make a 1 MiB line. */
export const MESSAGE_PART_CHARS = 200;

/** `text` cut to `max` characters, saying how long it was. */
export function capText(text: string, max = MESSAGE_PART_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** A typed array has the wrong length, or dimensions do not fit together. */
export class ShapeError extends EgruError {}

/** A scalar option is out of its allowed range or of the wrong kind. */
export class ValueError extends EgruError {}

/** NaN or ±Infinity where finite numbers are required. */
export class NonFiniteError extends EgruError {}

/** A call that is not valid in the object's current state (e.g. backward before forward). */
export class StateError extends EgruError {}
