import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { crc32 } from '../bytes/crc32.ts';
import { cobsDecode, cobsEncode, cobsMaxEncodedLength } from '../firmware/link/cobs.ts';
import {
  ABORT_PROTOCOL,
  ABORT_SINK_FAILED,
  ABORT_UNKNOWN_SESSION,
  BULK_ABORT,
  BULK_ACK,
  BULK_DATA,
  MAX_WIRE,
  abortPayload,
  ackCovers,
  decodeBulkBody,
  decodeBulkFrame,
  encodeBulkFrame,
  parseAbort,
  parseAck,
  writeAckPayload,
  type BulkFrame,
} from '../firmware/link/bulk-frame.ts';
import { SerialDemux, type DemuxEvent } from '../firmware/link/serial-demux.ts';
import { BulkReceiver } from '../firmware/link/bulk-receiver.ts';
import { BulkTransferError, sendBulk, type BulkClock, type BulkSendStats } from '../flash-scripts/link/bulk-sender.ts';
import { ConsoleFrameDecoder, encodeConsoleFrames } from '../firmware/smp/smp-console-frame.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const ascii = (s: string) => new TextEncoder().encode(s);
const KiB = 1024;

function randomBytes(n: number, seed: number): Uint8Array {
  const random = seededRandom(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(random() * 256);
  return out;
}

const withoutDelimiter = (wire: Uint8Array) => wire.subarray(0, wire.length - 1);

function decodeOk(wire: Uint8Array): BulkFrame {
  const r = decodeBulkFrame(withoutDelimiter(wire));
  if (!r.ok) throw new Error(r.reason);
  return r.frame;
}

// ---------------------------------------------------------------------------

const golden = suite('bulk lane wire format: golden bytes');

// Pinned: computed with Python (zlib.crc32, struct) and a separate COBS, and the COBS
// checked by hand, block by block (FORMAT.md, "Golden example").
const DATA_WIRE = '0201031234010102010b0568656c6c6fc109065300';
const ACK_WIRE = '02020312340101010102050101070205aeb0ab2200';

golden('CRC-32 has the IEEE check value and continues across pieces', () => {
  assert.is(crc32(ascii('123456789')), 0xcbf43926);
  assert.is(crc32(new Uint8Array(0)), 0);
  const data = randomBytes(1000, 1);
  assert.is(crc32(data, crc32(data, 0, 0, 333), 333, 1000), crc32(data));
  assert.is(crc32(data, 0, 10, 20), crc32(data.slice(10, 20)));
});

golden('a DATA frame (session 0x1234, seq 1, "hello") is exactly these bytes', () => {
  const wire = encodeBulkFrame({ type: BULK_DATA, session: 0x1234, seq: 1, payload: ascii('hello') });
  assert.is(hex(wire), DATA_WIRE);
  assert.is(wire[0], 0x02);
  const frame = decodeOk(unhex(DATA_WIRE));
  assert.equal({ ...frame, payload: hex(frame.payload) }, { type: BULK_DATA, session: 0x1234, seq: 1, payload: hex(ascii('hello')) });
});

golden('an ACK (session 0x1234, next 2, frames 3 and 5 buffered) is exactly these bytes', () => {
  const payload = new Uint8Array(4 + 2);
  const n = writeAckPayload(payload, 2, new Uint8Array([0b101, 0])); // the trailing zero byte is left off
  const wire = encodeBulkFrame({ type: BULK_ACK, session: 0x1234, seq: 0, payload: payload.subarray(0, n) });
  assert.is(hex(wire), ACK_WIRE);
  const ack = parseAck(decodeOk(wire).payload)!;
  assert.is(ack.next, 2);
  assert.equal([0, 1, 2, 3, 4, 5, 6].map((s) => ackCovers(ack, s)), [true, true, false, true, false, true, false]);
});

golden('an ABORT carries its reason and ASCII text', () => {
  const frame = decodeOk(encodeBulkFrame({ type: BULK_ABORT, session: 7, seq: 0, payload: abortPayload(1, 'flash write failed at 0x1000 — ok') }));
  assert.equal(parseAbort(frame.payload), { reason: 1, text: 'flash write failed at 0x1000 ? ok' });
});

// ---------------------------------------------------------------------------

const cobs = suite('COBS');

function roundTrip(body: Uint8Array): void {
  const encoded = cobsEncode(body);
  assert.ok(!encoded.includes(0), 'no zero in the encoding');
  assert.ok(encoded.length <= cobsMaxEncodedLength(body.length));
  assert.ok(encoded.length >= body.length + 1);
  assert.equal(cobsDecode(encoded), body);
}

cobs('known encodings, including the 254-byte block edge', () => {
  assert.is(hex(cobsEncode(new Uint8Array(0))), '01');
  assert.is(hex(cobsEncode(unhex('00'))), '0101');
  assert.is(hex(cobsEncode(unhex('0000'))), '010101');
  assert.is(hex(cobsEncode(unhex('11220033'))), '0311220233');
  const run254 = new Uint8Array(254).fill(0x41);
  assert.is(hex(cobsEncode(run254)), 'ff' + '41'.repeat(254)); // no empty block after a full one at the end
  assert.is(hex(cobsEncode(new Uint8Array([...run254, 0x42]))), 'ff' + '41'.repeat(254) + '0242');
  assert.is(hex(cobsEncode(new Uint8Array([...run254, 0]))), 'ff' + '41'.repeat(254) + '0101');
  assert.equal(cobsDecode(unhex('ff' + '41'.repeat(254) + '01')), run254, 'the form with a trailing empty block decodes too');
});

cobs('round trip: runs of 253, 254, 255 non-zero bytes, all-zero bodies, mixtures', () => {
  for (const n of [0, 1, 252, 253, 254, 255, 256, 507, 508, 509, 1000]) {
    roundTrip(new Uint8Array(n)); // all zero
    roundTrip(new Uint8Array(n).fill(0xff));
    for (const pad of [[0], [7], [0, 0]]) {
      roundTrip(new Uint8Array([...pad, ...new Uint8Array(n).fill(1)]));
      roundTrip(new Uint8Array([...new Uint8Array(n).fill(1), ...pad]));
    }
  }
});

cobs('round trip: arbitrary bodies and bodies built from long runs (fast-check)', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 3000 }), (b) => roundTrip(b)), { numRuns: 300, seed: 11 });
  const run = fc.oneof(
    fc.integer({ min: 0, max: 600 }).map((n) => new Uint8Array(n)),
    fc.tuple(fc.integer({ min: 250, max: 260 }), fc.integer({ min: 1, max: 255 })).map(([n, v]) => new Uint8Array(n).fill(v)),
    fc.uint8Array({ maxLength: 20 }),
  );
  fc.assert(fc.property(fc.array(run, { maxLength: 8 }), (runs) => roundTrip(new Uint8Array(runs.flatMap((r) => [...r])))), { numRuns: 300, seed: 12 });
});

