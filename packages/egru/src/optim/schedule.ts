// Learning-rate schedules, by epoch (as PyTorch's schedulers stepped once per epoch) with an
// optional linear warm-up over the first optimizer steps:
//   constant              lr
//   step                  lr · γ^⌊epoch / every⌋                             (StepLR)
//   cosine                lr until startEpoch, then
//                         min + (lr − min)·(1 + cos(π·(epoch − start)/(epochs − start)))/2
//                         (CosineAnnealingLR stepped only from startEpoch, as the LM recipe)
//   plateau               max(minLr, lr · factor^decays), decays counted by a ValidationWatch
//                         (optim/validation-watch.ts) from the validation results so far
//                         (ReduceLROnPlateau; Zaremba's and AWD's divide-on-no-improvement)
//   warm-up               × min(1, (step + 1) / warmupSteps)

import { ValueError } from "../core/errors.js";

export type ScheduleConfig =
  | { kind: "constant"; warmupSteps?: number }
  | { kind: "step"; every: number; gamma: number; warmupSteps?: number }
  | { kind: "cosine"; startEpoch: number; minLr?: number; warmupSteps?: number }
  | PlateauSchedule;

/** Decay by `factor` each time validation has not improved for more than `patience` validations in a row. */
export interface PlateauSchedule {
  kind: "plateau";
  /** In (0, 1): the rate is multiplied by it at each decay. */
  factor: number;
  /** Validations without improvement tolerated before a decay (0: decay at the first). */
  patience: number;
  /** The rate never decays below this (default 0). */
  minLr?: number;
  warmupSteps?: number;
}

/**
 * Learning rate for the given epoch (0-based), optimizer step (0-based) and total epochs; `decays`:
 * the plateau decays so far (a ValidationWatch's; only the plateau schedule reads it).
 */
export function learningRate(
  base: number,
  s: ScheduleConfig,
  epoch: number,
  step: number,
  epochs: number,
  decays = 0,
): number {
  let lr = base;
  if (s.kind === "step") {
    if (!(s.every >= 1)) throw new ValueError("schedule.every", "a whole number ≥ 1", String(s.every));
    lr = base * s.gamma ** Math.floor(epoch / s.every);
  } else if (s.kind === "cosine") {
    const min = s.minLr ?? 0;
    const span = epochs - s.startEpoch;
    if (epoch >= s.startEpoch && span > 0)
      lr = min + ((base - min) * (1 + Math.cos((Math.PI * (epoch - s.startEpoch)) / span))) / 2;
  } else if (s.kind === "plateau") {
    if (!(s.factor > 0 && s.factor < 1))
      throw new ValueError("schedule.factor", "a number in (0, 1)", String(s.factor));
    lr = Math.max(Math.min(s.minLr ?? 0, base), base * s.factor ** decays);
  }
  const w = s.warmupSteps ?? 0;
  if (w > 0) lr *= Math.min(1, (step + 1) / w);
  return lr;
}
