// Public surface of the egru library: re-exports only.

export { EgruError, NonFiniteError, ShapeError, StateError, ValueError } from "./core/errors.js";
export { Rng, type RngState } from "./core/rng.js";
export type { FloatArray } from "./core/buffer.js";
export { heavisideEvent, smoothEvent, sigmoid, triangle, type EventFunction } from "./kernels/activations.js";
export { EGRU, initThresholds } from "./layers/egru.js";
export type {
  EgruForwardInput, EgruForwardResult, EgruInputGrads, EgruOptions, EgruState, EgruUpstreamGrads, ThresholdMode,
} from "./layers/egru.js";
export { GRU } from "./layers/gru.js";
export { Linear } from "./layers/linear.js";
export { EgruStepper, GruStepper, type Stepper } from "./layers/stepper.js";
export { getKernels, jsKernels, setKernels, type Kernels } from "./kernels/backend.js";
export { LSTM } from "./layers/lstm.js";
export type { LayerStats, NamedWeights, SequenceShape } from "./layers/common.js";
export { egruRefBackward, egruRefForward } from "./reference/egru-ref.js";
export { loadBestKernels, type KernelChoice } from "./wasm/select.js";
export { loadWasmKernels, simdSupported, type WasmKernels, type WasmKernelOptions } from "./wasm/wasm-kernels.js";
