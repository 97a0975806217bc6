// Fuzz format: an AEDAT 3.1 recording (writeAedat: a special-event packet, polarity packets with spare
// slots, events without the valid mark, times across a timestamp overflow) read as egru reads a
// DVS Gesture trial (readAedatFile), and again through AedatReader in chunks of a size the case
// draws: both reads must end alike (the same events, or the same error). Size fields: every field
// of every packet header (type, source, size, timestamp offset, overflow, capacity, number, valid).

import { readFileSync } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { AedatReader, type AedatStats, type DvsEvents, eventsFromRows } from "../../packages/cli/src/data/aedat.js";
import { writeAedat } from "../../packages/cli/src/data/aedat-write.js";
import { readAedatFile } from "../../packages/cli/src/node/dvs-files.js";
import type { Field } from "./damage.js";
import type { FuzzFormat } from "./harness.js";

const FILE = "user01_natural.aedat";
const PACKET_HEADER = 28;

/** 150 events over about 2^31 + 10^6 µs (so a timestamp overflow is crossed), every 7th without the valid mark. */
function recording(): Uint8Array {
  const rows = Array.from({ length: 150 }, (_, i) => [
    i < 75 ? 2 ** 31 - 75_000 + 1000 * i : 2 ** 31 + 1000 * i,
    (i * 37) % 128,
    (i * 11) % 128,
    i % 2,
  ]);
  const invalid = new Set(Array.from({ length: 22 }, (_, k) => 7 * k));
  return writeAedat(eventsFromRows(rows), { packetEvents: 40, spareSlots: 3, specialPacket: 2, invalid });
}

/** The fields of every packet header of a recording (walked from the end of the text header). */
function packetFields(bytes: Uint8Array): Field[] {
  const end = Buffer.from(bytes).indexOf("#!END-HEADER");
  let at = Buffer.from(bytes).indexOf(0x0a, end) + 1;
  const fields: Field[] = [];
  const names = ["size", "timestamp offset", "overflow", "capacity", "number", "valid"];
  while (end >= 0 && at + PACKET_HEADER <= bytes.length) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + at, PACKET_HEADER);
    fields.push({ name: `packet at ${at}: type`, at, bytes: 2, little: true });
    fields.push({ name: `packet at ${at}: source`, at: at + 2, bytes: 2, little: true });
    names.forEach((n, k) => {
      fields.push({ name: `packet at ${at}: ${n}`, at: at + 4 + 4 * k, bytes: 4, little: true });
    });
    at += PACKET_HEADER + view.getInt32(16, true) * view.getInt32(4, true);
  }
  return fields;
}

type Read = { events: DvsEvents; stats: AedatStats } | { differs: string };

/** The recording fed to an AedatReader in chunks of `size` bytes. */
function readChunked(bytes: Uint8Array, name: string, size: number): { events: DvsEvents; stats: AedatStats } {
  const r = new AedatReader(name);
  for (let at = 0; at < bytes.length; at += size) r.push(bytes.subarray(at, at + size));
  return { events: r.end(), stats: r.stats };
}

/** What `f` returned or threw. */
function attempt<T>(f: () => T): { value?: T; error?: unknown } {
  try {
    return { value: f() };
  } catch (error) {
    return { error };
  }
}

/** The events break the reader's promises: in time order, on the 128 × 128 sensor, polarity 0 or 1. */
function eventsWrong(e: DvsEvents, stats: AedatStats): string | null {
  if ([e.x, e.y, e.p, e.t].some((a) => a.length !== e.count)) return "arrays of another length than the count";
  if (stats.events !== e.count) return `stats.events ${stats.events}, ${e.count} events`;
  for (let i = 0; i < e.count; i++) {
    if (e.x[i] >= 128 || e.y[i] >= 128 || e.p[i] > 1) return `event ${i} off the sensor or of polarity ${e.p[i]}`;
    if (!(e.t[i] >= 0 && Number.isFinite(e.t[i])) || (i > 0 && e.t[i] < e.t[i - 1]))
      return `event ${i} at ${e.t[i]} µs, out of order`;
  }
  return null;
}

export const AEDAT: FuzzFormat<Read> = {
  name: "aedat",
  reads: "readAedatFile(path); AedatReader in chunks of 1…97 bytes",
  instance: () => ({ [FILE]: recording() }),
  files: [{ path: FILE, fields: packetFields }],
  tokens: ["#!END-HEADER\r\n", "#Format: RAW\r\n", "#Format: compressed\n", "\r\n", "#"],
  read: (dir, seed) => {
    const path = `${dir}/${FILE}`;
    const whole = attempt(() => readAedatFile(path));
    const bytes = attempt(() => readFileSync(path)).value;
    if (!bytes) {
      if (whole.error) throw whole.error;
      return whole.value as Read;
    }
    const size = 1 + (seed % 97);
    const chunked = attempt(() => readChunked(bytes, path, size));
    const message = (o: { error?: unknown }) => (o.error ? String((o.error as Error).message) : null);
    if (message(whole) !== message(chunked) || !isDeepStrictEqual(whole.value, chunked.value))
      return {
        differs: `in ${size}-byte chunks: ${message(chunked) ?? "events"}; whole: ${message(whole) ?? "events"}`,
      };
    if (whole.error) throw whole.error;
    return whole.value as Read;
  },
  wrong: (r) => ("differs" in r ? r.differs : eventsWrong(r.events, r.stats)),
};
