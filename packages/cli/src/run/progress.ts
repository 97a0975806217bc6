// Progress on stderr for long work: a bar with ETA and live figures when stderr is a terminal,
// otherwise (CI, a log file) a plain line every ten seconds. cli-progress draws both; the ETA is our
// own (EtaSmoother), as cli-progress's printed "LLs" or "NFs" for an unknown rate (its 'NULL' or
// 'INF' cut to two letters) and jumped with each batch's time.

import cliProgress from "cli-progress";
import { formatEta } from "./format.js";

/**
 * Time left from an exponential moving average of the seconds per unit of work, each observation
 * weighted by the units it covers: a language model's BPTT segments of varying length count by
 * their tokens, not as equal steps, and one slow batch moves the estimate only by its share.
 */
export class EtaSmoother {
  private secondsPerUnit: number | null = null;
  private last: { value: number; seconds: number } | null = null;

  /** `window`: units of work over which the average forgets about 63 % of what came before. */
  constructor(
    private readonly total: number,
    private readonly window = Math.max(1, total / 50),
  ) {}

  /** Record that `value` units were done at time `seconds`. */
  observe(value: number, seconds: number): void {
    const last = this.last;
    if (last === null || value < last.value || seconds < last.seconds) {
      this.last = { value, seconds };
      return;
    }
    const units = value - last.value;
    if (units === 0) return; // the time counts towards the next step that moves the value
    const rate = (seconds - last.seconds) / units;
    const w = 1 - Math.exp(-units / this.window);
    this.secondsPerUnit = this.secondsPerUnit === null ? rate : this.secondsPerUnit + w * (rate - this.secondsPerUnit);
    this.last = { value, seconds };
  }

  /** Seconds left at `value` units done, or null before a rate is known. */
  remaining(value: number): number | null {
    return this.secondsPerUnit === null ? null : Math.max(0, this.total - value) * this.secondsPerUnit;
  }
}

export interface Progress {
  update(value: number, fields: Record<string, string>): void;
  /** Print a line above the bar (the bar is redrawn below it). */
  log(line: string): void;
  stop(): void;
}

/** A progress display for `total` units; `fields` name the figures shown after the bar. */
export function progressBar(
  label: string,
  total: number,
  fields: string[],
  opts: { quiet?: boolean; start?: number } = {},
): Progress {
  if (opts.quiet) return { update: () => {}, log: () => {}, stop: () => {} };
  const tty = process.stderr.isTTY === true;
  const format = `${label} [{bar}] {percentage}% | {value}/{total} | ETA {left}${fields.map((f) => ` | ${f} {${f}}`).join("")}`;
  const make = (): cliProgress.SingleBar =>
    new cliProgress.SingleBar(
      {
        format,
        stream: process.stderr,
        hideCursor: tty,
        barsize: 24,
        fps: 5,
        noTTYOutput: !tty,
        notTTYSchedule: 10_000,
      },
      cliProgress.Presets.legacy,
    );
  let value = opts.start ?? 0;
  const eta = new EtaSmoother(total);
  eta.observe(value, performance.now() / 1000);
  let current: Record<string, string> = { ...Object.fromEntries(fields.map((f) => [f, "-"])), left: formatEta(null) };
  let bar = make();
  let running = true;
  bar.start(total, value, current);
  return {
    update: (v, f) => {
      value = v;
      eta.observe(v, performance.now() / 1000);
      current = { ...current, ...f, left: formatEta(eta.remaining(v)) };
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