cobs('malformed input decodes to null', () => {
  assert.is(cobsDecode(new Uint8Array(0)), null, 'nothing');
  assert.is(cobsDecode(unhex('0311')), null, 'a code pointing past the end');
  assert.is(cobsDecode(unhex('031100')), null, 'a zero inside');
  assert.is(cobsDecode(unhex('00')), null, 'a zero code');
});

// ---------------------------------------------------------------------------

const frames = suite('bulk frame decoding: every damage is caught');

function body(type: number, session: number, seq: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(10 + payload.length + 4);
  b[0] = type;
  b[2] = session >> 8;
  b[3] = session & 0xff;
  new DataView(b.buffer).setUint32(4, seq);
  new DataView(b.buffer).setUint16(8, payload.length);
  b.set(payload, 10);
  new DataView(b.buffer).setUint32(10 + payload.length, crc32(b, 0, 0, 10 + payload.length));
  return b;
}

frames('each kind of bad frame is named', () => {
  const good = body(BULK_DATA, 1, 2, ascii('abc'));
  assert.ok(decodeBulkBody(good).ok);
  const kinds: string[] = [];
  const check = (b: Uint8Array) => {
    const r = decodeBulkBody(b);
    kinds.push(r.ok ? 'ok' : r.error);
  };
  check(good.subarray(0, 13));
  const marker = good.slice();
  marker[1] = 1;
  check(marker);
  check(good.subarray(0, good.length - 1));
  const crc = good.slice();
  crc[11] ^= 1;
  check(crc);
  check(body(9, 1, 2, ascii('abc')));
  check(body(BULK_DATA, 1, 2, new Uint8Array(4097)));
  assert.equal(kinds, ['short', 'marker', 'length', 'crc', 'type', 'length']);
  const r = decodeBulkFrame(unhex('0311'));
  assert.ok(!r.ok && r.error === 'cobs');
  assert.throws(() => encodeBulkFrame({ type: BULK_DATA, session: 1, seq: 0, payload: new Uint8Array(4097) }), /exceeds 4096/);
});

