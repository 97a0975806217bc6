// What a training loop (trainer.ts, lm-trainer.ts) tells its caller while it runs.

export interface RunHooks<Step, Epoch, Position> {
  /** After every optimizer step. */
  onStep?(info: Step): void;
  /** After each epoch's validation. */
  onEpoch?(info: Epoch): void;
  /** Asked after every step and epoch: true stops the run at that boundary (Ctrl-C, a checkpoint due). */
  stop?(position: Position): boolean;
}
