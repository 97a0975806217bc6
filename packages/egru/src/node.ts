// The "egru/node" subpath: library parts that need Node built-ins (worker threads). The isomorphic
// library is "egru" (src/index.ts).

export { createThreadedKernels, type ThreadedKernels, type ThreadOptions } from "./node/threaded-kernels.js";
export { WasmPool, type WasmPoolOptions, type WasmTask } from "./node/wasm-pool.js";
export {
  loadModel,
  MODEL_CONFIG_FILE,
  MODEL_WEIGHTS_FILE,
  modelWeightsFile,
  saveModel,
  sealedBundle,
  sealedWeights,
} from "./node/model-files.js";
export { checkSealed, DATA_DIGEST_KEY, HEADER_DIGEST_KEY, sealSafetensors } from "./node/sealed-safetensors.js";
export {
  checkIsFile,
  decodeUtf8,
  entryExists,
  readFileBytes,
  readFileText,
  readJsonFile,
} from "./node/read-file.js";