frames('every single-bit flip of a frame is rejected, by the decoder and by the demux: DATA, ACK (with and without a bitmap) and ABORT frames', () => {
  const ackBitmap = new Uint8Array(16);
  const ackLen = writeAckPayload(ackBitmap, 4242, new Uint8Array([0b10110001, 0x0f]));
  const wires = [
    unhex(DATA_WIRE),
    encodeBulkFrame({ type: BULK_DATA, session: 0xbeef, seq: 77, payload: randomBytes(1024, 3) }),
    encodeBulkFrame({ type: BULK_ACK, session: 0x1234, seq: 0, payload: ackBitmap.subarray(0, ackLen) }),
    encodeBulkFrame({ type: BULK_ACK, session: 7, seq: 0, payload: ackBitmap.subarray(0, writeAckPayload(ackBitmap, 0, new Uint8Array(0))) }),
    encodeBulkFrame({ type: BULK_ABORT, session: 9, seq: 0, payload: abortPayload(2, 'session gone') }),
  ];
  const types: number[] = [];
  for (const wire of wires) {
    types.push(decodeOk(wire).type);
    const original = decodeOk(wire);
    const bare = withoutDelimiter(wire);
    let flips = 0;
    for (let bit = 0; bit < bare.length * 8; bit++) {
      const damaged = bare.slice();
      damaged[bit >> 3] ^= 1 << (bit & 7);
      const r = decodeBulkFrame(damaged);
      assert.ok(!r.ok, `bit ${bit} flipped, yet the frame decoded`);
      const demux = new SerialDemux();
      const events = demux.push(new Uint8Array([...damaged, 0]));
      const got = events.filter((e) => e.kind === 'bulk');
      assert.is(got.length, 0, `bit ${bit} flipped, yet the demux let a frame through`);
      flips++;
    }
    assert.is(flips, bare.length * 8);
    assert.ok(original.payload.length > 0);
  }
  assert.equal(types, [BULK_DATA, BULK_DATA, BULK_ACK, BULK_ACK, BULK_ABORT]);
});

// ---------------------------------------------------------------------------

const demuxSuite = suite('serial demux: SMP lines and bulk frames on one line');

type Item = { kind: 'smp'; bytes: Uint8Array } | { kind: 'bulk'; frame: BulkFrame };

function describe(e: DemuxEvent | Item): string {
  if (e.kind === 'smp') return `smp:${hex(e.bytes)}`;
  if (e.kind === 'bulk') return `bulk:${e.frame.type}/${e.frame.session}/${e.frame.seq}/${hex(e.frame.payload)}`;
  return 'damaged';
}

function mixedStream(random: () => number, count: number): { items: Item[]; wire: Uint8Array } {
  const items: Item[] = [];
  const parts: number[] = [];
  for (let i = 0; i < count; i++) {
    if (random() < 0.4) {
      // a whole SMP packet: one or more console lines, each its own item
      const lines = encodeConsoleFrames(randomBytes(Math.floor(random() * 200), i));
      let start = 0;
      for (let k = 0; k < lines.length; k++) {
        if (lines[k] !== 0x0a) continue;
        items.push({ kind: 'smp', bytes: lines.slice(start, k + 1) });
        start = k + 1;
      }
      parts.push(...lines);
    } else {
      const frame: BulkFrame = { type: BULK_DATA, session: 5, seq: i, payload: randomBytes(Math.floor(random() * 1500), 1000 + i) };
      items.push({ kind: 'bulk', frame });
      parts.push(...encodeBulkFrame(frame));
    }
  }
  return { items, wire: new Uint8Array(parts) };
}

