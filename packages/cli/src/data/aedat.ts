// A streaming reader of AEDAT 3.1 event-camera recordings (the DVS128 Gesture format), isomorphic:
// bytes in (any chunking), polarity events out as typed arrays (no per-event objects).
//
// Format (libcaer's events/common.h and events/polarity.h; ../shared/data/README.md): ASCII header
// lines starting with '#' (CRLF or LF), the first "#!AER-DAT3.1", the last "#!END-HEADER", and
// "#Format: RAW" if a format is named; then packets until the end, each a 28-byte little-endian
// header (eventType i16, eventSource i16, eventSize i32, eventTSOffset i32, eventTSOverflow i32,
// eventCapacity i32, eventNumber i32, eventValid i32) and eventCapacity·eventSize bytes of events.
// A polarity event (type 1, 8 bytes) is u32 data (bit 0 valid mark, bit 1 polarity, bits 2–16 y,
// bits 17–31 x) and an i32 timestamp in µs; the full time is eventTSOverflow·2³¹ + timestamp. As
// libcaer: the first eventNumber slots of a polarity packet are read, events without the valid mark
// are dropped (respectValidMark, default true; their count is reported), other packet types are
// skipped. Every malformation is an error naming the recording and the byte offset.

import { EgruError } from "egru";

/** The largest event type libcaer defines (0 special … 13 matrix4x4). */
const MAX_EVENT_TYPE = 13;
const POLARITY = 1;
const PACKET_HEADER = 28;
const MAX_HEADER_BYTES = 1 << 20;

/** A recording that is not valid AEDAT 3.1 (the message names the file and byte offset). */
export class AedatError extends EgruError {}

export interface AedatOptions {
  /** Drop events whose valid mark (bit 0) is 0. Default true. */
  respectValidMark?: boolean;
  /** Sensor size; coordinates outside are an error. Default 128 × 128 (DVS128). */
  width?: number;
  height?: number;
}

/** Polarity events, in file order (time non-decreasing): x, y, polarity (1 = ON) and time in µs. */
export interface DvsEvents {
  count: number;
  x: Uint16Array;
  y: Uint16Array;
  p: Uint8Array;
  t: Float64Array;
}

/** Events from rows [t, x, y, p] (already in time order). */
export function eventsFromRows(rows: readonly (readonly number[])[]): DvsEvents {
  const n = rows.length;
  const e: DvsEvents = {
    count: n,
    x: new Uint16Array(n),
    y: new Uint16Array(n),
    p: new Uint8Array(n),
    t: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const [t, x, y, p] = rows[i];
    e.t[i] = t;
    e.x[i] = x;
    e.y[i] = y;
    e.p[i] = p;
  }
  return e;
}

export interface AedatStats {
  /** Header lines (without the leading '#'). */
  header: string[];
  packets: number;
  /** Packets of other event types, skipped. */
  skippedPackets: number;
  /** Events kept; events dropped for a missing valid mark. */
  events: number;
  invalid: number;
  /** Polarity packets whose eventValid differs from eventNumber (some writers never set the mark). */
  packetsWithInvalid: number;
}

/** Growable typed arrays for events. */
class EventBuffer {
  count = 0;
  x = new Uint16Array(1024);
  y = new Uint16Array(1024);
  p = new Uint8Array(1024);
  t = new Float64Array(1024);

  push(x: number, y: number, p: number, t: number): void {
    if (this.count === this.x.length) {
      const n = this.x.length * 2;
      const grow = <A extends Uint16Array | Uint8Array | Float64Array>(a: A, make: (n: number) => A): A => {
        const b = make(n);
        b.set(a as never);
        return b;
      };
      this.x = grow(this.x, (k) => new Uint16Array(k));
      this.y = grow(this.y, (k) => new Uint16Array(k));
      this.p = grow(this.p, (k) => new Uint8Array(k));
      this.t = grow(this.t, (k) => new Float64Array(k));
    }
    const i = this.count++;
    this.x[i] = x;
    this.y[i] = y;
    this.p[i] = p;
    this.t[i] = t;
  }

