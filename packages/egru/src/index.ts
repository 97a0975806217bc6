// Public surface of the egru library (isomorphic: no Node built-ins): re-exports only.
// Node-only parts (worker-thread kernels) are under the "egru/node" subpath (src/node.ts).

// errors, random numbers, arrays
export { capText, EgruError, NonFiniteError, ShapeError, StateError, ValueError } from "./core/errors.js";
export { Rng, type RngState } from "./core/rng.js";
export { allFloat32, countNonzero, type FloatArray } from "./core/buffer.js";
export { checkPositiveInt } from "./core/validate.js";
export { clearPool, recycle } from "./core/pool.js";

// kernels
export { heavisideEvent, smoothEvent, sigmoid, triangle, type EventFunction } from "./kernels/activations.js";
export { jsKernels, type Kernels } from "./kernels/backend.js";
export {
  checkInt8Matrix,
  dequantizeMatrix,
  gemmNNi8,
  INT8_MAX,
  isInt8Matrix,
  quantizeMatrix,
  SCALE_AXES,
  type Int8Matrix,
  type Int8Product,
  type ScaleAxis,
} from "./kernels/int8.js";
export type { MacCount } from "./kernels/gated-cell.js";
export {
  chooseKernels,
  defaultKernels,
  getKernels,
  loadBestKernels,
  ready,
  setKernels,
  type KernelChoice,
} from "./wasm/select.js";
export { WASM_MAXIMUM_PAGES } from "./wasm/kernels-wasm.generated.js";
export {
  loadWasmKernels,
  loadWasmKernelsSync,
  RELAXED_SIMD_DEFAULT,
  relaxedSimdSupported,
  simdSupported,
  type WasmKernels,
  type WasmKernelOptions,
} from "./wasm/wasm-kernels.js";

// layers
export { EGRU, EGRU_DEFAULTS, initThresholds } from "./layers/egru.js";
export type {
  EgruBackwardOptions,
  EgruForwardInput,
  EgruForwardResult,
  EgruInputGrads,
  EgruOptions,
  EgruState,
  EgruUpstreamGrads,
  ThresholdMode,
} from "./layers/egru.js";
export { GRU } from "./layers/gru.js";
export type {
  GruForwardInput,
  GruForwardResult,
  GruInputGrads,
  GruOptions,
  GruState,
  GruTorchName,
  GruTorchWeights,
  GruUpstreamGrads,
} from "./layers/gru.js";
export { LSTM } from "./layers/lstm.js";
export type {
  LstmForwardInput,
  LstmForwardResult,
  LstmInputGrads,
  LstmOptions,
  LstmState,
  LstmTorchName,
  LstmUpstreamGrads,
} from "./layers/lstm.js";
export { Linear, type LinearOptions, type LinearResult } from "./layers/linear.js";
export { Conv2d, type Conv2dOptions, type Conv2dResult } from "./layers/conv2d.js";
export { MaxPool2d, type MaxPool2dResult } from "./layers/max-pool2d.js";
export { EgruStepper, GruStepper, LstmStepper, type Stepper } from "./layers/stepper.js";
export type { Int8Slot, WeightFormat } from "./layers/int8-weights.js";
export { DROP_CONNECT_SHAPES } from "./layers/common.js";
export type { DropConnectShape, LayerStats, NamedWeights, SequenceShape } from "./layers/common.js";
export type { ClipGroupSums } from "./layers/grad-clip.js";

// reference (float64, for checking)
export { egruRefBackward, egruRefForward } from "./reference/egru-ref.js";

// models and their parts
export {
  beginGradGroups,
  endGradGroups,
  mergeGradGroups,
  takeGradGroups,
  SequenceCell,
  type CellKind,
  type CellOptions,
  type CellRun,
} from "./nn/cells.js";
export {
  eventSums,
  SequenceClassifier,
  type BatchPart,
  type ClassifierOptions,
  type ClassifierRun,
  type LayerReport,
  type Readout,
} from "./nn/classifier.js";
export {
  LanguageModel,
  type ArOutput,
  type DropoutMaskMode,
  type LanguageModelOptions,
  type LmRun,
  type LmState,
} from "./nn/language-model.js";
export {
  initThresholdsFromData,
  SIGMOID_BOUND,
  type ThresholdBatch,
  type ThresholdGranularity,
  type ThresholdInitOptions,
  type ThresholdInitResult,
  type ThresholdLayerInit,
} from "./nn/threshold-init.js";
export { LmStream, sampleToken, type LmStreamOptions } from "./nn/lm-stream.js";
export { ALEXNET_FRONT_END, FrameCnn, type CnnLayerSpec, type FrameCnnRun } from "./nn/frame-cnn.js";
export { TiedDecoder, type DecoderResult } from "./nn/tied-decoder.js";
export { Embedding, type EmbeddingOptions, type EmbeddingResult } from "./nn/embedding.js";
export { dropoutBackward, dropoutForward, type DropoutKind, type DropoutResult } from "./nn/dropout.js";
export { crossEntropySum, softmaxCrossEntropy, type CrossEntropyResult } from "./nn/loss.js";
export { countParams, layerParams, type Param, type ParamGroup } from "./nn/params.js";

// optimisation
export {
  clipGradNorm,
  Optimizer,
  type OptimizerConfig,
  type OptimizerKind,
  type OptimizerState,
} from "./optim/optimizer.js";
export { learningRate, type PlateauSchedule, type ScheduleConfig } from "./optim/schedule.js";
export { ValidationWatch, type WatchMode, type WatchState, type WatchVerdict } from "./optim/validation-watch.js";

// files
export {
  decodeSafetensors,
  decodeSafetensorsInt8,
  encodeSafetensors,
  type Int8Tensor,
  type Tensor,
} from "./io/safetensors.js";
export * from "./model/index.js";