function pushInPieces(demux: SerialDemux, wire: Uint8Array, random: () => number): DemuxEvent[] {
  const events: DemuxEvent[] = [];
  for (let at = 0; at < wire.length; ) {
    const n = random() < 0.3 ? 1 : 1 + Math.floor(random() * 700);
    events.push(...demux.push(wire.subarray(at, at + n)));
    at += n;
  }
  return events;
}

demuxSuite('interleaved SMP lines and bulk frames, split at random boundaries, come out intact and in order', () => {
  const random = seededRandom(21);
  for (let trial = 0; trial < 40; trial++) {
    const { items, wire } = mixedStream(random, 12);
    const demux = new SerialDemux();
    const events = pushInPieces(demux, wire, random);
    assert.equal(events.map(describe), items.map(describe), `trial ${trial}`);
    assert.is(demux.noiseBytes, 0);
    // the SMP lines are whole console frames again
    const decoder = new ConsoleFrameDecoder();
    const smp = events.flatMap((e) => (e.kind === 'smp' ? decoder.push(e.bytes) : []));
    assert.ok(smp.every((e) => e.kind === 'packet'));
  }
});

demuxSuite('console noise between frames is skipped and counted', () => {
  const random = seededRandom(22);
  const { items } = mixedStream(random, 10);
  const noisy: number[] = [];
  let noise = 0;
  for (const [i, item] of items.entries()) {
    noisy.push(...(item.kind === 'smp' ? item.bytes : encodeBulkFrame(item.frame)));
    const text = ascii(`log ${i}: ok\r\n`); // printable text, CR LF: never 0x00, 0x02, 0x04, 0x06
    noisy.push(...text);
    noise += text.length;
  }
  const demux = new SerialDemux();
  assert.equal(pushInPieces(demux, new Uint8Array(noisy), random).map(describe), items.map(describe));
  assert.is(demux.noiseBytes, noise);
});

demuxSuite('a corrupted start byte costs that frame only: the demux resynchronises at its delimiter', () => {
  const a = encodeBulkFrame({ type: BULK_DATA, session: 1, seq: 0, payload: new Uint8Array(300).fill(0x41) });
  const b = encodeBulkFrame({ type: BULK_DATA, session: 1, seq: 1, payload: new Uint8Array(300).fill(0x41) });
  const c = encodeBulkFrame({ type: BULK_DATA, session: 1, seq: 2, payload: new Uint8Array(300).fill(0x41) });
  const line = encodeConsoleFrames(ascii('hi'));
  for (const start of [0x06, 0x04, 0x03, 0x00, 0x82]) {
    const broken = b.slice();
    broken[0] = start;
    const events = new SerialDemux().push(new Uint8Array([...a, ...broken, ...line, ...c]));
    const kept = events.filter((e) => e.kind !== 'damaged').map(describe);
    assert.equal(kept, [describe({ kind: 'bulk', frame: decodeOk(a) }), `smp:${hex(line)}`, describe({ kind: 'bulk', frame: decodeOk(c) })], `start 0x${start.toString(16)}`);
  }
});

demuxSuite('a stray 0x02 on an SMP-only line does not swallow the console', () => {
  const lines = [1, 2, 3].map((i) => encodeConsoleFrames(ascii(`packet ${i}`)));
  // 0x02 then an SMP start: not a bulk frame (0x06 is no frame type), every line survives
  let events = new SerialDemux().push(new Uint8Array([0x02, ...lines[0], ...lines[1], ...lines[2]]));
  assert.equal(events.map(describe), lines.map((l) => `smp:${hex(l)}`));
  // 0x02 0x01 looks like a DATA frame: its header gives it away within ten bytes; later lines survive
  events = new SerialDemux().push(new Uint8Array([0x02, 0x01, ...lines[0], ...lines[1], ...lines[2]]));
  assert.equal(events.filter((e) => e.kind === 'smp').map(describe).slice(-2), lines.slice(1).map((l) => `smp:${hex(l)}`));
});

