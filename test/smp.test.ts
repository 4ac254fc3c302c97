import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { TierSet } from '../datastore/tiers/tier-set.ts';
import { KvStore } from '../datastore/kv-store.ts';
import { crc16Xmodem } from '../firmware/smp/crc16.ts';
import { base64Decode, base64Encode } from '../firmware/smp/base64.ts';
import { decodePacket, encodePacket } from '../firmware/smp/smp-packet.ts';
import { ConsoleFrameDecoder, encodeConsoleFrames, MAX_LINE } from '../firmware/smp/smp-console-frame.ts';
import { SmpServer, DOCK, GROUP_DOCK, GROUP_FS, GROUP_OS, GROUP_SETTINGS } from '../firmware/smp/smp-server.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { makePng } from './support/image-files.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { DockSerial } from '../firmware/link/dock-serial.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

const golden = suite('SMP wire format: golden bytes');

// Computed independently (Python: struct, base64, a bitwise CRC-16/XMODEM) and pinned here:
// an SMP v2 echo of "hi", sequence 0x2a, as a serial console frame.
const ECHO_REQUEST = '06094142414b4141414741414171414b46685a474a6f6151686f0a';
const ECHO_RESPONSE = '06094142414c4141414741414171414b4668636d4a6f615538330a';

golden('CRC-16/XMODEM and base64 match their standard check values', () => {
  assert.is(crc16Xmodem(new TextEncoder().encode('123456789')), 0x31c3);
  assert.is(base64Encode(new TextEncoder().encode('foobar')), 'Zm9vYmFy');
  assert.is(base64Encode(new TextEncoder().encode('fo')), 'Zm8=');
  assert.equal(base64Decode('Zm9vYg=='), new TextEncoder().encode('foob'));
  assert.is(base64Decode('Zm9v!'), null);
});

golden('an echo of "hi" with sequence 0x2a is exactly these bytes, and the dock answers with exactly these', () => {
  const packet = encodePacket({ op: 2, version: 1, flags: 0, group: GROUP_OS, sequence: 0x2a, id: 0 }, { d: 'hi' });
  assert.is(hex(encodeConsoleFrames(packet)), ECHO_REQUEST);
  const server = new SmpServer({ tiers: new TierSet({}), dockId: 'x', firmwareVersion: '0' });
  const events = new ConsoleFrameDecoder().push(Buffer.from(ECHO_REQUEST, 'hex'));
  assert.is(events.length, 1);
  assert.is(events[0].kind, 'packet');
  const response = server.handle((events[0] as { packet: Uint8Array }).packet)!;
  assert.is(hex(encodeConsoleFrames(response)), ECHO_RESPONSE);
  assert.equal(decodePacket(response).payload, { r: 'hi' });
});

const framing = suite('SMP console framing: long packets, noise, pieces');

framing('a large packet spans continuation lines of at most 127 bytes and decodes fed one byte at a time', () => {
  const packet = encodePacket({ op: 2, version: 1, flags: 0, group: GROUP_OS, sequence: 1, id: 0 }, { d: 'x'.repeat(700) });
  const wire = encodeConsoleFrames(packet);
  const lines = Buffer.from(wire).toString('latin1').split('\n').filter((l) => l.length > 0);
  assert.ok(lines.length > 5);
  assert.ok(lines.every((l) => l.length + 1 <= MAX_LINE));
  assert.ok(lines[0].startsWith('\x06\x09') && lines.slice(1).every((l) => l.startsWith('\x04\x14')));
  const decoder = new ConsoleFrameDecoder();
  const events = [...wire].flatMap((b) => decoder.push(new Uint8Array([b])));
  assert.equal(events.map((e) => e.kind), ['packet']);
  assert.equal((events[0] as { packet: Uint8Array }).packet, packet);
});

framing('console text passes through; a damaged frame is reported and dropped; the next frame still decodes', () => {
  const good = encodeConsoleFrames(encodePacket({ op: 0, version: 1, flags: 0, group: GROUP_OS, sequence: 2, id: 0 }, { d: 'ok' }));
  const damaged = good.slice();
  damaged[10] = damaged[10] === 0x41 ? 0x42 : 0x41; // one base64 character changed
  const stream = new Uint8Array([...new TextEncoder().encode('boot: hello\n'), ...damaged, ...good]);
  const events = new ConsoleFrameDecoder().push(stream);
  assert.equal(events.map((e) => e.kind), ['console', 'error', 'packet']);
  assert.match((events[1] as { reason: string }).reason, /CRC|base64|bytes/);
});

