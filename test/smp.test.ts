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
import { SmpServer, GROUP_FS, GROUP_OS, GROUP_SETTINGS, RC } from '../firmware/smp/smp-server.ts';
import { ImageStore } from '../datastore/image-store.ts';
import { makePng } from './support/image-files.ts';
import { seededRandom } from '../simulator/seeded-random.ts';

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

framing('a decoder with a bounded buffer drops a frame announcing more than it takes, then decodes the next', () => {
  const big = encodeConsoleFrames(encodePacket({ op: 2, version: 1, flags: 0, group: GROUP_OS, sequence: 1, id: 0 }, { d: 'x'.repeat(5000) }));
  const small = encodeConsoleFrames(encodePacket({ op: 2, version: 1, flags: 0, group: GROUP_OS, sequence: 2, id: 0 }, { d: 'ok' }));
  const events = new ConsoleFrameDecoder(4096).push(new Uint8Array([...big, ...small]));
  const kinds = events.map((e) => e.kind);
  assert.is(kinds.filter((k) => k === 'packet').length, 1);
  assert.match((events.find((e) => e.kind === 'error') as { reason: string }).reason, /at most 4096/);
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

server('settings write, read and delete map to the runtime KvStore; errors are { err: { group, rc } }', () => {
  const tiers = new TierSet({ runtime: RuntimeStore.format(new SimFlash({ size: 64 * 1024, sectorSize: 4096, programUnit: 16 })) });
  const smp = new SmpServer({ tiers, dockId: 'abc', firmwareVersion: '1.0' });
  let seq = 0;
  const call = (op: number, group: number, id: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op, version: 1, flags: 0, group, sequence: seq++, id }, body))!).payload;
  assert.equal(call(2, GROUP_SETTINGS, 0, { name: 'net.ssid', val: new TextEncoder().encode('office') }), {});
  assert.is(new KvStore({ tiers }).get('net.ssid'), 'office');
  const read = call(0, GROUP_SETTINGS, 0, { name: 'net.ssid' });
  assert.equal(new TextDecoder().decode(read.val as Uint8Array), 'office');
  assert.equal(call(2, GROUP_SETTINGS, 1, { name: 'net.ssid' }), {});
  assert.equal(call(0, GROUP_SETTINGS, 0, { name: 'net.ssid' }), { err: { group: GROUP_SETTINGS, rc: RC.NO_ENTRY }, rsn: 'no setting named net.ssid' });
  assert.equal(call(2, 99, 0, {}), { err: { group: 99, rc: RC.NOT_SUPPORTED } });
  assert.match(String(call(0, GROUP_OS, 7, {}).output), /dock abc firmware 1\.0/);
  assert.equal(call(0, GROUP_OS, 6, {}), { buf_size: 4096, buf_count: 1 });
  assert.equal((call(2, GROUP_OS, 0, { d: 42 }) as { err: unknown }).err, { group: GROUP_OS, rc: RC.INVALID });
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
  assert.equal((notPng.err as { rc: number }).rc, RC.INVALID);
  assert.match(String(notPng.rsn), /not a PNG, BMP or JPEG/);
  const broken = png.slice();
  broken[40] ^= 0xff; // inside a chunk: its CRC no longer matches
  const bad = upload('/images/broken', broken);
  assert.equal((bad.err as { rc: number }).rc, RC.INVALID);
  assert.match(String(bad.rsn), /image "broken"/);
  assert.is(new ImageStore({ tiers }).info('broken'), undefined);
  const big = call(2, 0, { name: '/images/huge', off: 0, len: 5 * 1024 * 1024, data: png.subarray(0, 10) });
  assert.equal((big.err as { rc: number }).rc, RC.NO_MEMORY);
  assert.equal((call(0, 0, { name: '/images/none', off: 0 }).err as { rc: number }).rc, RC.NO_ENTRY);
});

golden.run();
framing.run();
server.run();
