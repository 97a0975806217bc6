// Checkpoints of a training run (Node only). A checkpoint is a directory ckpt-<step>/ in the run
// directory holding model.safetensors (the parameters by name), optimizer.safetensors (its moment
// buffers) and state.json (position in the data, optimizer step, random state, epoch sums, the
// config, and the sha256 of both tensor files). It becomes the current one only when
// checkpoint.json — replaced atomically (temporary file, fsync, rename, fsync of the directory) —
// names it; older checkpoint directories are removed after that. A crash at any moment leaves the
// previous checkpoint intact and current.
//
// Saving a trainer (saveTrainer) and putting one back (restoreTrainer) are here too, so the whole of
// a checkpoint's contents is in this one file; what a kind of task adds (best result, carried state)
// comes in as the state's optional fields.

import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadParamTensors,
  type Optimizer,
  type OptimizerState,
  type Param,
  type ParamOwner,
  paramTensors,
  type Rng,
  type RngState,
  StateError,
  type Tensor,
  ValueError,
  type ValidationWatch,
  type WatchState,
} from "egru";
import { entryExists, readFileBytes, readJsonFile } from "egru/node";
import { writeFileAtomic } from "../node/atomic-file.js";
import type { TrainConfig } from "../train/config.js";
import {
  checkStateAgainstRun,
  checkStateFile,
  type ResumeShape,
  type StateFields,
  stateDigest,
} from "./checkpoint-state.js";
import type { DeadLayerState, DeadLayerWatch } from "../train/dead-layers.js";
import type { LmPosition, LmSums } from "../train/lm-trainer.js";
import type { EpochSums, TrainPosition } from "../train/trainer.js";

export const CHECKPOINT_FORMAT = "egru-checkpoint-1";

/** The names of checkpoint directories inside a run directory (a name from checkpoint.json must be one). */
export const CHECKPOINT_NAME = /^ckpt-\d{1,12}$/;

