// Progress on stderr for long work: a bar with ETA and live figures when stderr is a terminal,
// otherwise (CI, a log file) a plain line every ten seconds. cli-progress draws both.

import cliProgress from "cli-progress";

export interface Progress {
  update(value: number, fields: Record<string, string>): void;
  /** Print a line above the bar (the bar is redrawn below it). */
  log(line: string): void;
  stop(): void;
}

/** A progress display for `total` units; `fields` name the figures shown after the bar. */
export function progressBar(label: string, total: number, fields: string[], opts: { quiet?: boolean; start?: number } = {}): Progress {
  if (opts.quiet) return { update: () => {}, log: () => {}, stop: () => {} };
  const tty = process.stderr.isTTY === true;
  const format = `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | ${fields.map((f) => `${f} {${f}}`).join(" | ")}`;
  const make = (): cliProgress.SingleBar => new cliProgress.SingleBar({
    format, stream: process.stderr, hideCursor: tty, barsize: 24, etaBuffer: 50, fps: 5, noTTYOutput: !tty,
    notTTYSchedule: 10_000, etaAsynchronousUpdate: tty,
  }, cliProgress.Presets.legacy);
  let value = opts.start ?? 0;
  let current: Record<string, string> = Object.fromEntries(fields.map((f) => [f, "-"]));
  let bar = make();
  let running = true;
  bar.start(total, value, current);
  return {
    update: (v, f) => {
      value = v;
      current = { ...current, ...f };
      if (running) bar.update(v, current);
    },
    log: (line) => {
      if (!tty) {
        // plain lines: nothing to redraw
        process.stderr.write(`${line}\n`);
        return;
      }
      if (running) bar.stop();
      process.stderr.write(`${line}\n`);
      bar = make();
      bar.start(total, value, current);
      running = true;
    },
    stop: () => {
      if (running) bar.stop();
      running = false;
    },
  };
}
