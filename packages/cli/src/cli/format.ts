// How the command line prints numbers: percentages, mega/kilo counts, durations.

export const pct = (v: number): string => `${(100 * v).toFixed(2)} %`;
export const mega = (v: number): string => (v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : `${(v / 1e3).toFixed(1)} k`);

export function formatDuration(s: number): string {
  if (s < 59.5) return `${s.toFixed(1)}s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, "0")}s`;
}
