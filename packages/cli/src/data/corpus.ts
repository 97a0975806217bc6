// Word-level language-modelling corpora (Penn Treebank, WikiText-2) as the paper's code reads
// them (PyTorch's word_language_model): every line — empty ones included — is split on ' ' (U+0020)
// only, empty strings are dropped, and one "<eos>" is appended; the vocabulary is built from the
// training split in order of first occurrence, and the other splits must use no other word.
// (Splitting on /\s+/ would also split WikiText-2's U+FEFF characters and give wrong counts.)

import { ValueError } from "egru";

export const EOS = "<eos>";

/** Word ↔ id, in order of first occurrence. */
export class Vocabulary {
  readonly words: string[] = [];
  private readonly ids = new Map<string, number>();

  get size(): number {
    return this.words.length;
  }

  /** The id of `word`, adding it when absent. */
  add(word: string): number {
    let id = this.ids.get(word);
    if (id === undefined) {
      id = this.words.length;
      this.ids.set(word, id);
      this.words.push(word);
    }
    return id;
  }

  id(word: string): number | undefined {
    return this.ids.get(word);
  }
}

/** The words of a corpus text, line by line, each line followed by <eos>. */
export function corpusWords(text: string): string[] {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop(); // the file's final newline
  const out: string[] = [];
  for (const raw of lines) {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw; // CRLF line ends: the CR is not a word
    for (const w of line.split(" ")) if (w !== "") out.push(w);
    out.push(EOS);
  }
  return out;
}

/**
 * Token ids of a split. With `grow` (the training split) new words enter the vocabulary; without,
 * a word outside it is an error naming the split (`name`) and the word's position.
 */
export function tokenize(text: string, vocab: Vocabulary, grow: boolean, name: string): Int32Array {
  const words = corpusWords(text);
  const ids = new Int32Array(words.length);
  for (let i = 0; i < words.length; i++) {
    const id = grow ? vocab.add(words[i]) : vocab.id(words[i]);
    if (id === undefined)
      throw new ValueError(`${name}: token ${i}`, "a word of the training vocabulary", JSON.stringify(words[i]));
    ids[i] = id;
  }
  return ids;
}

export interface Corpus {
  vocab: Vocabulary;
  train: Int32Array;
  valid: Int32Array;
  test: Int32Array;
}

/** A corpus from the texts of its three splits (`names` label them in errors, e.g. file paths). */
export function buildCorpus(
  texts: { train: string; valid: string; test: string },
  names = { train: "train", valid: "valid", test: "test" },
): Corpus {
  const vocab = new Vocabulary();
  const c: Corpus = {
    vocab,
    train: tokenize(texts.train, vocab, true, names.train),
    valid: tokenize(texts.valid, vocab, false, names.valid),
    test: tokenize(texts.test, vocab, false, names.test),
  };
  for (const split of ["train", "valid", "test"] as const)
    if (c[split].length < 2) throw new ValueError(names[split], `a ${split} split with words`, "an empty file");
  return c;
}