framing('a decoder with a bounded buffer drops a frame announcing more than it takes (reporting its SMP header), then decodes the next', () => {
  const big = encodeConsoleFrames(encodePacket({ op: 2, version: 1, flags: 0, group: GROUP_OS, sequence: 1, id: 0 }, { d: 'x'.repeat(5000) }));
  const small = encodeConsoleFrames(encodePacket({ op: 2, version: 1, flags: 0, group: GROUP_OS, sequence: 2, id: 0 }, { d: 'ok' }));
  const events = new ConsoleFrameDecoder(4096).push(new Uint8Array([...big, ...small]));
  assert.equal(events.map((e) => e.kind), ['oversize', 'packet'], 'the skipped continuation lines are not reported one by one');
  const over = events[0] as { reason: string; header: Uint8Array; announced: number };
  assert.match(over.reason, /at most 4096/);
  // The request's own header: write (2) v2 → 0x0a, flags 0, length 5006 = 0x138e, group 0, sequence 1, id 0.
  assert.is(hex(over.header), '0a00138e00000100');
  assert.equal(decodePacket((events.find((e) => e.kind === 'packet') as { packet: Uint8Array }).packet).payload, { d: 'ok' });
});

framing('random line noise never crashes the decoder or yields a packet that fails its CRC', () => {
  const random = seededRandom(4);
  const good = encodeConsoleFrames(encodePacket({ op: 2, version: 1, flags: 0, group: GROUP_OS, sequence: 3, id: 0 }, { d: 'payload' }));
  let packets = 0;
  for (let i = 0; i < 3000; i++) {
    const wire = good.slice();
    const flips = Math.floor(random() * 3);
    for (let k = 0; k < flips; k++) wire[Math.floor(random() * wire.length)] ^= 1 << Math.floor(random() * 8);
    for (const e of new ConsoleFrameDecoder().push(wire)) {
      if (e.kind === 'packet') {
        packets++;
        assert.equal(decodePacket(e.packet).payload, { d: 'payload' }, `case ${i}: a damaged packet got through`);
      }
    }
  }
  assert.ok(packets > 500, `${packets} clean cases decoded`);
});

const server = suite('SMP server: OS and settings groups on the runtime store');

server('settings write, read and delete map to the runtime KvStore; a v2 group error is err {group 3, rc 3 (KEY_NOT_FOUND)}; no handler is rc 8', () => {
  const tiers = new TierSet({ runtime: RuntimeStore.format(new SimFlash({ size: 64 * 1024, sectorSize: 4096, programUnit: 16 })) });
  const smp = new SmpServer({ tiers, dockId: 'abc', firmwareVersion: '1.0' });
  let seq = 0;
  const call = (op: number, group: number, id: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op, version: 1, flags: 0, group, sequence: seq++, id }, body))!).payload;
  assert.equal(call(2, GROUP_SETTINGS, 0, { name: 'net.ssid', val: new TextEncoder().encode('office') }), {});
  assert.is(new KvStore({ tiers }).get('net.ssid'), 'office');
  const read = call(0, GROUP_SETTINGS, 0, { name: 'net.ssid' });
  assert.equal(new TextDecoder().decode(read.val as Uint8Array), 'office');
  assert.equal(call(2, GROUP_SETTINGS, 1, { name: 'net.ssid' }), {});
  // smp_group_3: SETTINGS_MGMT_ERR_KEY_NOT_FOUND is 3.
  assert.equal(call(0, GROUP_SETTINGS, 0, { name: 'net.ssid' }), { err: { group: 3, rc: 3 }, rsn: 'no setting named net.ssid' });
  // mcumgr_err_t: MGMT_ERR_ENOTSUP is 8, MGMT_ERR_EINVAL 3 (top-level: errors of SMP itself, not of a group).
  assert.equal(call(2, 99, 0, {}), { rc: 8 });
  assert.match(String(call(0, GROUP_OS, 7, {}).output), /dock abc firmware 1\.0/);
  assert.equal(call(0, GROUP_OS, 6, {}), { buf_size: 4096, buf_count: 1 });
  assert.is(call(2, GROUP_OS, 0, { d: 42 }).rc, 3);
});

