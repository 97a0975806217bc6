// "egru-cli/run" (Node only): what `egru train`, `egru eval` and `egru report` do, for programs —
// start or resume a run in a run directory, evaluate a saved run, draw its report — and the kinds of
// run with the interface a new kind implements.

export { defaultRunDir, discardUnstartedRun, resumeRun, type RunOptions, startRun } from "./life.js";
export { kindOf, RUN_KINDS } from "./kinds.js";
export type { EvalOutcome, EvalRequest, OpenOptions, Row, RunContext, RunEnd, RunKind, TaskRun } from "./kind.js";
export { classifierKind, classifierTrainer } from "./classifier.js";
export { modelKernels, replicaThreads } from "./replica-threads.js";
export { createReplicaPool } from "../node/replica-pool.js";
export type { ReplicaJob, ReplicaResult, Replicas } from "../train/replicas.js";
export { languageModelKind, lmRunTrainer } from "./language-model.js";
export { loadCheckpoint, type LoadedCheckpoint } from "./checkpoint.js";
export { type ReportOptions, writeReport } from "./report.js";
export { loadRunWeights, readMetrics, readRunConfig, readVocab } from "./run-files.js";
export { type ImportOutcome, importRun } from "./import-run.js";
export { IMPORT_FILE, isWeightsOnlyRun, openForEval } from "./run-files.js";
