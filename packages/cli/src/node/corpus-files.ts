// Reading a word-level corpus from a directory (Node only): PTB's ptb.{train,valid,test}.txt or
// WikiText-2's wiki.{train,valid,test}.tokens, plain or gzip-compressed (.gz). Errors name the file.

import { ValueError } from "egru";
import { decodeUtf8 } from "egru/node";
import { buildCorpus, type Corpus } from "../data/corpus.js";
import { readDataFile } from "./data-files.js";

export type CorpusName = "ptb" | "wikitext-2";

const FILES: Record<CorpusName, (split: string) => string> = {
  ptb: (s) => `ptb.${s}.txt`,
  "wikitext-2": (s) => `wiki.${s}.tokens`,
};

function readText(dir: string, file: string): { text: string; path: string } {
  const f = readDataFile(dir, file);
  return { text: decodeUtf8(f.bytes, f.path), path: f.path }; // invalid UTF-8: an error with its byte offset
}

/** Load a corpus's three splits from `dir`. */
export function loadCorpus(name: CorpusName, dir: string): Corpus {
  const files = FILES[name];
  if (!files) throw new ValueError("corpus", '"ptb" or "wikitext-2"', JSON.stringify(name));
  const t = readText(dir, files("train"));
  const v = readText(dir, files("valid"));
  const s = readText(dir, files("test"));
  return buildCorpus({ train: t.text, valid: v.text, test: s.text }, { train: t.path, valid: v.path, test: s.path });
}
