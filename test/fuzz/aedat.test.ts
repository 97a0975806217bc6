// Fuzz: an AEDAT 3.1 recording damaged at random (packet header fields set to hostile sizes and
// counts among the damage), read as a DVS Gesture trial is read, and in chunks of every size: the
// same events or the same error naming the file and byte offset, never a crash or a huge allocation.

import { test } from "node:test";
import { AEDAT } from "./format-aedat.js";
import { checkFormat } from "./property.js";

test("damaged AEDAT recordings give events or typed errors naming the file, alike in any chunking", () => {
  checkFormat(AEDAT, 100);
});