server('file system group: /images/<tag> upload is checked and stored in the runtime tier, download streams it back; bad bytes are refused with why', () => {
  const tiers = new TierSet({ runtime: RuntimeStore.format(new SimFlash({ size: 1024 * 1024, sectorSize: 4096, programUnit: 16 })) });
  const smp = new SmpServer({ tiers, dockId: 'abc', firmwareVersion: '1.0' });
  let seq = 0;
  const call = (op: number, id: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op, version: 1, flags: 0, group: GROUP_FS, sequence: seq++ & 0xff, id }, body))!).payload;
  const png = makePng(64, 48);
  const upload = (name: string, bytes: Uint8Array) => {
    let answer: Record<string, unknown> = {};
    for (let off = 0; off < bytes.length; off += 700) {
      answer = call(2, 0, { name, off, data: bytes.subarray(off, off + 700), ...(off === 0 ? { len: bytes.length } : {}) });
      if (answer.err) return answer;
    }
    return answer;
  };
  assert.equal(upload('/images/logo', png), { off: png.length });
  const info = new ImageStore({ tiers }).info('logo')!;
  assert.equal([info.tier, info.width, info.height, info.size], ['runtime', 64, 48, png.length]);
  const back: number[] = [];
  let len = -1;
  for (let off = 0; len < 0 || off < len; ) {
    const r = call(0, 0, { name: '/images/logo', off });
    if (off === 0) len = r.len as number;
    back.push(...(r.data as Uint8Array));
    off += (r.data as Uint8Array).length;
  }
  assert.equal(new Uint8Array(back), png);
  const notPng = upload('/images/fake', new TextEncoder().encode('this is not an image at all'));
  // fs_mgmt_err_code_t: FILE_WRITE_FAILED 10, FILE_NOT_FOUND 3; too large for the heap is SMP's ENOMEM (2).
  assert.equal(notPng.err, { group: 8, rc: 10 });
  assert.match(String(notPng.rsn), /not a PNG, BMP or JPEG/);
  const broken = png.slice();
  broken[40] ^= 0xff; // inside a chunk: its CRC no longer matches
  const bad = upload('/images/broken', broken);
  assert.equal(bad.err, { group: 8, rc: 10 });
  assert.match(String(bad.rsn), /image "broken"/);
  assert.is(new ImageStore({ tiers }).info('broken'), undefined);
  const big = call(2, 0, { name: '/images/huge', off: 0, len: 5 * 1024 * 1024, data: png.subarray(0, 10) });
  assert.is(big.rc, 2);
  assert.equal(call(0, 0, { name: '/images/none', off: 0 }).err, { group: 8, rc: 3 });
});

server('an upload in parts survives other requests failing between its parts; only a refused part of that upload ends it (seeded)', () => {
  const random = seededRandom(1414);
  const tiers = new TierSet({ runtime: RuntimeStore.format(new SimFlash({ size: 1024 * 1024, sectorSize: 4096, programUnit: 16 })) });
  const smp = new SmpServer({ tiers, dockId: 'abc', firmwareVersion: '1.0' });
  let seq = 0;
  const call = (op: number, group: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op, version: 1, flags: 0, group, sequence: seq++ & 0xff, id: 0 }, body))!).payload;
  const value = new Uint8Array(9000).map(() => Math.floor(random() * 256));
  const png = makePng(40, 40);
  // Requests that fail, sent between parts: a read of a missing setting, a write of a bad one, a download of a missing image,
  // another setting's stray part, an fs part for another file.
  const failures: [number, number, Record<string, unknown>][] = [
    [0, GROUP_SETTINGS, { name: 'no.such.setting' }],
    [2, GROUP_SETTINGS, { name: 'bad.type', val: new Uint8Array([1]), type: 'float' }],
    [2, GROUP_SETTINGS, { name: 'other', off: 512, val: new Uint8Array(4) }],
    [0, GROUP_FS, { name: '/images/missing', off: 0 }],
    [2, GROUP_FS, { name: '/images/other', off: 100, data: new Uint8Array(4) }],
  ];
  let vOff = 0;
  let fOff = 0;
  while (vOff < value.length || fOff < png.length) {
    if (vOff < value.length) {
      const n = 500 + Math.floor(random() * 1500);
      const r = call(2, GROUP_SETTINGS, { name: 'blob', off: vOff, val: value.subarray(vOff, vOff + n), ...(vOff === 0 ? { len: value.length, type: 'bytes' } : {}) });
      assert.is(r.off, Math.min(vOff + n, value.length), JSON.stringify(r));
      vOff = r.off as number;
    }
    const [op, group, body] = failures[Math.floor(random() * failures.length)];
    const failed = call(op, group, body);
    assert.ok(failed.err !== undefined || failed.rc !== undefined, `${JSON.stringify(body)} fails`);
    if (fOff < png.length) {
      const r = call(2, GROUP_FS, { name: '/images/logo', off: fOff, data: png.subarray(fOff, fOff + 700), ...(fOff === 0 ? { len: png.length } : {}) });
      assert.is(r.off, Math.min(fOff + 700, png.length), JSON.stringify(r));
      fOff = r.off as number;
    }
  }
  assert.equal(new KvStore({ tiers }).get('blob'), value);
  assert.equal(new ImageStore({ tiers }).info('logo')?.size, png.length);
  // A refused part of the upload itself (a gap) ends it: the next part is told to start again.
  assert.equal(call(2, GROUP_SETTINGS, { name: 'again', off: 0, len: 3000, val: value.subarray(0, 1000) }), { off: 1000 });
  assert.is(call(2, GROUP_SETTINGS, { name: 'again', off: 2000, val: value.subarray(2000, 3000) }).rc, 3, 'a gap is refused (MGMT_ERR_EINVAL)');
  assert.match(String(call(2, GROUP_SETTINGS, { name: 'again', off: 1000, val: value.subarray(1000, 2000) }).rsn), /start at off 0/);
});

