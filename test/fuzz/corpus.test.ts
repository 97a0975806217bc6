// Fuzz: a PTB-style corpus (raw and gzip splits) damaged at random, read as egru train --task ptb
// reads its --data directory: a corpus whose ids all lie in its vocabulary, or a typed error naming
// the split file (a word missing from the training split is named in the split that uses it).

import { test } from "node:test";
import { CORPUS } from "./format-text.js";
import { checkFormat } from "./property.js";

test("damaged corpus splits give a corpus or typed errors naming the file", () => {
  checkFormat(CORPUS, 100);
});
