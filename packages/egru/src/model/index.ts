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
  type StateDict,
  type StateEntry,
} from "./state-dict.js";
export {
  loadModelStateDict,
  MODEL_FORMAT,
  modelConfigOf,
  modelStateDict,
  saveModelBytes,
  type Network,
  type SavedModel,
} from "./model-state.js";
export { ClassifierModel, LmModel } from "./models.js";
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