server('a value larger than the heap takes is streamed to the runtime tier: the key keeps its old value until the last part while other writes go on; a stalled or refused stream is dropped', () => {
  const tiers = new TierSet({ runtime: RuntimeStore.format(new SimFlash({ size: 4 * 1024 * 1024, sectorSize: 4096, programUnit: 16 })) });
  let now = 1_000_000;
  const smp = new SmpServer({ tiers, dockId: 'abc', firmwareVersion: '1.0', clock: { now: () => now } });
  let seq = 0;
  const call = (body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op: 2, version: 1, flags: 0, group: GROUP_SETTINGS, sequence: seq++ & 0xff, id: 0 }, body))!).payload;
  const kv = new KvStore({ tiers });
  kv.set('blob', 'old');
  const random = seededRandom(77);
  const value = new Uint8Array(300 * 1024).map(() => Math.floor(random() * 256));
  const send = (from: number, to: number) => {
    for (let off = from; off < to; off += 3000) assert.equal(call({ name: 'blob', off, val: value.subarray(off, Math.min(off + 3000, to)), ...(off === 0 ? { len: value.length, type: 'bytes' } : {}) }), { off: Math.min(off + 3000, to) });
  };
  // Half sent, then the client goes quiet: the old value reads, and the app's writes go on (format v3
  // streams a value this size into sectors of its own, named only when the last part commits).
  send(0, 150_000);
  assert.is(kv.get('blob'), 'old');
  kv.set('other', 1);
  assert.is(kv.get('other'), 1);
  assert.is(kv.get('blob'), 'old');
  now += 10_001;
  smp.expireStalled(now);
  kv.set('other', 1);
  assert.is(kv.get('blob'), 'old', 'a dropped stream leaves the old value');
  assert.match(String(call({ name: 'blob', off: 150_000, val: value.subarray(150_000, 153_000) }).rsn), /start at off 0/);
  // A refused part (a gap) drops it too.
  send(0, 30_000);
  assert.is(call({ name: 'blob', off: 60_000, val: value.subarray(60_000, 63_000) }).rc, 3);
  kv.set('other', 2);
  // Whole, with a retried part on the way: stored once, byte for byte.
  send(0, 90_000);
  assert.equal(call({ name: 'blob', off: 87_000, val: value.subarray(87_000, 90_000) }), { off: 90_000 });
  send(90_000, value.length);
  assert.equal(kv.get('blob'), value);
});

