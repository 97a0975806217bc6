// Int8 weights of a network (inference; layers/weighted-layer.ts, kernels/int8.ts): which weights
// can be int8 — the recurrent layers' input and recurrent matrices, a classifier's readout (head) and
// a language model's embedding (the tied decoder's matrix); biases, thresholds and a CNN front-end
// stay float32 — whether any is, and making them int8 in place.

import { checkScaleAxis, SCALE_AXES, type ScaleAxis } from "../kernels/int8.js";
import type { WeightFormat } from "../layers/int8-weights.js";
import type { WeightedLayer } from "../layers/weighted-layer.js";
import type { SequenceClassifier } from "../nn/classifier.js";
import type { LanguageModel } from "../nn/language-model.js";

type Network = SequenceClassifier | LanguageModel;

export interface QuantizeOptions {
  /** The units each scale belongs to: "output" (default) or "input" (kernels/int8.ts). */
  axis?: ScaleAxis;
}

/** The layers whose matrices quantisation makes int8. */
export function int8Layers(m: Network): WeightedLayer[] {
  const cells = m.cells.map((c) => c.layer);
  return "decoder" in m ? [m.embedding, ...cells] : [...cells, m.head];
}

/** "int8" when any of the network's weights is int8 (it is then for inference only), else "float32". */
export function weightFormatOf(m: Network): WeightFormat {
  return int8Layers(m).some((l) => l.weightFormat === "int8") ? "int8" : "float32";
}

/**
 * Make the network's quantisable matrices int8 in place (those already int8 stay as they are) and
 * switch it to evaluation mode.
 */
export function quantizeNetwork(m: Network, opts: QuantizeOptions = {}): void {
  const axis = opts.axis ?? SCALE_AXES[0];
  checkScaleAxis("axis", axis);
  for (const layer of int8Layers(m)) {
    const names = Object.keys(layer.int8Slots()).filter((k) => layer.int8Weight(k) === null);
    if (names.length) layer.quantize(axis, names);
  }
  if ("decoder" in m) m.weightsChanged();
  m.eval();
}
