// Every format the fuzz suites and npm run fuzz damage, in one list (the order of the report).

import { AEDAT } from "./format-aedat.js";
import { CHECKPOINT } from "./format-checkpoint.js";
import { CONFIG } from "./format-config.js";
import { IDX } from "./format-idx.js";
import { SAFETENSORS, SEALED_SAFETENSORS } from "./format-safetensors.js";
import { CORPUS, GESTURE_LISTS } from "./format-text.js";
import type { FuzzFormat } from "./harness.js";

export const FORMATS: FuzzFormat[] = [
  IDX,
  SAFETENSORS,
  SEALED_SAFETENSORS,
  AEDAT,
  CORPUS,
  GESTURE_LISTS,
  CONFIG,
  CHECKPOINT,
] as FuzzFormat[];
