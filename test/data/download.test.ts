// Dataset downloads against a local HTTP server (127.0.0.1, never the internet) serving text made
// here: a fresh download verified and renamed, a second run touching nothing, resuming a .part with
// a Range request (206), a server that ignores the range (200), a connection cut midway (the .part
// kept, a rerun resumes), a stalled response, a corrupted body and a short server file (removed,
// both sha256 named), a bad existing file moved aside, 404, and the `egru data download` command.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { gunzipSync } from "node:zlib";
import { Command, CommanderError } from "commander";
import { dataDownloadCommand, registerDataCommand, type DataDownloadContext } from "../../packages/cli/src/cli/data.js";
import {
  DATASETS,
  defaultCacheDir,
  DownloadError,
  downloadDataset,
  type DatasetSource,
  type DownloadOptions,
} from "../../packages/cli/src/node/download.js";
import { SHARED_DATA } from "../helpers.js";

// ---- fixture text and the dataset table that describes it ----

/** `lines` lines of words from a seeded LCG, as bytes (a few KB). */
function text(seed: number, lines: number): Buffer {
  const words = ["the", "of", "market", "<unk>", "N", "shares", "said", "a", "company", "year"];
  let s = seed >>> 0;
  const next = (): number => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  const out: string[] = [];
  for (let l = 0; l < lines; l++)
    out.push(` ${Array.from({ length: 3 + (next() % 12) }, () => words[next() % words.length]).join(" ")} \n`);
  return Buffer.from(out.join(""), "utf8");
}

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const BODIES: Record<string, Buffer> = {
  "tiny.train.txt": text(1, 120),
  "tiny.valid.txt": text(2, 40),
  "tiny.test.txt": text(3, 50),
};
const SOURCES: Record<string, DatasetSource> = {
  tiny: {
    license: "made by the test",
    files: Object.entries(BODIES).map(([name, b]) => ({
      name,
      url: `http://127.0.0.1:9/never/${name}`,
      sha256: sha(b),
      bytes: b.length,
    })),
  },
};
const TRAIN = "tiny.train.txt";
const trainBody = BODIES[TRAIN];

// ---- a small HTTP server with Range support and switchable misbehaviour ----

type Mode = "normal" | "ignore-range" | "cut" | "stall" | "corrupt" | "missing" | "short";

interface Server {
  base: string;
  /** Every request: path and Range header. */
  requests: { path: string; range: string | undefined }[];
  /** Misbehave this way for TRAIN only (other files are served normally); "cut" and "stall" act once. */
  mode: Mode;
  /** Files by URL path, e.g. "/tiny/tiny.train.txt". */
  files: Map<string, Buffer>;
  /** "cut": what to wait for between sending half the body and cutting the connection. */
  beforeCut: () => Promise<void>;
}

const servers: { close: () => void }[] = [];
after(() => servers.forEach((s) => s.close()));

async function startServer(files: Map<string, Buffer>): Promise<Server> {
  const state: Server = { base: "", requests: [], mode: "normal", files, beforeCut: async () => {} };
  const http = createServer((req, res) => serve(state, req, res));
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  state.base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  servers.push({
    close: () => {
      http.closeAllConnections();
      http.close();
    },
  });
  return state;
}

function serve(state: Server, req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? "";
  const range = req.headers.range;
  state.requests.push({ path, range });
  const mode = path.endsWith(`/${TRAIN}`) ? state.mode : "normal";
  let body = state.files.get(path);
  if (!body || mode === "missing") {
    res.writeHead(404).end("not found");
    return;
  }
  if (mode === "corrupt") body = Buffer.from(body.map((b, i) => (i === 100 ? b ^ 1 : b)));
  if (mode === "short") body = body.subarray(0, 500);
  const from = mode === "ignore-range" ? 0 : Number(/^bytes=(\d+)-$/.exec(range ?? "")?.[1] ?? 0);
  if (from >= body.length && from > 0) {
    res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
    return;
  }
  const rest = body.subarray(from);
  const headers = { "content-length": String(rest.length), "content-type": "text/plain" };
  if (from > 0) res.writeHead(206, { ...headers, "content-range": `bytes ${from}-${body.length - 1}/${body.length}` });
  else res.writeHead(200, headers);
  if (mode === "cut" || mode === "stall") {
    state.mode = "normal";
    // half the body, then the connection dies ("cut") or goes silent ("stall")
    res.write(rest.subarray(0, rest.length >> 1), () => {
      if (mode === "cut") void state.beforeCut().then(() => res.socket?.destroy());
    });
    return;
  }
  res.end(rest);
}

