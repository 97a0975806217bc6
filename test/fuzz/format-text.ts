// Fuzz formats of text: a PTB-style word corpus read as egru train --task ptb reads its --data
// directory (loadCorpus: raw and gzip-compressed splits, UTF-8 checked, buildCorpus), and DVS
// Gesture's labels CSV and split list read as the DVS loader reads them (readFileText, then
// parseGestureLabels and parseTrialList). Byte edits insert the text these formats choke on.

import { gzipSync } from "node:zlib";
import { type GestureLabel, parseGestureLabels, parseTrialList } from "../../packages/cli/src/data/dvs-gesture.js";
import type { Corpus } from "../../packages/cli/src/data/corpus.js";
import { loadCorpus } from "../../packages/cli/src/node/corpus-files.js";
import { readFileText } from "../../packages/egru/src/node/read-file.js";
import type { FuzzFormat } from "./harness.js";

const text = (s: string): Uint8Array => Buffer.from(s, "utf8");

/** A split's ids are ids of the vocabulary; the vocabulary's words are distinct, without spaces or line ends. */
function corpusWrong(c: Corpus): string | null {
  for (const split of ["train", "valid", "test"] as const) {
    if (c[split].length < 2) return `${split}: ${c[split].length} tokens`;
    if (c[split].some((id) => id < 0 || id >= c.vocab.size)) return `${split}: an id outside the vocabulary`;
  }
  if (new Set(c.vocab.words).size !== c.vocab.size) return "a word twice in the vocabulary";
  const bad = c.vocab.words.find((w) => w === "" || /[ \n]/.test(w));
  return bad === undefined ? null : `the word ${JSON.stringify(bad)}`;
}

export const CORPUS: FuzzFormat<Corpus> = {
  name: "corpus",
  reads: 'loadCorpus("ptb", dir): readDataFile (raw or .gz), decodeUtf8, buildCorpus',
  instance: () => ({
    "ptb.train.txt": text(" the cat sat on the mat \n a dog sat <unk> \n\n the end \n"),
    "ptb.valid.txt": text(" the dog sat \n a cat \n"),
    "ptb.test.txt.gz": gzipSync(text(" the mat \n on the cat <unk> \n")),
  }),
  files: [{ path: "ptb.train.txt" }, { path: "ptb.valid.txt" }, { path: "ptb.test.txt.gz" }],
  tokens: [" ", "\n", "\r\n", "\r", "\u00a0", "\ufeff", "\u2028", "<eos>", "\u0000", "\u001b[31m", "zebra", "é"],
  read: (dir) => loadCorpus("ptb", dir),
  wrong: corpusWrong,
};

const LABELS = "user01_natural_labels.csv";
const LIST = "trials_to_train.txt";

interface GestureLists {
  labels: GestureLabel[];
  trials: string[];
}

/** Labels in 1…11 with start < end, whole numbers a double holds exactly; trial names as the dataset's. */
function listsWrong(r: GestureLists): string | null {
  for (const l of r.labels) {
    if (!Number.isInteger(l.cls) || l.cls < 1 || l.cls > 11) return `class ${l.cls}`;
    if (!Number.isSafeInteger(l.start) || !Number.isSafeInteger(l.end) || !(l.start < l.end))
      return `window ${l.start}…${l.end}`;
  }
  const bad = r.trials.find((t) => !/^user\d+_[a-z_]+\.aedat$/.test(t));
  return bad === undefined ? null : `trial ${JSON.stringify(bad)}`;
}

export const GESTURE_LISTS: FuzzFormat<GestureLists> = {
  name: "dvs labels and lists",
  reads: "parseGestureLabels and parseTrialList of readFileText(path)",
  instance: () => ({
    [LABELS]: text(
      "class,startTime_usec,endTime_usec\r\n1,80048239,85092709\r\n2,89431170,95231758\r\n8,95938760,103200529\r\n",
    ),
    [LIST]: text("user01_natural.aedat\nuser02_fluorescent_led.aedat\n\nuser03_lab.aedat\n"),
  }),
  files: [{ path: LABELS }, { path: LIST }],
  tokens: [",", "\n", "\r\n", "-1", "0", "12", "99999999999999999999999", "1e3", " ", "\ufeff", ".aedat", "../"],
  read: (dir) => {
    const labels = parseGestureLabels(readFileText(`${dir}/${LABELS}`, "labels"), `${dir}/${LABELS}`, 11);
    const trials = parseTrialList(readFileText(`${dir}/${LIST}`, "a split list"), `${dir}/${LIST}`);
    return { labels, trials };
  },
  wrong: listsWrong,
};