demuxSuite('a lost delimiter costs no frame; an SMP line cut by 0x00 or overlong is dropped', () => {
  const a = encodeBulkFrame({ type: BULK_DATA, session: 1, seq: 0, payload: ascii('first') });
  const b = encodeBulkFrame({ type: BULK_ACK, session: 1, seq: 0, payload: new Uint8Array(4) });
  let events = new SerialDemux().push(new Uint8Array([...withoutDelimiter(a), ...b]));
  assert.equal(events.map((e) => e.kind), ['bulk', 'bulk']);
  const line = encodeConsoleFrames(ascii('x'));
  events = new SerialDemux().push(new Uint8Array([0x06, 0x09, 0x41, 0x00, ...line, 0x06, 0x09, ...new Uint8Array(200).fill(0x41), 0x0a, ...line]));
  assert.equal(events.map((e) => e.kind), ['damaged', 'smp', 'damaged', 'smp']);
  assert.ok(MAX_WIRE > 4096 + 14);
});

// ---------------------------------------------------------------------------

const receiver = suite('bulk receiver (dock side)');

function collectingSink(total: number) {
  const bytes = new Uint8Array(total);
  let written = 0;
  return {
    bytes,
    get written() {
      return written;
    },
    write(offset: number, chunk: Uint8Array) {
      if (offset !== written) throw new Error(`sink written at ${offset}, expected ${written}`);
      bytes.set(chunk, offset);
      written += chunk.length;
    },
  };
}

const data = (session: number, seq: number, payload: Uint8Array): BulkFrame => ({ type: BULK_DATA, session, seq, payload });
const answer = (wires: Uint8Array[]) => wires.map((w) => decodeOk(w));

receiver('frames out of order within the window are held, then handed on in order; the ACK bitmap says what is held', () => {
  const total = 10 * 100 + 37;
  const source = randomBytes(total, 5);
  const sink = collectingSink(total);
  const r = new BulkReceiver({ session: 9, totalBytes: total, frameSize: 100, window: 16, sink });
  const frame = (seq: number) => data(9, seq, source.subarray(seq * 100, Math.min(total, seq * 100 + 100)));
  for (const seq of [10, 8, 3, 1]) {
    const [ack] = answer(r.receive(frame(seq)));
    assert.is(ack.type, BULK_ACK);
  }
  const [ack] = answer(r.receive(frame(3))); // a duplicate
  const parsed = parseAck(ack.payload)!;
  assert.is(parsed.next, 0);
  assert.equal([1, 3, 8, 10, 2].map((s) => ackCovers(parsed, s)), [true, true, true, true, false]);
  assert.is(r.framesDuplicate, 1);
  assert.is(r.buffered, 4);
  for (const seq of [0, 2, 4, 5, 6, 7, 9]) r.receive(frame(seq));
  assert.ok(r.done);
  assert.equal(sink.bytes, source);
  assert.is(r.bytesReceived, total);
  assert.is(r.framesOutOfOrder, 4);
  assert.is(parseAck(answer(r.receive(frame(4)))[0].payload)!.next, 11, 'after the end, a resend still gets its ACK');
});

receiver('a window of 16 never holds more than 16 frames; frames beyond it are dropped and acknowledged', () => {
  const r = new BulkReceiver({ session: 1, totalBytes: 64 * 10, frameSize: 10, window: 16, sink: collectingSink(640) });
  for (let seq = 63; seq >= 1; seq--) {
    const [ack] = answer(r.receive(data(1, seq, new Uint8Array(10))));
    assert.is(ack.type, BULK_ACK);
    assert.ok(r.buffered <= 16);
  }
  assert.is(r.maxBuffered, 15);
  assert.is(r.framesBeyondWindow, 63 - 15);
  r.receive(data(1, 0, new Uint8Array(10)));
  assert.is(r.next, 16);
});