// ---- helpers ----

function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), "egru-download-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function tinyServer(): Promise<Server> {
  return startServer(new Map(Object.entries(BODIES).map(([n, b]) => [`/tiny/${n}`, b])));
}

/** A server in `mode`, and a cache whose TRAIN .part holds the first `n` bytes of the file. */
async function withPart(mode: Mode, n: number): Promise<{ server: Server; cache: string }> {
  const server = await tinyServer();
  server.mode = mode;
  const cache = tmp();
  mkdirSync(join(cache, "tiny"));
  writeFileSync(join(cache, "tiny", `${TRAIN}.part`), trainBody.subarray(0, n));
  return { server, cache };
}

function download(server: Server, cacheDir: string, extra: Partial<DownloadOptions> = {}) {
  const lines: string[] = [];
  const run = downloadDataset("tiny", {
    cacheDir,
    baseUrl: server.base,
    sources: SOURCES,
    log: (l) => lines.push(l),
    ...extra,
  });
  return { run, lines };
}

function assertComplete(cacheDir: string): void {
  const dir = join(cacheDir, "tiny");
  for (const [name, body] of Object.entries(BODIES)) assert.deepEqual(readFileSync(join(dir, name)), body, name);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith(".part")),
    [],
    "no .part left",
  );
}

// ---- downloadDataset ----

test("defaultCacheDir: $EGRU_CACHE, else $XDG_CACHE_HOME/egru, else ~/.cache/egru", () => {
  assert.equal(defaultCacheDir({ EGRU_CACHE: "/c", XDG_CACHE_HOME: "/x" }), "/c");
  assert.equal(defaultCacheDir({ XDG_CACHE_HOME: "/x" }), join("/x", "egru"));
  assert.equal(defaultCacheDir({}), join(homedir(), ".cache", "egru"));
});

test("the known datasets are saved under the names the corpus loader reads", () => {
  assert.deepEqual(
    DATASETS.ptb.files.map((f) => f.name),
    ["ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"],
  );
  assert.deepEqual(
    DATASETS["wikitext-2"].files.map((f) => f.name),
    ["wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"],
  );
  for (const f of [...DATASETS.ptb.files, ...DATASETS["wikitext-2"].files]) assert.match(f.sha256, /^[0-9a-f]{64}$/);
});

test("a symbolic link planted at a .part is removed, never written through: the file it points to is unchanged", async () => {
  const server = await tinyServer();
  const cache = tmp();
  mkdirSync(join(cache, "tiny"));
  const outside = join(tmp(), "victim.txt");
  writeFileSync(outside, "nine byte");
  symlinkSync(outside, join(cache, "tiny", `${TRAIN}.part`));
  const d = download(server, cache);
  await d.run;
  assertComplete(cache);
  assert.equal(readFileSync(outside, "utf8"), "nine byte", "the link's target is untouched");
  assert.match(d.lines.join("\n"), /tiny\.train\.txt\.part is a symbolic link; removed it and starting over/);
});

test("a fresh download is verified and renamed into place; a second run finds it present without a request", async () => {
  const server = await tinyServer();
  const cache = tmp();
  const progress: number[] = [];
  const first = await download(server, cache, { onProgress: (p) => p.file === TRAIN && progress.push(p.done) }).run;
  assert.equal(first.dir, join(cache, "tiny"));
  assert.deepEqual(
    first.files,
    Object.entries(BODIES).map(([name, b]) => ({ name, status: "downloaded", bytes: b.length })),
  );
  assertComplete(cache);
  assert.deepEqual(
    server.requests.map((r) => r.range),
    [undefined, undefined, undefined],
  );
  assert.equal(progress.at(-1), trainBody.length);
  const n = server.requests.length;
  const again = download(server, cache);
  const second = await again.run;
  assert.deepEqual(
    second.files.map((f) => f.status),
    ["present", "present", "present"],
  );
  assert.equal(server.requests.length, n, "no request for files already present");
  assert.match(again.lines.join("\n"), /tiny\.train\.txt: already present/);
});

test("a .part is resumed with a Range request and completed", async () => {
  const n = 1234;
  const { server, cache } = await withPart("normal", n);
  const r = await download(server, cache).run;
  assert.equal(r.files[0].status, "resumed");
  assert.deepEqual(server.requests[0], { path: `/tiny/${TRAIN}`, range: `bytes=${n}-` });
  assertComplete(cache);
});