  events(): DvsEvents {
    const n = this.count;
    return { count: n, x: this.x.slice(0, n), y: this.y.slice(0, n), p: this.p.slice(0, n), t: this.t.slice(0, n) };
  }
}

export class AedatReader {
  readonly name: string;
  private readonly respectValid: boolean;
  private readonly width: number;
  private readonly height: number;
  /** The unread bytes: a view of store[start, stop) (the store grows by doubling, compacts when it can). */
  private buf: Uint8Array = new Uint8Array(0);
  private store: Uint8Array = new Uint8Array(0);
  private start = 0;
  private stop = 0;
  /** Absolute file offset of buf[0]. */
  private base = 0;
  /** Absolute offset up to which the header line in progress has been searched for its line feed. */
  private scanned = 0;
  private inHeader = true;
  private lastT = -Infinity;
  private readonly out = new EventBuffer();
  readonly stats: AedatStats = {
    header: [],
    packets: 0,
    skippedPackets: 0,
    events: 0,
    invalid: 0,
    packetsWithInvalid: 0,
  };

  constructor(name: string, opts: AedatOptions = {}) {
    this.name = name;
    this.respectValid = opts.respectValidMark ?? true;
    this.width = opts.width ?? 128;
    this.height = opts.height ?? 128;
  }

  private fail(offset: number, what: string): never {
    throw new AedatError(`${this.name} at byte ${offset}`, "an AEDAT 3.1 recording", what);
  }

  /** Feed the next bytes of the recording (the reader keeps no reference to `chunk`). */
  push(chunk: Uint8Array): void {
    // append (copied: the caller may reuse `chunk`) in amortised linear time, whatever the chunk sizes
    const unread = this.stop - this.start;
    if (this.stop + chunk.length > this.store.length) {
      const need = unread + chunk.length;
      if (need <= this.store.length / 2) this.store.copyWithin(0, this.start, this.stop);
      else {
        const grown = new Uint8Array(Math.max(need, 2 * this.store.length, 1 << 16));
        grown.set(this.store.subarray(this.start, this.stop));
        this.store = grown;
      }
      this.start = 0;
      this.stop = unread;
    }
    this.store.set(chunk, this.stop);
    this.stop += chunk.length;
    this.buf = this.store.subarray(this.start, this.stop);
    let pos = 0;
    if (this.inHeader) pos = this.readHeader();
    if (!this.inHeader) pos = this.readPackets(pos);
    this.start += pos;
    this.base += pos;
    this.buf = this.store.subarray(this.start, this.stop);
  }

  /** The end of the recording: every event, or an error if it stopped inside the header or a packet. */
  end(): DvsEvents {
    if (this.inHeader)
      this.fail(
        this.base,
        this.stats.header.length === 0 ? "no AEDAT header (empty file?)" : "the header has no #!END-HEADER line",
      );
    if (this.buf.length > 0) {
      const need = this.buf.length < PACKET_HEADER ? PACKET_HEADER : PACKET_HEADER + this.bodyBytes(0);
      this.fail(this.base, `a truncated packet: ${this.buf.length} bytes left of the ${need} it needs`);
    }
    return this.out.events();
  }

  /** Consume complete header lines; returns the position after them. */
  private readHeader(): number {
    let pos = 0;
    const b = this.buf;
    for (;;) {
      if (pos >= b.length) return pos;
      if (b[pos] !== 0x23 /* # */)
        this.fail(
          this.base + pos,
          `a header line starting with '#' (got byte 0x${b[pos].toString(16)}) before #!END-HEADER`,
        );
      // search on from where the last push stopped, not from the line's start (linear in the header)
      const nl = b.indexOf(0x0a, Math.max(pos, this.scanned - this.base));
      if (nl < 0) {
        this.scanned = this.base + b.length;
        if (this.base + b.length > MAX_HEADER_BYTES)
          this.fail(this.base + pos, "a header line ending in a line feed within the first MiB");
        return pos;
      }
      let line = "";
      for (let i = pos + 1; i < nl; i++) line += String.fromCharCode(b[i]);
      line = line.replace(/\r$/, "");
      const at = this.base + pos;
      pos = nl + 1;
      if (this.stats.header.length === 0 && line !== "!AER-DAT3.1") {
        this.fail(
          at,
          `the first line "#!AER-DAT3.1" (got ${JSON.stringify(`#${line}`.slice(0, 40))}; only AEDAT 3.1 is read)`,
        );
      }
      this.stats.header.push(line);
      const format = /^Format:\s*(.*)$/.exec(line);
      if (format && format[1].trim() !== "RAW")
        this.fail(at, `"#Format: RAW" (got "${line}"; compressed formats are not read)`);
      if (line === "!END-HEADER") {
        this.inHeader = false;
        return pos;
      }
    }
  }