receiver('another session gets ABORT 2; a wrong-sized frame ABORT 3; a failing sink ABORT 1, repeated for later frames', () => {
  const r = new BulkReceiver({ session: 1, totalBytes: 100, frameSize: 50, window: 4, sink: collectingSink(100) });
  let [f] = answer(r.receive(data(2, 0, new Uint8Array(50))));
  assert.equal([f.type, f.session, parseAbort(f.payload)!.reason], [BULK_ABORT, 2, ABORT_UNKNOWN_SESSION]);
  [f] = answer(r.receive(data(1, 1, new Uint8Array(49))));
  assert.equal([f.type, parseAbort(f.payload)!.reason], [BULK_ABORT, ABORT_PROTOCOL]);

  const failing = new BulkReceiver({
    session: 1,
    totalBytes: 100,
    frameSize: 50,
    window: 4,
    sink: {
      write() {
        throw new Error('flash program failed');
      },
    },
  });
  for (let i = 0; i < 2; i++) {
    [f] = answer(failing.receive(data(1, 0, new Uint8Array(50))));
    assert.is(f.type, BULK_ABORT);
    assert.is(parseAbort(f.payload)!.reason, ABORT_SINK_FAILED);
    assert.match(parseAbort(f.payload)!.text, /flash program failed/);
  }
});

// ---------------------------------------------------------------------------
// End to end over a simulated serial line, in simulated time: deterministic,
// and the line's speed is modelled so windowing shows in the elapsed time.

class SimClock implements BulkClock {
  private t = 0;
  private order = 0;
  private queue: { at: number; order: number; fire: () => void; cancelled: boolean }[] = [];

  now(): number {
    return this.t;
  }

  setTimer(ms: number, fire: () => void): () => void {
    const e = { at: this.t + Math.max(0, ms), order: this.order++, fire, cancelled: false };
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.queue[mid].at <= e.at) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, e);
    return () => {
      e.cancelled = true;
    };
  }

  /** Run events in time order until the promise settles. */
  async run<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    promise.then(
      () => (settled = true),
      () => (settled = true),
    );
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve)); // let promise callbacks run
      if (settled) return promise;
      const e = this.queue.shift();
      if (!e) throw new Error('the simulation ran out of events before the transfer ended');
      this.t = e.at;
      if (!e.cancelled) e.fire();
    }
  }
}

type Fault = (wire: Uint8Array, random: () => number) => { bytes: Uint8Array; delayMs: number }[];

const BAUD = 921_600;
const clean: Fault = (wire) => [{ bytes: wire, delayMs: 0 }];
const dropBytes =
  (p: number): Fault =>
  (wire, random) => [{ bytes: wire.filter(() => random() >= p), delayMs: 0 }];
const flipBits =
  (perBit: number): Fault =>
  (wire, random) => {
    const out = wire.slice();
    // gaps between flipped bits are geometric: exact per-bit odds without a draw per bit
    for (let bit = Math.floor(Math.log(1 - random()) / Math.log(1 - perBit)); bit < out.length * 8; bit += 1 + Math.floor(Math.log(1 - random()) / Math.log(1 - perBit))) {
      out[bit >> 3] ^= 1 << (bit & 7);
    }
    return [{ bytes: out, delayMs: 0 }];
  };
const reorderAndDuplicate: Fault = (wire, random) => {
  const out = [{ bytes: wire, delayMs: random() < 0.1 ? random() * 40 : 0 }];
  if (random() < 0.05) out.push({ bytes: wire, delayMs: random() * 40 });
  return out;
};
const dropAll: Fault = () => [];

/** One direction of the line: bytes take their time at the baud rate; `send` resolves when they are out. */
function simLine(clock: SimClock, fault: Fault, random: () => number, receive: (bytes: Uint8Array) => void) {
  let busyUntil = 0;
  return (wire: Uint8Array): Promise<void> => {
    const start = Math.max(clock.now(), busyUntil);
    busyUntil = start + (wire.length * 10 * 1000) / BAUD; // 8N1: ten bits a byte
    for (const { bytes, delayMs } of fault(wire, random)) {
      clock.setTimer(busyUntil + 0.5 + delayMs - clock.now(), () => {
        // delivered in random pieces, as a UART driver would hand them over
        for (let at = 0; at < bytes.length; ) {
          const n = 1 + Math.floor(random() * 300);
          receive(bytes.subarray(at, at + n));
          at += n;
        }
      });
    }
    return new Promise((resolve) => clock.setTimer(busyUntil - clock.now(), resolve));
  };
}