test("a server that ignores the Range header (200) makes the download start over", async () => {
  const { server, cache } = await withPart("ignore-range", 999);
  const d = download(server, cache);
  const r = await d.run;
  assert.equal(server.requests[0].range, "bytes=999-");
  assert.equal(r.files[0].status, "downloaded");
  assert.match(d.lines.join("\n"), /ignored the range request; starting over/);
  assertComplete(cache);
});

test("a connection cut midway keeps the .part and says a rerun resumes; the rerun completes", async () => {
  const server = await tinyServer();
  server.mode = "cut";
  const cache = tmp();
  const part = join(cache, "tiny", `${TRAIN}.part`);
  const half = trainBody.length >> 1;
  // cut only once the client has written the half it got (a reset can otherwise overtake the data)
  server.beforeCut = async () => {
    while (!(existsSync(part) && statSync(part).size >= half)) await new Promise((r) => setTimeout(r, 5));
  };
  await assert.rejects(download(server, cache).run, (e: Error) => {
    assert.ok(e instanceof DownloadError);
    assert.match(e.message, new RegExp(`${server.base}/tiny/${TRAIN}`.replace(/[./]/g, "\\$&")));
    assert.match(e.message, /rerun the same command to resume/);
    return true;
  });
  assert.ok(existsSync(part), ".part kept");
  assert.ok(!existsSync(join(cache, "tiny", TRAIN)), "no final file");
  const kept = readFileSync(part);
  assert.equal(kept.length, half);
  assert.deepEqual(kept, trainBody.subarray(0, kept.length), "the .part holds the start of the file");
  const r = await download(server, cache).run;
  assert.equal(r.files[0].status, "resumed");
  assert.equal(server.requests.at(-3)?.range, `bytes=${kept.length}-`);
  assertComplete(cache);
});

test("a response that stalls is aborted after stallMs, keeping the .part for a resume", async () => {
  const server = await tinyServer();
  server.mode = "stall";
  const cache = tmp();
  await assert.rejects(
    download(server, cache, { stallMs: 1000 }).run,
    /no data for 1 s.*rerun the same command to resume/,
  );
  assert.ok(existsSync(join(cache, "tiny", `${TRAIN}.part`)));
  await download(server, cache).run;
  assertComplete(cache);
});

test("a corrupted body fails naming the expected and the received sha256; no final file, no .part", async () => {
  const server = await tinyServer();
  server.mode = "corrupt";
  const cache = tmp();
  const bad = Buffer.from(trainBody.map((b, i) => (i === 100 ? b ^ 1 : b)));
  await assert.rejects(download(server, cache).run, (e: Error) => {
    assert.ok(e instanceof DownloadError);
    assert.match(
      e.message,
      new RegExp(`expected sha256 ${sha(trainBody)} \\(${trainBody.length.toLocaleString("en-US")} bytes\\)`),
    );
    assert.match(e.message, new RegExp(`got sha256 ${sha(bad)}`));
    assert.match(e.message, new RegExp(`^${TRAIN} from ${server.base}/tiny/${TRAIN}`.replace(/[.]/g, "\\.")));
    return true;
  });
  assert.deepEqual(readdirSync(join(cache, "tiny")), []);
});

test("a 416 for a .part longer than the server's file verifies the part, which fails and is removed", async () => {
  const { server, cache } = await withPart("short", 600);
  await assert.rejects(
    download(server, cache).run,
    /is not the expected file: expected sha256 .* got sha256 .*\(600 bytes\)/,
  );
  assert.equal(server.requests[0].range, "bytes=600-");
  assert.deepEqual(readdirSync(join(cache, "tiny")), []);
});

test("an existing file with the wrong content is moved aside (kept) and downloaded again", async () => {
  const server = await tinyServer();
  const cache = tmp();
  mkdirSync(join(cache, "tiny"));
  writeFileSync(join(cache, "tiny", TRAIN), "my own notes\n");
  const d = download(server, cache);
  const r = await d.run;
  assert.equal(r.files[0].status, "downloaded");
  const aside = readdirSync(join(cache, "tiny")).filter((f) => f.startsWith(`${TRAIN}.bad-`));
  assert.equal(aside.length, 1);
  assert.equal(readFileSync(join(cache, "tiny", aside[0]), "utf8"), "my own notes\n");
  assert.match(d.lines.join("\n"), new RegExp(`does not match its sha256 .*moved it to .*${aside[0]}`));
  assertComplete(cache);
});

test("HTTP 404 fails naming the status and the URL, leaving no .part", async () => {
  const server = await tinyServer();
  server.mode = "missing";
  const cache = tmp();
  await assert.rejects(download(server, cache).run, (e: Error) => {
    assert.ok(e instanceof DownloadError);
    assert.equal(e.message, `${server.base}/tiny/${TRAIN}: HTTP 404 Not Found (downloading ${TRAIN})`);
    return true;
  });
  assert.deepEqual(readdirSync(join(cache, "tiny")), []);
});

