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
    super(message ?? `${argument}: expected ${expected}, got ${got}`);
    this.name = new.target.name;
    this.argument = argument;
    this.expected = expected;
    this.got = got;
  }
}

/** A typed array has the wrong length, or dimensions do not fit together. */
export class ShapeError extends EgruError {}

/** A scalar option is out of its allowed range or of the wrong kind. */
export class ValueError extends EgruError {}

/** NaN or ±Infinity where finite numbers are required. */
export class NonFiniteError extends EgruError {}

/** A call that is not valid in the object's current state (e.g. backward before forward). */
export class StateError extends EgruError {}