interface Run {
  stats: BulkSendStats | null;
  framesWritten: number;
  endedAtMs: number;
  error: unknown;
  sink: Uint8Array;
  receiver: BulkReceiver;
  source: Uint8Array;
}

async function transfer(options: {
  size: number;
  frameSize: number;
  window?: number;
  fault: Fault;
  seed: number;
  timeoutMs?: number;
  maxRetries?: number;
  sinkFailsAt?: number;
}): Promise<Run> {
  const { size, frameSize, window = 16, fault, seed, timeoutMs = 100, maxRetries = 20 } = options;
  const random = seededRandom(seed);
  const clock = new SimClock();
  const source = randomBytes(size, seed + 1);
  const sink = collectingSink(size);
  const session = 0x4242;
  const receiver = new BulkReceiver({
    session,
    totalBytes: size,
    frameSize,
    window,
    sink: {
      write(offset, bytes) {
        if (options.sinkFailsAt !== undefined && offset >= options.sinkFailsAt) throw new Error(`flash program failed at 0x${offset.toString(16)}`);
        sink.write(offset, bytes);
      },
    },
  });
  let listener: (frame: BulkFrame) => void = () => {};
  const hostDemux = new SerialDemux();
  const toHost = simLine(clock, fault, random, (bytes) => {
    for (const e of hostDemux.push(bytes)) if (e.kind === 'bulk') listener(e.frame);
  });
  const dockDemux = new SerialDemux();
  const toDock = simLine(clock, fault, random, (bytes) => {
    for (const e of dockDemux.push(bytes)) {
      if (e.kind !== 'bulk') continue;
      for (const wire of receiver.receive(e.frame)) void toHost(wire);
    }
  });
  const run: Run = { stats: null, framesWritten: 0, endedAtMs: 0, error: null, sink: sink.bytes, receiver, source };
  try {
    run.stats = await clock.run(
      sendBulk({
        session,
        data: source,
        frameSize,
        window,
        write: (wire) => {
          run.framesWritten++;
          return toDock(wire);
        },
        subscribe: (l) => {
          listener = l;
          return () => (listener = () => {});
        },
        timeoutMs,
        maxRetries,
        clock,
      }),
    );
  } catch (e) {
    run.error = e;
  }
  run.endedAtMs = clock.now();
  return run;
}

function arrivedExactly(run: Run): void {
  if (run.error) throw run.error;
  assert.ok(run.receiver.done);
  assert.ok(Buffer.from(run.sink).equals(Buffer.from(run.source)), 'the sink holds exactly the bytes sent');
  assert.ok(run.receiver.maxBuffered <= 16, `the receiver held ${run.receiver.maxBuffered} frames`);
}

const e2e = suite('bulk lane end to end: sender, simulated line, demux, receiver');

e2e('clean line: 1 MiB arrives byte-exact, with the line kept busy (no waiting for each ACK)', async () => {
  const run = await transfer({ size: KiB * KiB, frameSize: 1024, fault: clean, seed: 1 });
  arrivedExactly(run);
  const stats = run.stats!;
  assert.is(stats.framesSent, 1024);
  assert.is(stats.framesRetransmitted, 0);
  const lineMs = (stats.bytesOnWire * 10 * 1000) / BAUD;
  assert.ok(stats.elapsedMs < lineMs * 1.01 + 5, `took ${stats.elapsedMs.toFixed(0)} ms for ${lineMs.toFixed(0)} ms of line time`);
  assert.ok(stats.bytesOnWire <= 1024 * 1044, 'no more than the worst-case overhead');
});