  private i32(at: number): number {
    const b = this.buf;
    return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);
  }

  private i16(at: number): number {
    return ((this.buf[at] | (this.buf[at + 1] << 8)) << 16) >> 16;
  }

  private bodyBytes(at: number): number {
    return Math.max(0, this.i32(at + 16)) * Math.max(0, this.i32(at + 4));
  }

  /** Consume complete packets from `pos`; returns the position after the last one. */
  private readPackets(pos: number): number {
    const b = this.buf;
    while (b.length - pos >= PACKET_HEADER) {
      const at = this.base + pos;
      const type = this.i16(pos);
      const size = this.i32(pos + 4);
      const tsOffset = this.i32(pos + 8);
      const overflow = this.i32(pos + 12);
      const capacity = this.i32(pos + 16);
      const number = this.i32(pos + 20);
      const valid = this.i32(pos + 24);
      if (type < 0 || type > MAX_EVENT_TYPE) this.fail(at, `a known event type 0…${MAX_EVENT_TYPE} (got ${type})`);
      if (size <= 0 || size > 1 << 16) this.fail(at, `an event size in 1…65536 bytes (got ${size})`);
      if (capacity < 0 || number < 0 || number > capacity || valid < 0 || valid > number) {
        this.fail(at, `0 ≤ eventValid ≤ eventNumber ≤ eventCapacity (got ${valid}, ${number}, ${capacity})`);
      }
      if (overflow < 0) this.fail(at, `a timestamp overflow ≥ 0 (got ${overflow})`);
      if (type === POLARITY && (size !== 8 || tsOffset !== 4))
        this.fail(at, `polarity events of 8 bytes with the timestamp at 4 (got size ${size}, offset ${tsOffset})`);
      const body = capacity * size;
      if (b.length - pos - PACKET_HEADER < body) return pos; // wait for the rest
      this.stats.packets++;
      if (type !== POLARITY) {
        this.stats.skippedPackets++;
      } else {
        if (valid !== number) this.stats.packetsWithInvalid++;
        this.readPolarity(pos + PACKET_HEADER, number, overflow);
      }
      pos += PACKET_HEADER + body;
    }
    return pos;
  }

  private readPolarity(start: number, number: number, overflow: number): void {
    const high = overflow * 2 ** 31;
    for (let k = 0; k < number; k++) {
      const at = start + 8 * k;
      const data = this.i32(at) >>> 0;
      const ts = this.i32(at + 4);
      if ((data & 1) === 0 && this.respectValid) {
        this.stats.invalid++;
        continue;
      }
      const x = (data >>> 17) & 0x7fff;
      const y = (data >>> 2) & 0x7fff;
      if (x >= this.width || y >= this.height)
        this.fail(this.base + at, `coordinates inside ${this.width}×${this.height} (got x ${x}, y ${y})`);
      if (ts < 0) this.fail(this.base + at, `a timestamp ≥ 0 (got ${ts})`);
      const t = high + ts;
      if (t < this.lastT)
        this.fail(this.base + at, `timestamps that do not go backwards (${t} µs after ${this.lastT} µs)`);
      this.lastT = t;
      this.out.push(x, y, (data >>> 1) & 1, t);
      this.stats.events++;
    }
  }
}

/** Read a whole recording held in memory. */
export function readAedat(
  bytes: Uint8Array,
  name: string,
  opts: AedatOptions = {},
): { events: DvsEvents; stats: AedatStats } {
  const r = new AedatReader(name, opts);
  r.push(bytes);
  return { events: r.end(), stats: r.stats };
}
