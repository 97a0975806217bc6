// Public surface of egru-cli as a library: the training runs, their configuration and the dataset
// readers that the `egru` command uses (re-exports only). The model library itself is "egru".

export {
  ConfigError,
  mergeConfig,
  parseConfig,
  PRESETS,
  type TrainConfig,
  type TrainConfigInput,
} from "./train/config.js";
export { buildModel, buildTrainer } from "./train/build.js";
export { mnistTask, type ClassificationTask, type SplitName } from "./train/task.js";
export { Trainer, type EvalResult, type StepInfo, type TrainPosition } from "./train/trainer.js";
export { bitReversalPermutation, mnistBatch, parseMnist, type MnistSplit, type MnistVariant } from "./data/mnist.js";
export { parseIdx } from "./data/idx.js";
