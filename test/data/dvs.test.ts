// DVS128 Gesture input: the AEDAT 3.1 reader byte by byte (bit layout, any chunking, special and
// spare-capacity packets, the valid mark, the timestamp overflow, LF or CRLF headers), every
// malformation named by file and byte offset, the labels CSV (the real one from ../shared when
// present), the split lists, samples per row or per class, and the synthetic set end to end.

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  AedatError,
  AedatReader,
  eventsFromRows,
  readAedat,
  type DvsEvents,
} from "../../packages/cli/src/data/aedat.js";
import { writeAedat } from "../../packages/cli/src/data/aedat-write.js";
import {
  gestureSamples,
  lowerBound,
  parseGestureLabels,
  parseTrialList,
} from "../../packages/cli/src/data/dvs-gesture.js";
import { synthTrial } from "../../packages/cli/src/data/synth-dvs.js";
import { loadGestureSplit, readAedatFile, writeSynthGestures } from "../../packages/cli/src/node/dvs-files.js";
import { runEgru, SHARED_DATA } from "../helpers.js";

const events = eventsFromRows;

const asList = (e: DvsEvents): number[][] =>
  Array.from({ length: e.count }, (_, i) => [e.t[i], e.x[i], e.y[i], e.p[i]]);
const HEADER = "#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n";

test("the bit layout: a hand-made packet decodes to x, y, polarity and the full time", () => {
  const head = new TextEncoder().encode(HEADER);
  const pkt = new DataView(new ArrayBuffer(28 + 16));
  pkt.setInt16(0, 1, true); // polarity
  pkt.setInt16(2, 1, true);
  pkt.setInt32(4, 8, true);
  pkt.setInt32(8, 4, true);
  pkt.setInt32(12, 1, true); // overflow: + 2^31 µs
  pkt.setInt32(16, 2, true);
  pkt.setInt32(20, 2, true);
  pkt.setInt32(24, 2, true);
  pkt.setUint32(28, ((127 << 17) | (5 << 2) | (1 << 1) | 1) >>> 0, true); // x 127, y 5, ON, valid
  pkt.setInt32(32, 123, true);
  pkt.setUint32(36, ((0 << 17) | (127 << 2) | (0 << 1) | 1) >>> 0, true); // x 0, y 127, OFF
  pkt.setInt32(40, 2 ** 31 - 1, true);
  const bytes = new Uint8Array(head.length + 44);
  bytes.set(head);
  bytes.set(new Uint8Array(pkt.buffer), head.length);
  const r = readAedat(bytes, "hand.aedat");
  assert.deepEqual(asList(r.events), [
    [2 ** 31 + 123, 127, 5, 1],
    [2 ** 32 - 1, 0, 127, 0],
  ]);
  assert.deepEqual(r.stats.header, ["!AER-DAT3.1", "Format: RAW", "!END-HEADER"]);
  // the writer produces the same bytes for the same events
  assert.deepEqual(Array.from(writeAedat(r.events).subarray(-44)), Array.from(bytes.subarray(-44)));
});

test("any chunking reads the same events; special packets, spare slots and invalid marks as libcaer", () => {
  const list: [number, number, number, number][] = [];
  for (let i = 0; i < 300; i++)
    list.push([1000 + i * 37 + (i > 200 ? 2 ** 31 : 0), (i * 13) % 128, (i * 7) % 128, i % 2]);
  const ev = events(list);
  const invalid = new Set([3, 150, 299]);
  const bytes = writeAedat(ev, {
    packetEvents: 64,
    spareSlots: 5,
    invalid,
    specialPacket: 3,
    lineEnd: "\n",
    header: ["Comment: test"],
  });
  const want = list.filter((_, i) => !invalid.has(i));
  for (const chunk of [1, 7, 28, 29, 4096, bytes.length]) {
    const r = new AedatReader("chunks.aedat");
    for (let i = 0; i < bytes.length; i += chunk) r.push(bytes.slice(i, i + chunk));
    const got = r.end();
    assert.deepEqual(asList(got), want, `chunk ${chunk}`);
    assert.equal(r.stats.invalid, 3);
    assert.equal(r.stats.skippedPackets, 1);
    assert.equal(r.stats.packetsWithInvalid, 3);
    assert.equal(r.stats.packets, 1 + 4 + 2, "one special, 201 events in 4 packets, 99 after the overflow in 2");
  }
  const all = readAedat(bytes, "all.aedat", { respectValidMark: false });
  assert.equal(all.events.count, 300);
  assert.equal(all.stats.invalid, 0);
});