/** state.json of a checkpoint. */
export interface CheckpointState {
  format: typeof CHECKPOINT_FORMAT;
  config: TrainConfig;
  /** Classification: epoch, batch, step; language model: epoch, row, step. */
  position: TrainPosition | LmPosition;
  sums: EpochSums | LmSums;
  rng: RngState;
  optimizerStep: number;
  /** Wall-clock seconds of training so far (for the summary; not part of the numbers). */
  seconds: number;
  /** Digests of the two tensor files, and of this file's other fields (run/checkpoint-state.ts). */
  sha256: { model: string; optimizer: string; state?: string };
  /** The best validation result so far: its epoch and accuracy (classification) or perplexity (language model). */
  best?: { epoch: number; accuracy?: number; perplexity?: number; step?: number };
  /** Language model: the BPTT-length random state and the state carried into the next segment. */
  lm?: { bpttRng: RngState; hidden: number[][][] | null };
  /** The last epoch's figures: training loss and accuracy, and the validation evaluation. */
  lastEpoch?: Record<string, unknown>;
  /** The validation watch (best so far, plateau decays; egru's ValidationWatch); absent in older checkpoints. */
  watch?: WatchState;
  /** The dead-layer watch (train/dead-layers.ts): each layer's silent stretch and the warnings given; absent in older checkpoints. */
  deadLayers?: DeadLayerState;
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Save a checkpoint and make it the current one. */
export function saveCheckpoint(
  runDir: string,
  model: Record<string, Tensor>,
  optimizer: Record<string, Tensor>,
  state: Omit<CheckpointState, "format" | "sha256">,
): string {
  const name = `ckpt-${String(state.position.step).padStart(8, "0")}`;
  const dir = join(runDir, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const m = encodeSafetensors(model, { format: CHECKPOINT_FORMAT });
  const o = encodeSafetensors(optimizer, { format: CHECKPOINT_FORMAT });
  writeFileAtomic(join(dir, "model.safetensors"), m);
  writeFileAtomic(join(dir, "optimizer.safetensors"), o);
  const files = { model: sha(m), optimizer: sha(o) };
  const body = { format: CHECKPOINT_FORMAT as typeof CHECKPOINT_FORMAT, ...state, sha256: files };
  const full: CheckpointState = { ...body, sha256: { ...files, state: stateDigest(body) } };
  writeFileAtomic(join(dir, "state.json"), `${JSON.stringify(full, null, 1)}\n`);
  writeFileAtomic(join(runDir, "checkpoint.json"), `${JSON.stringify({ current: name, step: state.position.step })}\n`);
  for (const d of readdirSync(runDir))
    if (d.startsWith("ckpt-") && d !== name) rmSync(join(runDir, d), { recursive: true, force: true });
  return dir;
}

export interface LoadedCheckpoint {
  dir: string;
  state: CheckpointState;
  model: Record<string, Tensor>;
  optimizer: Record<string, Tensor>;
}

/** The current checkpoint directory of a run directory, or `path` itself when it is a checkpoint directory. */
export function checkpointDir(path: string): string {
  if (entryExists(join(path, "state.json"))) return path;
  const pointer = join(path, "checkpoint.json");
  if (!entryExists(pointer))
    throw new StateError(
      path,
      "a run directory with a checkpoint (checkpoint.json) or a checkpoint directory",
      "neither",
    );
  const current = (readJsonFile(pointer, "JSON naming the current checkpoint") as { current?: unknown } | null)
    ?.current;
  if (typeof current !== "string" || !CHECKPOINT_NAME.test(current))
    throw new ValueError(
      `${pointer}: current`,
      "a checkpoint directory name of this run (ckpt-NNNNNNNN)",
      JSON.stringify(current),
    );
  if (!entryExists(join(path, current)))
    throw new ValueError(
      `${pointer}: current`,
      "a checkpoint directory of this run",
      `"${current}", which is not there`,
    );
  return join(path, current);
}

/**
 * Load and verify a checkpoint (from a run directory or a checkpoint directory). `forResume` (the
 * default) requires the state's digest; reading weights only (eval) accepts an earlier egru's
 * checkpoint without one (its tensor files are still checked against their sha256).
 */
export function loadCheckpoint(path: string, forResume = true): LoadedCheckpoint {
  const dir = checkpointDir(path);
  const statePath = join(dir, "state.json");
  const raw = readJsonFile(statePath, "the checkpoint's state");
  const format = (raw as { format?: unknown } | null)?.format;
  if (format !== CHECKPOINT_FORMAT)
    throw new ValueError(`${statePath}: format`, JSON.stringify(CHECKPOINT_FORMAT), JSON.stringify(format));
  const state = checkStateFile(raw, statePath, forResume) as CheckpointState;
  const read = (file: string, want: string): Record<string, Tensor> => {
    const p = join(dir, file);
    const bytes = readFileBytes(p, "a file of the checkpoint");
    if (sha(bytes) !== want)
      throw new ValueError(
        `${p}: sha256`,
        `${want} (recorded in state.json)`,
        `${sha(bytes)} (the file was changed or is damaged)`,
      );
    return decodeSafetensors(bytes, p).tensors;
  };
  return {
    dir,
    state,
    model: read("model.safetensors", state.sha256.model),
    optimizer: read("optimizer.safetensors", state.sha256.optimizer),
  };
}

/** What every trainer keeps that a checkpoint saves and restores. */
export interface CheckpointedTrainer {
  model: ParamOwner & { rng: Rng; params(): Param[]; weightsChanged?(): void };
  optimizer: Optimizer;
  position: TrainPosition | LmPosition;
  sums: EpochSums | LmSums;
  watch: ValidationWatch;
  deadLayers: DeadLayerWatch;
  /** What a resumed position and carried state must fit. */
  resumeShape(): ResumeShape;
}

/** The optional fields a kind of task adds to state.json. */
export type KindState = Pick<CheckpointState, "best" | "lm" | "lastEpoch">;

/** Save the trainer's weights, optimizer moments, random state, position, epoch sums and watches (plus the kind's state). */
export function saveTrainer(
  runDir: string,
  t: CheckpointedTrainer,
  o: { config: TrainConfig; seconds: number; kind: KindState },
): string {
  const buffers = t.optimizer.state().buffers;
  const optimizer: Record<string, Tensor> = {};
  for (const [k, b] of Object.entries(buffers)) optimizer[k] = { shape: [b.length], data: b };
  return saveCheckpoint(runDir, paramTensors(t.model), optimizer, {
    config: o.config,
    position: t.position,
    sums: t.sums,
    rng: t.model.rng.getState(),
    optimizerStep: t.optimizer.steps,
    watch: t.watch.state,
    deadLayers: t.deadLayers.state,
    seconds: o.seconds,
    ...o.kind,
  });
}

/** Put a trainer back where its checkpoint was: weights, optimizer moments, random state, data position, epoch sums, watches. */
export function restoreTrainer(t: CheckpointedTrainer, ck: LoadedCheckpoint): void {
  checkStateAgainstRun(ck.state as StateFields, join(ck.dir, "state.json"), t.resumeShape());
  loadParamTensors(t.model, ck.model, join(ck.dir, "model.safetensors"));
  t.model.weightsChanged?.();
  const buffers: Record<string, Float32Array> = {};
  for (const [k, x] of Object.entries(ck.optimizer)) buffers[k] = x.data;
  const state: OptimizerState = { step: ck.state.optimizerStep, buffers };
  t.optimizer.loadState(state, t.model.params());
  t.model.rng.setState(ck.state.rng);
  t.position = { ...ck.state.position };
  t.sums = { ...ck.state.sums };
  if (ck.state.watch) t.watch.setState(ck.state.watch);
  if (ck.state.deadLayers) t.deadLayers.setState(ck.state.deadLayers);
}