server('a settings value streamed in parts (larger than the heap) is refused for every name a whole write is refused for, with the same answer, v1 and v2; nothing is written', () => {
  const flash = new SimFlash({ size: 4 * 1024 * 1024, sectorSize: 4096, programUnit: 16 });
  const tiers = new TierSet({ runtime: RuntimeStore.format(flash) });
  const smp = new SmpServer({ tiers, dockId: 'abc', firmwareVersion: '1.0' });
  let seq = 0;
  const call = (version: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op: 2, version, flags: 0, group: GROUP_SETTINGS, sequence: seq++ & 0xff, id: 0 }, body))!).payload;
  new KvStore({ tiers }).set('kept', 'old');
  const len = 300 * 1024; // past the 256 KiB a value is assembled in: streamed to flash as it comes (FORMAT.md)
  const part = new Uint8Array(3000).fill(0x5a);
  // Names a settings tool can send that the KvStore refuses: the namespace separator, and names past the runtime key (255 bytes) less `kv/` (and `wifi` + separator).
  const names: [string, string | undefined, RegExp][] = [
    ['a\u001fb', undefined, /invalid key/],
    ['\u001fkept', undefined, /invalid key/],
    ['k'.repeat(253), undefined, /at most 252 bytes/],
    ['\u00e9'.repeat(127), undefined, /254 bytes of UTF-8; keys are at most 252/],
    ['k'.repeat(248), 'wifi', /at most 247 bytes/],
  ];
  for (const version of [0, 1]) {
    for (const [name, ns, why] of names) {
      const label = `v${version + 1} ${JSON.stringify(name).slice(0, 30)}${ns ? ` in ${ns}` : ''}`;
      const ops = flash.opCount;
      const whole = call(version, { name, ...(ns ? { ns } : {}), val: part.subarray(0, 10), type: 'bytes' });
      const first = call(version, { name, ...(ns ? { ns } : {}), off: 0, len, type: 'bytes', val: part });
      assert.match(String(whole.rsn), why, `${label}: ${JSON.stringify(whole)}`);
      assert.equal(first, whole, `${label}: the streamed first part gets the whole write's answer`);
      // rc 3 (MGMT_ERR_EINVAL) for v1; v2: a name too long is the settings group's KEY_TOO_LONG (2), a bad name SMP's EINVAL.
      if (/at most/.test(String(whole.rsn))) assert.equal(version === 0 ? whole.rc : whole.err, version === 0 ? 3 : { group: 3, rc: 2 }, label);
      else assert.is(whole.rc, 3, label);
      // Nothing written, nothing left open: the next part is told to start again, the runtime tier takes writes.
      assert.match(String(call(version, { name, ...(ns ? { ns } : {}), off: 3000, val: part }).rsn), /start at off 0/, label);
      assert.is(flash.opCount, ops, `${label}: no flash operation`);
      assert.equal(tiers.runtime!.keys(), ['kv/kept'], label);
    }
  }
  // A name both accept streams as before.
  for (let off = 0; off < len; off += 3000) call(1, { name: 'fine', off, val: part.subarray(0, Math.min(3000, len - off)), ...(off === 0 ? { len, type: 'bytes' } : {}) });
  assert.is((new KvStore({ tiers }).get('fine') as Uint8Array).length, len);
});

server('a factory reset mid-stream ends the stream (the rest is refused, the reset store holds none of it); stalls are timed on the monotonic clock, not the settable date', () => {
  const flash = new SimFlash({ size: 4 * 1024 * 1024, sectorSize: 4096, programUnit: 16 });
  const tiers = new TierSet({ runtime: RuntimeStore.format(flash) });
  let date = 1_000_000;
  let ticks = 5_000;
  const smp = new SmpServer({ tiers, dockId: 'abc', firmwareVersion: '1.0', clock: { now: () => date, set: (ms: number) => void (date = ms) }, ticks: { now: () => ticks } });
  let seq = 0;
  const call = (group: number, id: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op: 2, version: 1, flags: 0, group, sequence: seq++ & 0xff, id }, body))!).payload;
  const value = new Uint8Array(300 * 1024).map((_, i) => (i * 7) & 0xff);
  const part = (off: number) => call(GROUP_SETTINGS, 0, { name: 'blob', off, val: value.subarray(off, off + 3000), ...(off === 0 ? { len: value.length, type: 'bytes' } : {}) });
  for (let off = 0; off < 150_000; off += 3000) assert.equal(part(off), { off: off + 3000 });
  // The date jumps a year ahead between parts (a datetime write): the stream is not taken for stalled.
  date += 365 * 24 * 3600 * 1000;
  smp.expireStalled(ticks);
  assert.equal(part(150_000), { off: 153_000 });
  assert.equal(call(GROUP_DOCK, DOCK.FACTORY_RESET, {}), {});
  assert.is(part(153_000).rc, 6, 'the rest of the stream is refused after the reset (MGMT_ERR_EBADSTATE)');
  const kv = new KvStore({ tiers });
  for (let i = 0; i < 300; i++) kv.set(`k${i}`, new Uint8Array(2000).fill(i & 0xff));
  const again = new KvStore({ tiers: new TierSet({ runtime: RuntimeStore.open(flash) }) });
  assert.is(again.get('blob'), '', 'no part of the value in the reset store');
  assert.equal(again.get('k299'), new Uint8Array(2000).fill(299 & 0xff));
  ticks += 10_001;
  smp.expireStalled(ticks); // nothing open: harmless
});