/** The error of reading `bytes`, which must be an AedatError. */
function readError(bytes: Uint8Array): string {
  try {
    readAedat(bytes, "bad.aedat");
  } catch (e) {
    assert.ok(e instanceof AedatError, String(e));
    return e.message;
  }
  assert.fail("no error");
}

test("malformed recordings: each error names the file and the byte offset", () => {
  const ev = events([
    [10, 1, 2, 1],
    [20, 3, 4, 0],
    [30, 5, 6, 1],
  ]);
  const good = writeAedat(ev);
  const headerEnd = good.length - 28 - 24;
  const at = (b: Uint8Array, off: number, v: number, bits: 16 | 32 = 32): Uint8Array => {
    const c = b.slice();
    const d = new DataView(c.buffer);
    if (bits === 16) d.setInt16(off, v, true);
    else d.setInt32(off, v, true);
    return c;
  };
  const enc = new TextEncoder();
  assert.match(readError(enc.encode("#!AER-DAT2.0\r\n#!END-HEADER\r\n")), /bad\.aedat at byte 0: .*AER-DAT3\.1/);
  assert.match(
    readError(enc.encode("#!AER-DAT3.1\r\n#Format: SerializedTS\r\n#!END-HEADER\r\n")),
    /at byte 14: .*Format: RAW/,
  );
  assert.match(readError(enc.encode("#!AER-DAT3.1\r\n#Source 1: DVS128\r\n")), /no #!END-HEADER/);
  assert.match(readError(new Uint8Array(0)), /no AEDAT header/);
  assert.match(readError(enc.encode("#!AER-DAT3.1\r\nabc")), /at byte 14: .*'#'/);
  assert.match(
    readError(good.slice(0, good.length - 5)),
    new RegExp(`at byte ${headerEnd}: .*truncated packet: 47 bytes left of the 52`),
  );
  assert.match(
    readError(good.slice(0, headerEnd + 10)),
    new RegExp(`at byte ${headerEnd}: .*truncated packet: 10 bytes left of the 28`),
  );
  assert.match(
    readError(at(good, headerEnd, 42, 16)),
    new RegExp(`at byte ${headerEnd}: .*known event type 0…13 \\(got 42\\)`),
  );
  assert.match(readError(at(good, headerEnd + 4, 16)), /polarity events of 8 bytes/);
  assert.match(readError(at(good, headerEnd + 20, 4)), /eventNumber ≤ eventCapacity/);
  const back = at(good, headerEnd + 28 + 8 + 4, 5); // the second event's time goes back to 5 µs
  assert.match(
    readError(back),
    new RegExp(`at byte ${headerEnd + 28 + 8}: .*do not go backwards \\(5 µs after 10 µs\\)`),
  );
  const far = writeAedat(
    events([
      [10, 1, 2, 1],
      [20, 3, 4, 0],
    ]),
  );
  const d = new DataView(far.buffer);
  d.setUint32(far.length - 8, ((200 << 17) | (4 << 2) | 1) >>> 0, true);
  assert.match(readError(far), new RegExp(`at byte ${far.length - 8}: .*inside 128×128 \\(got x 200, y 4\\)`));
});

const realLabels = join(SHARED_DATA, "dvs-gesture", "user01_natural_labels.csv");

test("the streaming reader is linear in its input: a 2 MiB header line in 7-byte chunks is refused at 1 MiB, quickly", () => {
  const text = new TextEncoder().encode(`#!AER-DAT3.1\r\n#${"x".repeat(2 << 20)}\n`);
  const reader = new AedatReader("long.aedat");
  const t0 = performance.now();
  assert.throws(
    () => {
      for (let i = 0; i < text.length; i += 7) reader.push(text.subarray(i, i + 7));
    },
    (e: Error) =>
      e instanceof AedatError &&
      /long\.aedat at byte 14: .*a header line ending in a line feed within the first MiB/.test(e.message),
  );
  // quadratic copying took over 20 s here; linear work is well under a second (a generous bound against hangs)
  assert.ok(performance.now() - t0 < 5000, `${(performance.now() - t0).toFixed(0)} ms`);
});

test("the real labels CSV of user01_natural: 12 rows, unsorted, arm roll twice; samples per row and per class", {
  skip: existsSync(realLabels) ? false : "../shared/data/dvs-gesture is absent (the datasets are not shipped)",
}, () => {
  const labels = parseGestureLabels(readFileSync(realLabels, "utf8"), realLabels);
  assert.deepEqual(
    labels.map((l) => l.cls),
    [1, 2, 3, 5, 4, 6, 7, 8, 8, 9, 10, 11],
  );
  assert.deepEqual(labels[7], { cls: 8, start: 132355007, end: 141594080 });
  // events every 0.1 s over the recording
  const n = 1800;
  const ev = events(Array.from({ length: n }, (_, i) => [i * 100_000, 1, 1, 1] as [number, number, number, number]));
  const rows = gestureSamples(ev, labels, "row");
  assert.equal(rows.length, 12);
  const byClass = gestureSamples(ev, labels, "class");
  assert.equal(byClass.length, 11);
  const roll = byClass.find((s) => s.label === 7)!;
  assert.equal(roll.ranges.length, 2);
  // start ≤ t < end: 132.355007 s → first event at 132.4 s (index 1324); 141.594080 s → up to 141.5 s
  assert.deepEqual(roll.ranges[0], [1324, 1416]);
  assert.equal(lowerBound(ev.t, n, 0), 0);
  assert.equal(lowerBound(ev.t, n, 1e12), n);
});

test("labels and split lists: errors name the file and line", () => {
  assert.throws(() => parseGestureLabels("cls,start,end\n1,2,3\n", "a.csv"), /a\.csv: line 1/);
  assert.throws(
    () => parseGestureLabels("class,startTime_usec,endTime_usec\n1,2,3\n1,x,3\n", "a.csv"),
    /a\.csv: line 3.*three whole numbers/,
  );
  assert.throws(
    () => parseGestureLabels("class,startTime_usec,endTime_usec\n12,2,3\n", "a.csv"),
    /line 2.*class in 1…11/,
  );
  assert.throws(() => parseGestureLabels("class,startTime_usec,endTime_usec\n3,9,3\n", "a.csv"), /line 2.*start < end/);
  assert.throws(() => parseGestureLabels("class,startTime_usec,endTime_usec\n", "a.csv"), /at least one/);
  assert.deepEqual(parseGestureLabels("class,startTime_usec,endTime_usec\r\n3,1,2\r\n", "crlf.csv"), [
    { cls: 3, start: 1, end: 2 },
  ]);
  assert.deepEqual(parseTrialList("user01_natural.aedat\nuser02_fluorescent_led.aedat\n\n", "t.txt"), [
    "user01_natural.aedat",
    "user02_fluorescent_led.aedat",
  ]);
  assert.throws(() => parseTrialList("user01_natural.aedat\n../etc/passwd\n", "t.txt"), /t\.txt: line 2/);
});

test("synthetic trials: deterministic, every class once, time-sorted, the disc's events on its side of the sensor", () => {
  const a = synthTrial(5, { classes: 4, rate: 6 });
  const b = synthTrial(5, { classes: 4, rate: 6 });
  assert.deepEqual(asList(a.events), asList(b.events));
  assert.deepEqual(a.labels.map((l) => l.cls).sort(), [1, 2, 3, 4]);
  for (let i = 1; i < a.events.count; i++) assert.ok(a.events.t[i] >= a.events.t[i - 1]);
  // "moving right": in the first quarter of the gesture the events sit left of centre, in the last quarter right
  const right = a.labels.find((l) => l.cls === 1)!;
  const meanX = (from: number, to: number): number => {
    const lo = lowerBound(a.events.t, a.events.count, from),
      hi = lowerBound(a.events.t, a.events.count, to);
    let s = 0;
    for (let i = lo; i < hi; i++) s += a.events.x[i];
    return s / (hi - lo);
  };
  const q = (right.end - right.start) / 4;
  assert.ok(
    meanX(right.start, right.start + q) < 55 && meanX(right.end - q, right.end) > 73,
    `${meanX(right.start, right.start + q)} → ${meanX(right.end - q, right.end)}`,
  );
  assert.throws(() => synthTrial(1, { classes: 9 }), /classes/);
});

test("a synthetic set in the real layout loads back; --skip-bad skips a damaged recording and names it", () => {
  const dir = mkdtempSync(join(tmpdir(), "egru-dvs-"));
  const r = writeSynthGestures(dir, { classes: 3, trainUsers: 3, testUsers: 1, rate: 4, seed: 2 });
  assert.equal(r.files, 11);
  const train = loadGestureSplit(dir, "train", { classes: 3 });
  assert.equal(train.trials.length, 3);
  assert.equal(
    train.trials.reduce((s, t) => s + t.samples.length, 0),
    9,
  );
  const direct = synthTrial(2 * 1000 + 1, { classes: 3, rate: 4 });
  assert.deepEqual(
    asList(train.trials[0].events),
    asList(direct.events),
    "the file holds exactly the generated events",
  );
  assert.equal(
    readAedatFile(join(dir, "user04_natural.aedat")).events.count,
    loadGestureSplit(dir, "test", { classes: 3 }).trials[0].events.count,
  );

  const bad = join(dir, "user02_natural.aedat");
  truncateSync(bad, 1000);
  assert.throws(
    () => loadGestureSplit(dir, "train", { classes: 3 }),
    (e: Error) => e instanceof AedatError && e.message.includes("user02_natural.aedat at byte"),
  );
  const skipped = loadGestureSplit(dir, "train", { classes: 3, skipBad: true });
  assert.equal(skipped.trials.length, 2);
  assert.deepEqual(
    skipped.skipped.map((s) => s.name),
    ["user02_natural.aedat"],
  );
  assert.match(skipped.skipped[0].reason, /truncated packet/);
  writeFileSync(join(dir, "user03_natural_labels.csv"), "class,startTime_usec,endTime_usec\n7,1,2\n");
  assert.throws(() => loadGestureSplit(dir, "train", { classes: 3, skipBad: false }), /truncated|class in 1…3/);
});

test("egru data synth-dvs writes the layout; a non-empty --out is bad usage", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "egru-synth-")), "set");
  const r = runEgru([
    "data",
    "synth-dvs",
    "--out",
    dir,
    "--classes",
    "2",
    "--train-users",
    "1",
    "--test-users",
    "1",
    "--rate",
    "2",
    "--json",
  ]);
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as { files: number; events: number };
  assert.equal(out.files, 7);
  for (const f of [
    "user01_natural.aedat",
    "user01_natural_labels.csv",
    "user02_natural.aedat",
    "trials_to_train.txt",
    "trials_to_test.txt",
    "gesture_mapping.csv",
  ]) {
    assert.ok(existsSync(join(dir, f)), f);
  }
  assert.equal(runEgru(["data", "synth-dvs", "--out", dir]).code, 2);
});
