// Int8 weights for inference, whole models: quantize(model) returns a copy whose recurrent layers'
// input and recurrent matrices, readout and language-model embedding (the tied decoder's matrix) are
// int8 with one float32 scale per output unit (or per input unit, `axis`), everything else float32
// (model/int8-network.ts, kernels/int8.ts). The copy evaluates, predicts, streams (steppers,
// LmStream) and saves (I8 tensors: about a quarter of the bytes; loadModel reads them back) in
// evaluation mode; fit() and any training forward or backward refuse it (StateError).

import { createModel, type Model } from "./config.js";
import { type QuantizeOptions, quantizeNetwork } from "./int8-network.js";
import { loadWeightsInto } from "./model-state.js";

/** A copy of the model with int8 weights (see the header), on the same kernels. */
export function quantize<M extends Model>(model: M, opts: QuantizeOptions = {}): M {
  const saved = model.save();
  const copy = createModel(saved.config, { kernels: model.options.kernels }) as M;
  loadWeightsInto(copy, saved.weights, "model weights");
  quantizeNetwork(copy, opts);
  return copy;
}