const versions = suite('SMP v1 and v2: each version answered in the form its clients read');

// Hand-encoded from the SMP specification (header: Res|Ver|OP, flags, length, group, seq, id; CBOR map):
// "no handler" is a top-level rc 8 (MGMT_ERR_ENOTSUP) in both versions; only the version bits differ.
const UNKNOWN_GROUP_V1 = '0300000500630700a162726308';
const UNKNOWN_GROUP_V2 = '0b00000500630700a162726308';
// settings read of a missing key "a", sequence 9: v1 {rc: 5 (MGMT_ERR_ENOENT), rsn}; v2 {err: {group: 3, rc: 3 (KEY_NOT_FOUND)}, rsn}.
const MISSING_SETTING_V1 = '0100001c00030900a2627263056372736e726e6f2073657474696e67206e616d65642061';
const MISSING_SETTING_V2 = '0900002800030900a263657272a26567726f757003627263036372736e726e6f2073657474696e67206e616d65642061';

const runtimeServer = () => new SmpServer({ tiers: new TierSet({ runtime: RuntimeStore.format(new SimFlash({ size: 256 * 1024, sectorSize: 4096, programUnit: 16 })) }), dockId: 'abc', firmwareVersion: '1.0' });
const raw = (version: number, op: number, group: number, seq: number, id: number, cborHex: string) => {
  const body = Buffer.from(cborHex, 'hex');
  return new Uint8Array([(version << 3) | op, 0, body.length >> 8, body.length & 0xff, group >> 8, group & 0xff, seq, id, ...body]);
};

versions('golden bytes: no handler (rc 8) and a settings group error, in v1 and in v2', () => {
  const smp = runtimeServer();
  assert.is(hex(smp.handle(raw(0, 2, 99, 7, 0, 'a0'))!), UNKNOWN_GROUP_V1);
  assert.is(hex(smp.handle(raw(1, 2, 99, 7, 0, 'a0'))!), UNKNOWN_GROUP_V2);
  // {"name": "a"}
  assert.is(hex(smp.handle(raw(0, 0, 3, 9, 0, 'a1646e616d656161'))!), MISSING_SETTING_V1);
  assert.is(hex(smp.handle(raw(1, 0, 3, 9, 0, 'a1646e616d656161'))!), MISSING_SETTING_V2);
});

versions('an unknown command of a known group is rc 8 in both versions; a version-3 request gets rc 13 (too new) in a v2 header', () => {
  const smp = runtimeServer();
  for (const v of [0, 1]) assert.equal(decodePacket(smp.handle(raw(v, 0, 0, 1, 99, 'a0'))!).payload, { rc: 8 });
  const r = decodePacket(smp.handle(raw(2, 0, 0, 1, 0, 'a0'))!);
  assert.is(r.header.version, 1);
  assert.is(r.payload.rc, 13);
  assert.is(r.payload.err, undefined);
  // A payload that is not CBOR: MGMT_ERR_EINVAL (3), top level.
  assert.is(decodePacket(smp.handle(raw(0, 2, 0, 1, 0, 'ff00'))!).payload.rc, 3);
});

