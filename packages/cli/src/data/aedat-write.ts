// Writing AEDAT 3.1 recordings (isomorphic): the header and polarity packets exactly as
// data/aedat.ts reads them, with the options tests need to build unusual files (packets with spare
// capacity, events without the valid mark, a timestamp overflow, packets of other event types).

import type { DvsEvents } from "./aedat.js";

export interface AedatWriteOptions {
  /** Events per polarity packet. Default 4096. */
  packetEvents?: number;
  /** Spare event slots at the end of each polarity packet (eventCapacity − eventNumber). Default 0. */
  spareSlots?: number;
  /** Indices of events written without the valid mark. */
  invalid?: Set<number>;
  /** Write a special-event packet (type 0) of this many 8-byte events before the first polarity packet. */
  specialPacket?: number;
  /** Extra header lines (without '#'), after the standard ones. */
  header?: string[];
  /** Line ending of the header. Default CRLF. */
  lineEnd?: "\r\n" | "\n";
}

const enc = new TextEncoder();

/** One packet header, little-endian. */
function packetHeader(
  type: number,
  size: number,
  overflow: number,
  capacity: number,
  number: number,
  valid: number,
): Uint8Array {
  const h = new Uint8Array(28);
  const v = new DataView(h.buffer);
  v.setInt16(0, type, true);
  v.setInt16(2, 1, true); // source 1
  v.setInt32(4, size, true);
  v.setInt32(8, 4, true); // timestamp offset
  v.setInt32(12, overflow, true);
  v.setInt32(16, capacity, true);
  v.setInt32(20, number, true);
  v.setInt32(24, valid, true);
  return h;
}

/** The bytes of an AEDAT 3.1 recording of `events` (times in µs, non-decreasing). */
export function writeAedat(events: DvsEvents, opts: AedatWriteOptions = {}): Uint8Array {
  const nl = opts.lineEnd ?? "\r\n";
  const lines = [
    "#!AER-DAT3.1",
    "#Format: RAW",
    "#Source 1: DVS128",
    "#Start-Time: 2026-11-29 00:00:00 (TZ+0000)",
    ...(opts.header ?? []).map((l) => `#${l}`),
    "#!END-HEADER",
  ];
  const parts: Uint8Array[] = [enc.encode(lines.map((l) => l + nl).join(""))];
  if (opts.specialPacket) {
    const n = opts.specialPacket;
    parts.push(packetHeader(0, 8, 0, n, n, n), new Uint8Array(8 * n));
  }
  const per = opts.packetEvents ?? 4096;
  const spare = opts.spareSlots ?? 0;
  // events are grouped into packets that share one timestamp overflow (the upper bits of the time)
  let i = 0;
  while (i < events.count) {
    const overflow = Math.floor(events.t[i] / 2 ** 31);
    let j = i;
    while (j < events.count && j - i < per && Math.floor(events.t[j] / 2 ** 31) === overflow) j++;
    const n = j - i;
    const body = new Uint8Array(8 * (n + spare));
    const v = new DataView(body.buffer);
    let valid = 0;
    for (let k = 0; k < n; k++) {
      const e = i + k;
      const mark = opts.invalid?.has(e) ? 0 : 1;
      valid += mark;
      const data = ((events.x[e] & 0x7fff) << 17) | ((events.y[e] & 0x7fff) << 2) | ((events.p[e] & 1) << 1) | mark;
      v.setUint32(8 * k, data >>> 0, true);
      v.setInt32(8 * k + 4, events.t[e] - overflow * 2 ** 31, true);
    }
    parts.push(packetHeader(1, 8, overflow, n + spare, n, valid), body);
    i = j;
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