// ---- the command ----

/** Run the command with its stdout and stderr collected. */
async function captured(
  run: (ctx: DataDownloadContext) => Promise<unknown>,
  ctx: DataDownloadContext = {},
): Promise<{ value: unknown; out: string; err: string }> {
  let out = "";
  let err = "";
  const value = await run({ ...ctx, stdout: { write: (s) => (out += s) }, stderr: { write: (s) => (err += s) } });
  return { value, out, err };
}

test("dataDownloadCommand: exit 0 with the directory and the train hint, 1 on failure, 2 for an unknown dataset", async () => {
  const server = await tinyServer();
  const cache = tmp();
  const ok = await captured((ctx) => dataDownloadCommand("tiny", { cacheDir: cache, baseUrl: server.base }, ctx), {
    sources: SOURCES,
  });
  assert.equal(ok.value, 0, ok.err);
  assertComplete(cache);
  assert.match(ok.out, new RegExp(`Train on it: egru train --task tiny --data ${join(cache, "tiny")}\n`));
  assert.match(ok.err, /tiny\.test\.txt: downloaded/);

  // the environment gives the cache and the mirror; --json prints one line
  const envCache = tmp();
  const env = { EGRU_CACHE: envCache, EGRU_DATA_BASE_URL: server.base };
  const js = await captured((ctx) => dataDownloadCommand("tiny", { json: true, quiet: true }, ctx), {
    sources: SOURCES,
    env,
  });
  assert.equal(js.value, 0, js.err);
  assert.equal(js.err, "");
  const line = JSON.parse(js.out) as { dataset: string; dir: string; files: { status: string }[] };
  assert.equal(line.dataset, "tiny");
  assert.equal(line.dir, join(envCache, "tiny"));
  assert.deepEqual(
    line.files.map((f) => f.status),
    ["downloaded", "downloaded", "downloaded"],
  );

  server.mode = "corrupt";
  const failed = await captured(
    (ctx) => dataDownloadCommand("tiny", { cacheDir: tmp(), baseUrl: server.base, quiet: true }, ctx),
    { sources: SOURCES },
  );
  assert.equal(failed.value, 1);
  assert.match(
    failed.err,
    /^egru: tiny\.train\.txt from .* is not the expected file: expected sha256 [0-9a-f]{64} .*\n$/,
  );

  const bad = await captured((ctx) => dataDownloadCommand("imagenet", { cacheDir: cache }, ctx));
  assert.equal(bad.value, 2);
  assert.match(bad.err, /^egru: unknown dataset "imagenet": expected ptb or wikitext-2\n/);
});

// The real table checked against the verified copies in ../shared/data (when present), served locally.
const shared = SHARED_DATA;
const sharedFiles = [
  ...DATASETS.ptb.files.map((f) => ["ptb", f.name] as const),
  ...DATASETS["wikitext-2"].files.map((f) => ["wikitext-2", f.name] as const),
];
const haveShared = sharedFiles.every(([d, n]) => existsSync(join(shared, d, `${n}.gz`)));

test("egru data download ptb|wikitext-2 fetches exactly the files of ../shared/data (size and sha256 of the table)", {
  skip: haveShared ? false : `${shared} is absent`,
}, async () => {
  const server = await startServer(
    new Map(sharedFiles.map(([d, n]) => [`/${d}/${n}`, gunzipSync(readFileSync(join(shared, d, `${n}.gz`)))])),
  );
  const cache = tmp();
  const program = new Command("egru").exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  let code = -1;
  let out = "";
  registerDataCommand(program, (c) => (code = c), { stdout: { write: (s) => (out += s) } });
  await program.parseAsync(["data", "download", "ptb", "--cache-dir", cache, "--base-url", server.base, "--quiet"], {
    from: "user",
  });
  assert.equal(code, 0);
  assert.match(out, /License: Penn Treebank .*research use only/);
  const wiki = await captured((ctx) =>
    dataDownloadCommand("wikitext-2", { cacheDir: cache, baseUrl: server.base, quiet: true, json: true }, ctx),
  );
  assert.equal(wiki.value, 0, wiki.err);
  for (const [d, n] of sharedFiles) assert.ok(existsSync(join(cache, d, n)), `${d}/${n}`);
  await assert.rejects(
    program.parseAsync(["data", "download", "bogus"], { from: "user" }),
    (e: CommanderError) => e.code === "commander.invalidArgument",
  );
});
