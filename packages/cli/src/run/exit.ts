// The exit codes of egru's commands and the error of a bad command-line value (exit 2):
// 0 success, 1 the run failed, 2 bad usage, 130 interrupted (Ctrl-C, checkpoint saved).

import { ValueError } from "egru";

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** A command-line value that does not parse or is out of range. */
export class UsageError extends ValueError {}
