// Watching validation results across epochs: the best so far and when it was reached, the plateau
// schedule's decays (optim/schedule.ts) and early stopping ("stop when validation has not improved
// for `patience` epochs", as Keras' and Lightning's EarlyStopping). An optional relative margin
// (`minImprovement`, as ReduceLROnPlateau's relative threshold and EarlyStopping's min_delta) makes a
// validation count as an improvement only when it beats the best by more than that fraction, so a run
// whose gains have shrunk to noise decays and stops (the command line's best weights follow any gain).
// Its state is plain JSON, so a training checkpoint carries it and a resumed run decays and stops
// exactly where an uninterrupted one would.

import { ValueError } from "../core/errors.js";
import type { ScheduleConfig } from "./schedule.js";

/** Which direction is better: "min" (loss, perplexity) or "max" (accuracy). */
export type WatchMode = "min" | "max";

export interface WatchState {
  /** The best value so far (null: nothing observed yet) and the epoch (1-based) it came from. */
  best: number | null;
  bestEpoch: number;
  /** Validations since the last improvement or decay (the plateau's patience counter). */
  stale: number;
  /** Plateau decays so far (learningRate's `decays`). */
  decays: number;
}

/** What one observation changed. */
export interface WatchVerdict {
  improved: boolean;
  /** The plateau schedule decayed the rate after this validation. */
  decayed: boolean;
  /** Early stopping is on and validation has not improved for `earlyStop` epochs. */
  stop: boolean;
}

export class ValidationWatch {
  readonly mode: WatchMode;
  /** Epochs without improvement after which `stop` is true (0: never). */
  readonly earlyStop: number;
  /** A validation improves only when better than the best by more than this fraction of it (0: any gain). */
  readonly minImprovement: number;
  state: WatchState = { best: null, bestEpoch: 0, stale: 0, decays: 0 };

  constructor(mode: WatchMode, earlyStop = 0, minImprovement = 0) {
    if (!(Number.isInteger(earlyStop) && earlyStop >= 0))
      throw new ValueError("earlyStop", "a whole number ≥ 0 (epochs)", String(earlyStop));
    if (!(minImprovement >= 0 && minImprovement < 1))
      throw new ValueError("minImprovement", "a fraction in [0, 1)", String(minImprovement));
    this.mode = mode;
    this.earlyStop = earlyStop;
    this.minImprovement = minImprovement;
  }

  /** Whether `value` counts as an improvement on `best` (null: nothing observed yet). */
  private beats(value: number, best: number | null): boolean {
    if (!Number.isFinite(value)) return false;
    if (best === null) return true;
    const margin = this.minImprovement * Math.abs(best);
    return this.mode === "min" ? value < best - margin : value > best + margin;
  }

  /** Record the validation result of epoch `epoch` (1-based) under `schedule`. */
  observe(value: number, epoch: number, schedule: ScheduleConfig): WatchVerdict {
    const s = this.state;
    const improved = this.beats(value, s.best);
    let decayed = false;
    if (improved) {
      s.best = value;
      s.bestEpoch = epoch;
      s.stale = 0;
    } else {
      s.stale++;
      if (schedule.kind === "plateau" && s.stale > schedule.patience) {
        s.decays++;
        s.stale = 0;
        decayed = true;
      }
    }
    return { improved, decayed, stop: this.stopsAfter(epoch) };
  }

  /** Whether early stopping ends a run that has completed `epochs` epochs (a resumed run asks before training on). */
  stopsAfter(epochs: number): boolean {
    return this.earlyStop > 0 && this.state.best !== null && epochs - this.state.bestEpoch >= this.earlyStop;
  }

  /** After `epochs` completed epochs: the run's early stop (those epochs and the best one), or null when it goes on. */
  stoppedAfter(epochs: number): { epoch: number; bestEpoch: number } | null {
    return this.stopsAfter(epochs) ? { epoch: epochs, bestEpoch: this.state.bestEpoch } : null;
  }

  /** Put back a saved state (checked: a checkpoint's file may have been edited). */
  setState(st: WatchState): void {
    const whole = (k: keyof WatchState, v: unknown): void => {
      if (!(Number.isInteger(v) && (v as number) >= 0))
        throw new ValueError(`watch.${k}`, "a whole number ≥ 0", String(v));
    };
    whole("bestEpoch", st.bestEpoch);
    whole("stale", st.stale);
    whole("decays", st.decays);
    if (st.best !== null && !Number.isFinite(st.best))
      throw new ValueError("watch.best", "a finite number or null", String(st.best));
    this.state = { best: st.best, bestEpoch: st.bestEpoch, stale: st.stale, decays: st.decays };
  }
}