versions('every group and command id 0-15, read and write, empty and wrong bodies: v1 answers never carry err; v2 group errors name the request group', () => {
  const random = seededRandom(14);
  const smp = runtimeServer();
  const bodies = ['a0', 'a1646e616d6563782e79', 'a2636f666600646461746141ff', 'a1616401'];
  let refusals = 0;
  for (const group of [0, 1, 2, 3, 8, 9, 63, 64, 65]) {
    for (let id = 0; id < 16; id++) {
      for (const op of [0, 2]) {
        if (group === 0 && id === 5) continue; // reset: no reset line here, answered rc 8 like any command without a handler
        const body = bodies[Math.floor(random() * bodies.length)];
        for (const v of [0, 1]) {
          const seq = Math.floor(random() * 256);
          const answer = decodePacket(smp.handle(raw(v, op, group, seq, id, body))!);
          assert.equal([answer.header.op, answer.header.version, answer.header.group, answer.header.sequence, answer.header.id], [op + 1, v, group, seq, id]);
          const p = answer.payload;
          if (v === 0) assert.is(p.err, undefined, `v1 ${group}/${id}/${op}: a v1 client reads only rc`);
          if (p.err !== undefined) assert.is((p.err as { group: number }).group, group);
          if (p.rc !== undefined || p.err !== undefined) refusals++;
          if (v === 0 && p.rc === undefined) assert.is(p.err, undefined);
        }
      }
    }
  }
  assert.ok(refusals > 300, `${refusals} refusals seen`);
});

versions('settings group complete: read (max_size), write, delete, commit, load, save; values are bytes; errors per version', () => {
  const smp = runtimeServer();
  let seq = 0;
  const call = (v: number, op: number, id: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op, version: v, flags: 0, group: 3, sequence: seq++ & 0xff, id }, body))!).payload;
  const bytes = new Uint8Array([0, 1, 2, 0xff]);
  assert.equal(call(0, 2, 0, { name: 'blob', val: bytes }), {});
  assert.equal(call(0, 0, 0, { name: 'blob' }), { val: bytes, type: 'bytes' }); // type: our extension (clients ignore keys they do not know)
  assert.equal(call(1, 2, 2, {}), {}, 'commit');
  assert.equal(call(1, 0, 3, {}), {}, 'load');
  assert.equal(call(1, 2, 3, {}), {}, 'save');
  // max_size smaller than the value: MGMT_ERR_EMSGSIZE (7).
  assert.is(call(1, 0, 0, { name: 'blob', max_size: 2 }).rc, 7);
  assert.equal(call(1, 2, 1, { name: 'blob' }), {});
  assert.is(call(0, 2, 1, { name: 'blob' }).rc, 5, 'v1: KEY_NOT_FOUND translated to MGMT_ERR_ENOENT');
  assert.equal(call(1, 2, 1, { name: 'blob' }).err, { group: 3, rc: 3 });
  // A name past 255 bytes: KEY_TOO_LONG (2); v1 reads MGMT_ERR_EINVAL (3).
  assert.equal(call(1, 0, 0, { name: 'k'.repeat(300) }).err, { group: 3, rc: 2 });
  assert.is(call(0, 0, 0, { name: 'k'.repeat(300) }).rc, 3);
});

versions('a refused fs upload ends a v1 client\'s transfer (it reads rc) and a v2 client\'s (it reads err): no restart from 0', () => {
  const smp = runtimeServer();
  let seq = 0;
  // A client as mcumgr's: stop on a non-zero rc (v1) or err (v2); otherwise continue from the answer's off (0 when absent).
  const client = (v: number, name: string, file: Uint8Array) => {
    let off = 0;
    for (let requests = 1; requests <= 50; requests++) {
      const p = decodePacket(smp.handle(encodePacket({ op: 2, version: v, flags: 0, group: 8, sequence: seq++ & 0xff, id: 0 }, { name, off, data: file.subarray(off, off + 512), ...(off === 0 ? { len: file.length } : {}) }))!).payload;
      const failed = v === 0 ? typeof p.rc === 'number' && p.rc !== 0 : (typeof p.rc === 'number' && p.rc !== 0) || p.err !== undefined;
      if (failed) return { requests, answer: p };
      off = typeof p.off === 'number' ? p.off : 0;
      if (off >= file.length) return { requests, answer: p };
    }
    return { requests: Infinity, answer: {} };
  };
  const text = new TextEncoder().encode('not an image '.repeat(100));
  for (const v of [0, 1]) {
    const outside = client(v, '/etc/passwd', text);
    assert.is(outside.requests, 1, `v${v + 1}: a path outside /images/ is refused at once`);
    const notImage = client(v, '/images/x', text);
    assert.is(notImage.requests, Math.ceil(text.length / 512), `v${v + 1}: the refusal comes on the last chunk and ends it`);
    if (v === 0) assert.equal([outside.answer.rc, notImage.answer.rc], [3, 1], 'v1: FILE_INVALID_NAME → EINVAL, FILE_WRITE_FAILED → EUNKNOWN');
    else assert.equal([outside.answer.err, notImage.answer.err], [{ group: 8, rc: 2 }, { group: 8, rc: 10 }]);
  }
});

