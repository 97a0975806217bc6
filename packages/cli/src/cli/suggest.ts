// Unknown command names on the command line: find the word a user most likely meant (edit
// distance), and spot a mistyped command before commander hands it to the default command (`demo`),
// which would only say "too many arguments".

import type { Command } from "commander";
import { UsageError } from "./run.js";

/** Edits (insert, delete, substitute, swap two neighbours) that turn a into b. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The candidate closest to `word` if it is close enough to be a typo (at most a third of its letters wrong), else undefined. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return bestD <= Math.max(1, Math.floor(Math.max(word.length, 1) / 3)) ? best : undefined;
}

/** A command name that is none of the program's commands. */
export class UnknownCommandError extends UsageError {
  constructor(name: string, suggestion: string | undefined) {
    super(
      "command",
      "a command of egru",
      JSON.stringify(name),
      `unknown command '${name}'${suggestion ? ` (did you mean '${suggestion}'?)` : ""}`,
    );
  }
}

/**
 * Throw UnknownCommandError when the command-line words `args` (after `egru`) name a command the
 * program does not have. The command word is the first word that is not an option of the program
 * itself (or such an option's value); a leading option of the default command means there is none.
 */
export function checkCommandName(prog: Command, args: string[]): void {
  const names = prog.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  if (names.length > 0) names.push("help"); // commander's implicit `egru help <command>`
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") return;
    if (a.startsWith("-")) {
      const flag = a.split("=")[0];
      const opt = prog.options.find((o) => o.long === flag || o.short === flag);
      if (!opt) return; // an option of the default command: commander reports it
      if ((opt.required || opt.optional) && !a.includes("=")) i++;
      continue;
    }
    if (!names.includes(a)) throw new UnknownCommandError(a, closest(a, names));
    return;
  }
}
