// `egru data download ptb|wikitext-2` (and, from data-synth.ts, `egru data synth-dvs`): fetch a word-level corpus into the cache directory
// (verified, atomic, resumable; see src/node/download.ts), show progress on stderr, and print where
// the files are and the `egru train` line that uses them (or one JSON line with --json).

import { Argument, type Command } from "commander";
import {
  DATASETS,
  defaultCacheDir,
  downloadDataset,
  type DatasetSource,
  type DownloadProgress,
  type DownloadSummary,
} from "../node/download.js";
import { progressBar, type Progress } from "../run/progress.js";
import { EgruError } from "egru";
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, reportError } from "./run.js";
import { registerSynthDvs } from "./data-synth.js";

export interface DataDownloadFlags {
  /** Cache root (default: defaultCacheDir()). */
  cacheDir?: string;
  /** Mirror root (default: $EGRU_DATA_BASE_URL, else each file's public URL). */
  baseUrl?: string;
  quiet?: boolean;
  json?: boolean;
}

/** Where text goes: process.stdout / process.stderr, or a test's collector. */
export interface TextOut {
  write(s: string): unknown;
}

/** What the command reads and writes besides its flags; tests swap in their own. */
export interface DataDownloadContext {
  sources?: Readonly<Record<string, DatasetSource>>;
  env?: NodeJS.ProcessEnv;
  stdout?: TextOut;
  stderr?: TextOut;
}

/** Download dataset `name`; returns the exit code (0 ok, 1 download or verification failed, 2 unknown dataset). */
export async function dataDownloadCommand(
  name: string,
  opts: DataDownloadFlags,
  ctx: DataDownloadContext = {},
): Promise<number> {
  const sources: Readonly<Record<string, DatasetSource>> = ctx.sources ?? DATASETS;
  const env = ctx.env ?? process.env;
  const [stdout, stderr] = [ctx.stdout ?? process.stdout, ctx.stderr ?? process.stderr];
  if (!Object.hasOwn(sources, name)) {
    const names = Object.keys(sources).join(" or ");
    stderr.write(
      `egru: unknown dataset ${JSON.stringify(name)}: expected ${names}\nTry 'egru data download --help'.\n`,
    );
    return EXIT_USAGE;
  }
  const cacheDir = opts.cacheDir ?? defaultCacheDir(env);
  const baseUrl = opts.baseUrl ?? (env.EGRU_DATA_BASE_URL || undefined);
  // a bar only on a terminal (progress.ts draws it on process.stderr), and not under --json
  const bars = stderr === process.stderr && process.stderr.isTTY === true && !opts.json;
  const shown = fileProgress(opts.quiet === true, bars, stderr);
  let summary: DownloadSummary;
  try {
    summary = await downloadDataset(name, { cacheDir, baseUrl, sources, onProgress: shown.onProgress, log: shown.log });
  } catch (e) {
    shown.stop();
    // a failed download or check, or the file system refusing (no space, no permission): one line
    if (!(e instanceof EgruError || isSystemError(e))) return reportError(e);
    stderr.write(`egru: ${e.message}\n`);
    return EXIT_FAILED;
  }
  shown.stop();
  if (opts.json) {
    stdout.write(`${JSON.stringify({ type: "download", dataset: name, ...summary })}\n`);
  } else {
    const files = summary.files.map((f) => `${f.name} ${f.status}`).join(", ");
    stdout.write(
      `egru data download: ${name} in ${summary.dir} (${files})\n` +
        `License: ${sources[name].license}\n` +
        `Train on it: egru train --task ${name} --data ${shellQuote(summary.dir)}\n`,
    );
  }
  return EXIT_OK;
}

/** Add `data download <dataset>` to the program; the action hands its exit code to `setCode`. */
export function registerDataCommand(
  program: Command,
  setCode: (code: number) => void,
  ctx: DataDownloadContext = {},
): Command {
  const data = program
    .command("data")
    .description("Datasets for `egru train`: download the word-level corpora; write a synthetic DVS gesture set.")
    .exitOverride();
  data
    .command("download")
    .description(
      "Download a word-level corpus into <cache>/<dataset>/: each file's size and sha256 are verified before it is " +
        "renamed into place (atomic writes), an interrupted download resumes from its .part file when run again, and a " +
        "file that does not match is moved aside to <file>.bad-<time>, never deleted. PTB is for research use only " +
        '(LDC User Agreement); WikiText-2 is CC BY-SA 3.0 (Merity et al. 2016, "Pointer Sentinel Mixture Models").',
    )
    .addArgument(new Argument("<dataset>", "which corpus").choices(Object.keys(DATASETS)))
    .option(
      "--cache-dir <dir>",
      "cache root; files go into <dir>/<dataset>/ (default: $EGRU_CACHE, else $XDG_CACHE_HOME/egru, else ~/.cache/egru)",
    )
    .option(
      "--base-url <url>",
      "mirror to fetch from, as <url>/<dataset>/<file> (default: $EGRU_DATA_BASE_URL, else the public locations)",
    )
    .option("--json", "print one JSON line with the summary on stdout", false)
    .option("--quiet", "no progress output on stderr", false)
    .exitOverride()
    .action(async (dataset: string, opts: DataDownloadFlags) => setCode(await dataDownloadCommand(dataset, opts, ctx)));
  registerSynthDvs(data, setCode);
  return data;
}

interface Shown {
  onProgress: (p: DownloadProgress) => void;
  log: (line: string) => void;
  stop: () => void;
}

/** Progress on stderr: the downloader's lines, plus with `bars` a bar per file (KiB); nothing with `quiet`. */
function fileProgress(quiet: boolean, bars: boolean, stderr: TextOut): Shown {
  if (quiet) return { onProgress: () => {}, log: () => {}, stop: () => {} };
  let bar: { file: string; progress: Progress; t0: number; from: number } | undefined;
  const stop = (): void => {
    bar?.progress.stop();
    bar = undefined;
  };
  const onProgress = (p: DownloadProgress): void => {
    if (!bars) return;
    const kib = (n: number): number => Math.floor(n / 1024);
    if (bar?.file !== p.file) {
      stop();
      bar = {
        file: p.file,
        progress: progressBar(p.file, kib(p.total), ["speed"], { start: kib(p.done) }),
        t0: performance.now(),
        from: p.done,
      };
    }
    const seconds = (performance.now() - bar.t0) / 1000;
    const speed = seconds > 0 ? `${((p.done - bar.from) / 1e6 / seconds).toFixed(1)} MB/s` : "-";
    bar.progress.update(kib(p.done), { speed });
    if (p.done >= p.total) stop();
  };
  const log = (line: string): void => {
    if (bar) bar.progress.log(line);
    else stderr.write(`${line}\n`);
  };
  return { onProgress, log, stop };
}

/** An error from the operating system (no space, no permission, ...): its message is already clear. */
function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return (
    e instanceof Error &&
    typeof (e as NodeJS.ErrnoException).code === "string" &&
    typeof (e as NodeJS.ErrnoException).syscall === "string"
  );
}

/** `s` as one shell word (quoted only when it needs to be). */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;
}
