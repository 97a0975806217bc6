// The kinds of run egru trains, and which one a configuration's task belongs to. A new kind of task
// is one file implementing RunKind (run/kind.ts) and one entry here.

import type { TrainConfig } from "../train/config.js";
import { classifierKind } from "./classifier.js";
import type { RunKind } from "./kind.js";
import { languageModelKind } from "./language-model.js";

export const RUN_KINDS: readonly RunKind[] = [languageModelKind, classifierKind];

/** The kind that trains the configuration's task. */
export function kindOf(config: TrainConfig): RunKind {
  const kind = RUN_KINDS.find((k) => k.handles(config));
  if (!kind) throw new Error(`no kind of run trains the task ${config.task}`); // the config schema lists only known tasks
  return kind;
}
