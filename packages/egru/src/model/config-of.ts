// A model's constructor options as its JSON-able configuration (config.ts has the types): the
// runtime-only fields (kernels, a custom event function) left out, undefined fields dropped, a
// deep copy. Kept apart from config.ts (which builds models) so that model-state.ts can use it
// without an import cycle.

import type { ModelConfig } from "./config.js";

/** A constructor's options as a JSON-able configuration: runtime-only fields left out, a deep copy. */
export function configOf<T extends ModelConfig["type"]>(type: T, opts: object): Extract<ModelConfig, { type: T }> {
  const { kernels: _k, egru, ...rest } = opts as { kernels?: unknown; egru?: Record<string, unknown> };
  const cell = egru
    ? Object.fromEntries(Object.entries(egru).filter(([k, v]) => k !== "event" && v !== undefined))
    : undefined;
  const plain = JSON.parse(JSON.stringify({ ...rest, ...(cell ? { egru: cell } : {}) })) as object;
  return { type, ...plain } as Extract<ModelConfig, { type: T }>;
}
