// Watching for dead EGRU layers: a layer that emits no event in a training step passes nothing on
// (the layer above, or the decoder, sees zeros) and takes gradient only through units inside the
// surrogate window, so a layer silent for many steps in a row has usually stopped learning for good.
// Per EGRU layer the watch counts the consecutive training steps with no event at all; when a silent
// stretch reaches `steps`, it reports a warning once. A step with an event ends the stretch (the
// warning's `until` is then its last silent step), and a later silence is a new stretch that warns
// again. Its state goes into checkpoints, so a resumed run warns exactly where an uninterrupted one does.

/** A layer silent for `steps` steps in a row. Layers are numbered from 1 (the bottom one). */
export interface DeadLayerWarning {
  /** The step at which the warning was given (the stretch's `steps`-th silent step). */
  step: number;
  layer: number;
  /** The stretch's first silent step. */
  silentSince: number;
  /** The stretch's last silent step once the layer emitted again; null while it lasts. */
  until: number | null;
}

/** What a checkpoint keeps of the watch; per layer of the model (GRU and LSTM layers stay null / false). */
export interface DeadLayerState {
  silentSince: (number | null)[];
  warned: boolean[];
  warnings: DeadLayerWarning[];
}

/** A layer silent at the end of training for at least the warning's steps. */
export interface DeadLayer {
  layer: number;
  silentSince: number;
  /** Silent steps up to the end. */
  steps: number;
}

export class DeadLayerWatch {
  state: DeadLayerState;

  /** Whether each layer is an EGRU layer (the others have no events and are not watched). */
  readonly egru: boolean[];

  /** `steps`: silent steps in a row before a warning (0 = never watch); `cells`: the model's layers, bottom up. */
  constructor(
    readonly steps: number,
    cells: readonly { kind: string }[],
  ) {
    this.egru = cells.map((c) => c.kind === "egru");
    this.state = {
      silentSince: this.egru.map(() => null),
      warned: this.egru.map(() => false),
      warnings: [],
    };
  }

  /** Put back a checkpoint's state (a copy is kept). */
  setState(s: DeadLayerState): void {
    this.state = {
      silentSince: [...s.silentSince],
      warned: [...s.warned],
      warnings: s.warnings.map((w) => ({ ...w })),
    };
  }

  /** After training step `step` (counted from 1) with `events` per layer: the warnings it gives. */
  observe(step: number, events: number[]): DeadLayerWarning[] {
    if (this.steps === 0) return [];
    const s = this.state;
    const given: DeadLayerWarning[] = [];
    this.egru.forEach((isEgru, l) => {
      if (!isEgru) return;
      if (events[l] > 0) {
        if (s.warned[l]) for (const w of s.warnings) if (w.layer === l + 1 && w.until === null) w.until = step - 1;
        s.silentSince[l] = null;
        s.warned[l] = false;
        return;
      }
      const since = s.silentSince[l] ?? step;
      s.silentSince[l] = since;
      if (!s.warned[l] && step - since + 1 >= this.steps) {
        const w: DeadLayerWarning = { step, layer: l + 1, silentSince: since, until: null };
        s.warnings.push(w);
        given.push({ ...w });
        s.warned[l] = true;
      }
    });
    return given;
  }

  /** The layers silent at step `step` (the last one trained) for at least `steps` steps. */
  deadAt(step: number): DeadLayer[] {
    const out: DeadLayer[] = [];
    this.state.silentSince.forEach((since, l) => {
      if (since !== null && this.state.warned[l])
        out.push({ layer: l + 1, silentSince: since, steps: step - since + 1 });
    });
    return out;
  }
}

/**
 * The warning's text: which layer, since when, and what to change. `dataInit`: the run already sets
 * its thresholds from data (model.thresholdInit "data"), so the advice is a higher target instead.
 */
export function deadLayerMessage(w: DeadLayerWarning, layers: number, steps: number, dataInit: boolean): string {
  const advice = dataInit
    ? "try a higher model.thresholdTarget or a smaller learning rate"
    : 'try model.thresholdInit "data", a lower model.thresholdMean, or a smaller learning rate';
  return (
    `EGRU layer ${w.layer} of ${layers} has emitted no event for ${steps} steps (since step ${w.silentSince}): ` +
    `its thresholds are above every unit's state; ${advice}`
  );
}

/** A warning's stretch in words: "EGRU layer 2 of 3 emitted no event from step 20 to the end (101 steps)". */
export function silentStretchText(w: DeadLayerWarning, layers: number, lastStep: number): string {
  const end = w.until ?? lastStep;
  const span = `${end - w.silentSince + 1} steps`;
  return w.until === null
    ? `EGRU layer ${w.layer} of ${layers} emitted no event from step ${w.silentSince} to the end (${span})`
    : `EGRU layer ${w.layer} of ${layers} emitted no event in steps ${w.silentSince}–${w.until} (${span}), then emitted again`;
}
