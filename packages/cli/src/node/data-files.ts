// Reading a dataset file from a directory (Node only): the file itself, or its gzip-compressed
// copy `name.gz`. Errors name the file.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ValueError } from "egru";

/** The bytes of dir/name, or of dir/name.gz decompressed, and the path read. */
export function readDataFile(dir: string, name: string): { bytes: Uint8Array; path: string } {
  const raw = join(dir, name);
  if (existsSync(raw)) return { bytes: readFileSync(raw), path: raw };
  const gz = `${raw}.gz`;
  if (existsSync(gz)) {
    try {
      return { bytes: gunzipSync(readFileSync(gz)), path: gz };
    } catch (e) {
      throw new ValueError(gz, "a gzip file", `unreadable gzip (${(e as Error).message})`);
    }
  }
  throw new ValueError(`data file ${name}`, `${raw} or ${gz}`, "neither exists");
}