versions('OS group: datetime read and set on the dock clock, taskstat lists the app and SMP tasks, params advertise the buffer; mpstat is rc 8', () => {
  let now = Date.UTC(2026, 10, 29, 9, 30, 15, 250);
  const smp = new SmpServer({ tiers: new TierSet({}), dockId: 'd', firmwareVersion: '1', clock: { now: () => now, set: (ms) => (now = ms) }, appTask: () => ({ running: true }) });
  let seq = 0;
  const call = (v: number, op: number, id: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op, version: v, flags: 0, group: 0, sequence: seq++ & 0xff, id }, body))!).payload;
  assert.equal(call(1, 0, 4, {}), { datetime: '2026-11-29T09:30:15.250000' });
  assert.equal(call(1, 2, 4, { datetime: '2027-01-02T03:04:05+01:00' }), {});
  assert.is(now, Date.UTC(2027, 0, 2, 2, 4, 5));
  // OS_MGMT_ERR_INVALID_FORMAT is 2; v1 reads MGMT_ERR_EINVAL (3).
  assert.equal(call(1, 2, 4, { datetime: '2027-02-30T00:00:00' }).err, { group: 0, rc: 2 });
  assert.is(call(0, 2, 4, { datetime: 'tomorrow' }).rc, 3);
  assert.is(now, Date.UTC(2027, 0, 2, 2, 4, 5), 'a refused set changes nothing');
  const tasks = call(0, 0, 2, {}).tasks as Record<string, Record<string, number>>;
  assert.equal(Object.keys(tasks).sort(), ['app', 'smp']);
  for (const t of Object.values(tasks)) for (const f of ['prio', 'tid', 'state', 'stkuse', 'stksiz', 'cswcnt', 'runtime', 'last_checkin', 'next_checkin']) assert.type(t[f], 'number');
  assert.equal(call(0, 0, 6, {}), { buf_size: 4096, buf_count: 1 });
  for (const v of [0, 1]) assert.equal(call(v, 0, 3, {}), { rc: 8 }, 'mpstat');
});

versions('a request longer than the dock\'s buffer is answered rc 7 (MGMT_ERR_EMSGSIZE) with the buffer size, not silence; the line then works', () => {
  const smp = runtimeServer();
  const serial = new DockSerial((p) => smp.handle(p));
  for (const v of [0, 1]) {
    const big = encodeConsoleFrames(encodePacket({ op: 2, version: v, flags: 0, group: 3, sequence: 40 + v, id: 0 }, { name: 'big', val: new Uint8Array(5000) }));
    const events = new ConsoleFrameDecoder().push(serial.rx(big));
    assert.is(events.length, 1);
    const answer = decodePacket((events[0] as { packet: Uint8Array }).packet);
    assert.equal([answer.header.op, answer.header.version, answer.header.group, answer.header.sequence], [3, v, 3, 40 + v]);
    assert.is(answer.payload.rc, 7);
    assert.match(String(answer.payload.rsn), /at most 4096/);
  }
  const echo = new ConsoleFrameDecoder().push(serial.rx(encodeConsoleFrames(encodePacket({ op: 2, version: 1, flags: 0, group: 0, sequence: 3, id: 0 }, { d: 'after' }))));
  assert.equal(decodePacket((echo[0] as { packet: Uint8Array }).packet).payload, { r: 'after' });
});

versions('an answer too large for an SMP packet (16-bit length) is refused rc 7 (MGMT_ERR_EMSGSIZE) with why, in both versions', () => {
  const names = Array.from({ length: 9000 }, (_, i) => `key.number.${i}`);
  const smp = new SmpServer({ tiers: new TierSet({}), dockId: 'd', firmwareVersion: '1', inspect: () => ({ names }) });
  for (const v of [0, 1]) {
    const r = decodePacket(smp.handle(raw(v, 0, 64, 5, 1, 'a0'))!).payload;
    assert.is(r.rc, 7);
    assert.match(String(r.rsn), /at most 65535/);
  }
});

golden.run();
versions.run();
framing.run();
server.run();
