// Reading a dataset file from a directory (Node only): the file itself, or its gzip-compressed
// copy `name.gz`. Errors name the file (a link to nothing, or to itself, is read and named too).

import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ValueError } from "egru";
import { entryExists, readFileBytes } from "egru/node";

/** The bytes of dir/name, or of dir/name.gz decompressed, and the path read. */
export function readDataFile(dir: string, name: string): { bytes: Uint8Array; path: string } {
  const raw = join(dir, name);
  if (entryExists(raw)) return { bytes: readFileBytes(raw, `the dataset file ${name}`), path: raw };
  const gz = `${raw}.gz`;
  if (entryExists(gz)) {
    const packed = readFileBytes(gz, `the dataset file ${name}, gzip-compressed`);
    try {
      return { bytes: gunzipSync(packed), path: gz };
    } catch (e) {
      throw new ValueError(gz, "a gzip file", `unreadable gzip (${(e as Error).message})`);
    }
  }
  throw new ValueError(`data file ${name}`, `${raw} or ${gz}`, "neither exists");
}
