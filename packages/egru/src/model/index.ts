// The model API (stacks of recurrent layers, whole models, saving and loading, fit/predict/evaluate):
// re-exported by the library's index.

export {
  RecurrentStack, stackStats, type RecurrentStackOptions, type StackForwardInput, type StackGrads, type StackRun, type StackState,
  type StackStats,
} from "./recurrent-stack.js";
export { StackStepper } from "./stack-stepper.js";
export {
  cellEntries, linearEntries, loadStateDictInto, stackEntries, stateDictOf, type StateDict, type StateEntry,
} from "./state-dict.js";
