// The model API (stacks of recurrent layers, whole models, saving and loading, fit/predict/evaluate):
// re-exported by the library's index.

export {
  RecurrentStack,
  stackStats,
  type RecurrentStackOptions,
  type StackForwardInput,
  type StackGrads,
  type StackRun,
  type StackState,
  type StackStats,
} from "./recurrent-stack.js";
export { StackStepper } from "./stack-stepper.js";
export {
  createModel,
  type ClassifierConfig,
  type LanguageModelConfig,
  type Model,
  type ModelConfig,
  type ModelRuntimeOptions,
} from "./config.js";
export {
  cellEntries,
  linearEntries,
  loadStateDictInto,
  stackEntries,
  stateDictOf,
  type Int8Place,
  type StateDict,
  type StateEntry,
  type TorchInt8Layout,
} from "./state-dict.js";
export {
  INT8_WEIGHTS,
  loadModelInt8StateDict,
  loadModelStateDict,
  loadWeightsInto,
  MODEL_FORMAT,
  modelConfigOf,
  modelStateDict,
  saveModelBytes,
  type Network,
  type SavedModel,
} from "./model-state.js";
export { ClassifierModel, LmModel } from "./models.js";
export { int8Layers, quantizeNetwork, weightFormatOf, type QuantizeOptions } from "./int8-network.js";
export { quantize } from "./quantize.js";
export { hasInt8, int8StateTensors, loadInt8StateDict, scaleName } from "./int8-state.js";
export { bundleModel, loadModel } from "./load.js";
export { loadParamTensors, paramTensors, type ParamOwner } from "./params-io.js";
export {
  checkSequenceData,
  gatherBatch,
  segments,
  type SequenceData,
  type TokenData,
} from "./data.js";
export { batchify, randomBpttLength, segment, type Segment, type Streams } from "./lm-batches.js";
export {
  evaluateClassifier,
  evaluateLanguageModel,
  predictClassifier,
  predictLanguageModel,
  type ClassifierEvaluation,
  type LmEvaluation,
} from "./evaluate.js";
export { fit, nextMacrotask, type FitEpochInfo, type FitOptions, type FitResult, type FitStepInfo } from "./fit.js";
export {
  applyGradients,
  atStep,
  checkLoss,
  classifierStep,
  languageModelStep,
  type StepOutcome,
  type StepSettings,
} from "./train-step.js";
export {
  exportPytorch,
  loadPytorchStateDict,
  PYTORCH_FORMAT,
  pytorchConfig,
  pytorchLayout,
  pytorchStateDict,
  type PytorchConfig,
  type TorchConstant,
  type TorchLayout,
  type TorchName,
} from "./pytorch-names.js";
