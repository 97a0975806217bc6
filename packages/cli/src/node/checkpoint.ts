// Checkpoints of a training run (Node only). A checkpoint is a directory ckpt-<step>/ in the run
// directory holding model.safetensors (the parameters by name), optimizer.safetensors (its moment
// buffers) and state.json (position in the data, optimizer step, random state, epoch sums, the
// config, and the sha256 of both tensor files). It becomes the current one only when
// checkpoint.json — replaced atomically (temporary file, fsync, rename, fsync of the directory) —
// names it; older checkpoint directories are removed after that. A crash at any moment leaves the
// previous checkpoint intact and current.

import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { decodeSafetensors, encodeSafetensors, StateError, type Tensor, ValueError } from "egru";
import type { RngState } from "egru";
import type { LmPosition, LmSums } from "../train/lm-trainer.js";
import type { EpochSums, TrainPosition } from "../train/trainer.js";
import type { TrainConfig } from "../train/config.js";

export const CHECKPOINT_FORMAT = "egru-checkpoint-1";

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
  sha256: { model: string; optimizer: string };
  /** The best validation result so far: its epoch and accuracy (classification) or perplexity (language model). */
  best?: { epoch: number; accuracy?: number; perplexity?: number; step?: number };
  /** Language model: the BPTT-length random state and the state carried into the next segment. */
  lm?: { bpttRng: RngState; hidden: number[][][] | null };
  /** The last epoch's figures: training loss and accuracy, and the validation evaluation. */
  lastEpoch?: Record<string, unknown>;
}

/** Write bytes to path atomically: a temporary file beside it, fsync, rename, fsync of the directory. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    const b = typeof bytes === "string" ? Buffer.from(bytes, "utf8") : bytes;
    let off = 0;
    while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncPath(dirname(path));
}

/** fsync a file or directory (some file systems refuse directories; a rename is atomic anyway). */
export function fsyncPath(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // some file systems do not let a directory be opened or synced; the rename is still atomic
  }
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
  const full: CheckpointState = { format: CHECKPOINT_FORMAT, ...state, sha256: { model: sha(m), optimizer: sha(o) } };
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
  if (existsSync(join(path, "state.json"))) return path;
  const pointer = join(path, "checkpoint.json");
  if (!existsSync(pointer))
    throw new StateError(
      path,
      "a run directory with a checkpoint (checkpoint.json) or a checkpoint directory",
      "neither",
    );
  let current: unknown;
  try {
    current = (JSON.parse(readFileSync(pointer, "utf8")) as { current?: unknown }).current;
  } catch (e) {
    throw new ValueError(pointer, "JSON naming the current checkpoint", `unparsable (${(e as Error).message})`);
  }
  if (typeof current !== "string" || basename(current) !== current)
    throw new ValueError(`${pointer}: current`, "a checkpoint directory name", JSON.stringify(current));
  return join(path, current);
}

/** Load and verify a checkpoint (from a run directory or a checkpoint directory). */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const dir = checkpointDir(path);
  const statePath = join(dir, "state.json");
  let state: CheckpointState;
  try {
    state = JSON.parse(readFileSync(statePath, "utf8")) as CheckpointState;
  } catch (e) {
    throw new ValueError(statePath, "the checkpoint's JSON state", `unreadable (${(e as Error).message})`);
  }
  if (state.format !== CHECKPOINT_FORMAT)
    throw new ValueError(`${statePath}: format`, JSON.stringify(CHECKPOINT_FORMAT), JSON.stringify(state.format));
  const read = (file: string, want: string): Record<string, Tensor> => {
    const p = join(dir, file);
    if (!existsSync(p)) throw new ValueError(p, "a file of the checkpoint", "missing");
    const bytes = readFileSync(p);
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
