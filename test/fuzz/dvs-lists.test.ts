// Fuzz: DVS Gesture's labels CSV and split list damaged at random; and the regression it found: a
// time of 2^53 µs or more in a labels CSV was read rounded (23 nines became 1e23), now it is refused
// naming the file and line.

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseGestureLabels } from "../../packages/cli/src/data/dvs-gesture.js";
import { GESTURE_LISTS } from "./format-text.js";
import { checkFormat } from "./property.js";

test("damaged labels CSVs and split lists give labels and trials, or typed errors naming the file", () => {
  checkFormat(GESTURE_LISTS, 100);
});

test("a labels CSV time a double cannot hold exactly is refused with its line", () => {
  const csv = (end: string) => `class,startTime_usec,endTime_usec\n1,80048239,${end}\n`;
  assert.equal(parseGestureLabels(csv(String(2 ** 53 - 1)), "l.csv")[0].end, 2 ** 53 - 1);
  assert.throws(
    () => parseGestureLabels(csv("8504823999999999999999999"), "l.csv"),
    /^ValueError: l\.csv: line 2: expected times below 2\^53 µs, got "1,80048239,8504823999999999999999999"$/,
  );
});
