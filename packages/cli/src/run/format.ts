// How the command line prints numbers: percentages, mega/kilo counts, durations, times left.

export const pct = (v: number): string => `${(100 * v).toFixed(2)} %`;
export const mega = (v: number): string => (v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : `${(v / 1e3).toFixed(1)} k`);

export function formatDuration(s: number): string {
  if (s < 59.5) return `${s.toFixed(1)}s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
}

/** A time left in whole seconds ("45s", "5m07s", "2h05m"); "--" while unknown (null, NaN, ±Infinity or negative). */
export function formatEta(s: number | null): string {
  if (s === null || !Number.isFinite(s) || s < 0) return "--";
  const whole = Math.round(s);
  if (whole < 60) return `${whole}s`;
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
  const minutes = Math.round(whole / 60);
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/** "1.23 M executed of 4.56 M dense (27.0 %)". */
export function macsText(executed: number, dense: number): string {
  return `${mega(executed)} executed of ${mega(dense)} dense (${pct(executed / dense)})`;
}