e2e('a line that drops 2 % of bytes: 1 MiB arrives byte-exact', async () => {
  // a 1 KiB frame would almost never survive 2 % byte loss (0.98^1044); small frames do
  // a 32-byte frame takes 0.5 ms on the line: a timeout of 20 ms, not 100, keeps tail losses cheap
  const run = await transfer({ size: KiB * KiB, frameSize: 32, fault: dropBytes(0.02), seed: 2, maxRetries: 50, timeoutMs: 20 });
  arrivedExactly(run);
  assert.ok(run.stats!.framesRetransmitted > 0);
});

e2e('a line that flips bits at 1e-4 per bit: 1 MiB arrives byte-exact', async () => {
  const run = await transfer({ size: KiB * KiB, frameSize: 256, fault: flipBits(1e-4), seed: 3 });
  arrivedExactly(run);
  assert.ok(run.stats!.framesRetransmitted > 0);
});

e2e('a channel that reorders and duplicates frames: 1 MiB arrives byte-exact, the window bounds what is held', async () => {
  const run = await transfer({ size: KiB * KiB, frameSize: 1024, fault: reorderAndDuplicate, seed: 4, timeoutMs: 200 });
  arrivedExactly(run);
  assert.ok(run.receiver.framesOutOfOrder > 0 && run.receiver.framesDuplicate > 0);
  assert.ok(run.receiver.maxBuffered > 1);
});

e2e('a sink that throws ends the transfer with BulkTransferError reason 1 and the sink message', async () => {
  const run = await transfer({ size: 256 * KiB, frameSize: 1024, fault: clean, seed: 5, sinkFailsAt: 100 * KiB });
  assert.instance(run.error, BulkTransferError);
  const err = run.error as BulkTransferError;
  assert.is(err.kind, 'aborted');
  assert.is(err.reason, ABORT_SINK_FAILED);
  assert.match(err.text, /flash program failed at 0x19000/);
  assert.match(err.message, /could not store/);
});

e2e('a line that drops everything fails as too noisy within the retry budget', async () => {
  const run = await transfer({ size: 64 * KiB, frameSize: 1024, window: 8, fault: dropAll, seed: 6, timeoutMs: 50, maxRetries: 5 });
  assert.instance(run.error, BulkTransferError);
  const err = run.error as BulkTransferError;
  assert.is(err.kind, 'too-noisy');
  assert.match(err.message, /too noisy.*[Ll]ower the baud rate.*cable/s);
  assert.is(run.receiver.next, 0);
  // each of the 8 frames in the window is sent at most 1 + 5 times; each round is a timeout plus resending the window
  assert.ok(run.framesWritten <= 8 * 6 && run.framesWritten >= 6, `${run.framesWritten} frames written`);
  const windowMs = (8 * 1044 * 10 * 1000) / BAUD;
  assert.ok(run.endedAtMs <= 6 * (50 + windowMs) + 50, `gave up after ${run.endedAtMs.toFixed(0)} ms`);
});

e2e('the default (real) clock: a transfer over an asynchronous in-memory line', async () => {
  const size = 64 * KiB + 5;
  const source = randomBytes(size, 7);
  const sink = collectingSink(size);
  const receiver = new BulkReceiver({ session: 3, totalBytes: size, frameSize: 512, window: 8, sink });
  let listener: (frame: BulkFrame) => void = () => {};
  const hostDemux = new SerialDemux();
  const dockDemux = new SerialDemux();
  let lost = 0;
  const stats = await sendBulk({
    session: 3,
    data: source,
    frameSize: 512,
    window: 8,
    timeoutMs: 30,
    write: (wire) =>
      new Promise<void>((resolve) => {
        setImmediate(() => {
          if (lost++ % 17 !== 5) {
            for (const e of dockDemux.push(wire)) {
              if (e.kind !== 'bulk') continue;
              for (const back of receiver.receive(e.frame)) setImmediate(() => hostDemux.push(back).forEach((h) => h.kind === 'bulk' && listener(h.frame)));
            }
          }
          resolve();
        });
      }),
    subscribe: (l) => {
      listener = l;
      return () => (listener = () => {});
    },
  });
  assert.equal(sink.bytes, source);
  assert.ok(stats.framesRetransmitted > 0);
});

golden.run();
cobs.run();
frames.run();
demuxSuite.run();
receiver.run();
e2e.run();
