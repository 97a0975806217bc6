// Files written so that a crash never leaves half of one (Node only): a temporary file beside the
// target, fsync, rename over it, fsync of the directory.

import { closeSync, fsyncSync, openSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";

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
