// Word-level corpora: the tokenisation rules (split on ' ' only, <eos> per line, empty lines
// included, the final newline not a line), vocabulary order, unknown words named, and the exact
// token and vocabulary counts of PTB and WikiText-2 (from ../shared/data when it is present).

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ValueError } from "../../packages/egru/src/core/errors.js";
import { buildCorpus, corpusWords, EOS } from "../../packages/cli/src/data/corpus.js";
import { loadCorpus } from "../../packages/cli/src/node/corpus-files.js";
import { SHARED_DATA } from "../helpers.js";

test('unclean text: CRLF line ends give no "\\r" word; an empty split and invalid UTF-8 are errors naming the file', () => {
  assert.deepEqual(corpusWords(" a b \r\nc\r\n\r\n"), ["a", "b", EOS, "c", EOS, EOS]);
  assert.throws(
    () => buildCorpus({ train: "a b\n", valid: "", test: "a\n" }, { train: "t.txt", valid: "v.txt", test: "s.txt" }),
    /^ValueError: v\.txt: expected a valid split with words, got an empty file$/,
  );
  const dir = mkdtempSync(join(tmpdir(), "egru-corpus-"));
  writeFileSync(join(dir, "ptb.train.txt"), Buffer.from([0x61, 0x20, 0x62, 0x0a, 0x63, 0xc3, 0x28, 0x0a]));
  writeFileSync(join(dir, "ptb.valid.txt"), "a\n");
  writeFileSync(join(dir, "ptb.test.txt"), "a\n");
  assert.throws(() => loadCorpus("ptb", dir), /ptb\.train\.txt: expected UTF-8 text, got invalid UTF-8 at byte 5$/);
});

test("tokenisation: ' ' only, <eos> per line (empty lines too), no line after the final newline", () => {
  assert.deepEqual(corpusWords(" a b \n\n c\ufeffd  e\n"), ["a", "b", EOS, EOS, "c\ufeffd", "e", EOS]);
  assert.deepEqual(corpusWords("x"), ["x", EOS]);
  const c = buildCorpus({ train: "b a\na c\n", valid: "c b\n", test: "a\n" });
  assert.deepEqual(c.vocab.words, ["b", "a", EOS, "c"]);
  assert.deepEqual(Array.from(c.valid), [3, 0, 2]);
  assert.throws(
    () => buildCorpus({ train: "a\n", valid: "a z\n", test: "" }, { train: "t", valid: "v.txt", test: "s" }),
    (e: ValueError) => e.argument === "v.txt: token 1" && /"z"/.test(e.message),
  );
});

const data = SHARED_DATA;
for (const [name, dir, counts, vocab] of [
  ["ptb", `${data}/ptb`, [929_589, 73_760, 82_430], 10_000],
  ["wikitext-2", `${data}/wikitext-2`, [2_088_628, 217_646, 245_569], 33_278],
] as const) {
  test(`${name}: exact token and vocabulary counts`, {
    skip: existsSync(dir) ? false : `${dir} is absent (the datasets are not shipped)`,
  }, () => {
    const c = loadCorpus(name, dir);
    assert.deepEqual([c.train.length, c.valid.length, c.test.length], [...counts]);
    assert.equal(c.vocab.size, vocab);
  });
}
