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
export { clearPool, recycle } from "./core/pool.js";
export { SequenceCell, type CellKind, type CellRun } from "./nn/cells.js";
export { SequenceClassifier, type ClassifierOptions, type ClassifierRun, type Readout } from "./nn/classifier.js";
export { softmaxCrossEntropy } from "./nn/loss.js";
export type { Param, ParamGroup } from "./nn/params.js";
export { clipGradNorm, Optimizer, type OptimizerConfig, type OptimizerState } from "./optim/optimizer.js";
export { learningRate, type ScheduleConfig } from "./optim/schedule.js";
export { ConfigError, mergeConfig, parseConfig, PRESETS, type TrainConfig, type TrainConfigInput } from "./train/config.js";
export { buildModel, buildTrainer } from "./train/build.js";
export { mnistTask, type ClassificationTask, type SplitName } from "./train/task.js";
export { Trainer, type EvalResult, type StepInfo, type TrainPosition } from "./train/trainer.js";
export { bitReversalPermutation, mnistBatch, parseMnist, type MnistSplit, type MnistVariant } from "./data/mnist.js";
export { parseIdx } from "./data/idx.js";
export { decodeSafetensors, encodeSafetensors, type Tensor } from "./data/safetensors.js";
export { Embedding, type EmbeddingOptions } from "./nn/embedding.js";
export { dropoutBackward, dropoutForward, type DropoutKind } from "./nn/dropout.js";
