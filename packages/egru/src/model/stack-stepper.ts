// Streaming inference through a stack of recurrent layers: one step of B streams at a time,
// x_t [B, I] → the top layer's output [B, H], each layer's state carried to the next step.
// Evaluation semantics (no DropConnect, no dropout between layers, zoneout as its expected mix):
// stepping a sequence from zero state gives the stack's evaluation-mode forward, step by step.

import { EGRU, type EgruState } from "../layers/egru.js";
import { GRU, type GruState } from "../layers/gru.js";
import type { LSTM, LstmState } from "../layers/lstm.js";

type LayerState = EgruState | GruState | LstmState;

export class StackStepper {
  readonly batch: number;
  private readonly layers: (EGRU | GRU | LSTM)[];
  private states: (LayerState | null)[];

  constructor(layers: (EGRU | GRU | LSTM)[], batch: number) {
    this.layers = layers;
    this.batch = batch;
    this.states = layers.map(() => null);
  }

  /** One step: x [B, I] → the top layer's output [B, H] (EGRU: its events y). */
  step(x: ArrayLike<number>): Float32Array {
    let input = x;
    this.layers.forEach((layer, l) => {
      if (layer instanceof EGRU) {
        const r = layer.step(input, this.batch, this.states[l] as EgruState | null);
        this.states[l] = r.state;
        input = r.y;
      } else if (layer instanceof GRU) {
        const r = layer.step(input, this.batch, this.states[l] as GruState | null);
        this.states[l] = r.state;
        input = r.h;
      } else {
        const r = layer.step(input, this.batch, this.states[l] as LstmState | null);
        this.states[l] = r.state;
        input = r.h;
      }
    });
    return input as Float32Array;
  }

  /** Start again from zero state. */
  reset(): void {
    this.states = this.layers.map(() => null);
  }
}
