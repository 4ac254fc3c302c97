// The JerryScript host's own HAL entries (simulator/engine/jerryscript/
// hal-flash.c, hal-crypto.c): its flash keeps the NOR rules (checked against
// a model written here from hal/flash.ts, and message for message against
// the simulator's flash), what it writes reads back identically through the
// Node flash code, and its crypto gives the specifications' known answers
// (FIPS 180-2 SHA-256, RFC 8032 Ed25519) and opens what Node's sealing seals.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, createHmac, createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JerryHost } from '../simulator/engine/jerryscript/jerry-host.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { FileFlash } from '../simulator/flash/file-flash.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { SimOtp } from '../simulator/security/sim-otp.ts';
import { SimKeystore } from '../simulator/security/sim-keystore.ts';
import { halErrorMessage } from '../simulator/engine/hal-functions.ts';
import { seal } from '../flash-scripts/security/seal-crypto.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { JERRY_SKIP } from './support/engines.ts';

const native = suite('the JerryScript host runs the flash, crypto, key store and OTP in C');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
/** In the engine: bytes as hex, and a call's outcome as 'ok', a value, or the error message. */
const ENGINE_HELPERS = `
  globalThis.hex = (ab) => Array.from(new Uint8Array(ab)).map((x) => (x < 16 ? '0' : '') + x.toString(16)).join('');
  globalThis.bytes = (h) => { const a = new Uint8Array(h.length / 2); for (let i = 0; i < a.length; i++) a[i] = parseInt(h.substr(2 * i, 2), 16); return a.buffer; };
  globalThis.outcome = (f) => { try { const v = f(); return v === undefined ? 'ok' : v; } catch (e) { return 'error ' + e.message; } };
  1`;

type Op = { op: 'erase'; sector: number } | { op: 'program'; at: number; data: string } | { op: 'read'; at: number; length: number } | { op: 'hash'; at: number; length: number };

/** hal/flash.ts's rules, written out independently: the outcome each operation must have, applied to `m`. */
class NorModel {
  cells: Uint8Array;
  programmed: Uint8Array;
  erases: Uint32Array;
  constructor(
    readonly size: number,
    readonly sector: number,
    readonly unit: number,
    readonly strict: boolean,
  ) {
    this.cells = new Uint8Array(size).fill(0xff);
    this.programmed = new Uint8Array(size / unit);
    this.erases = new Uint32Array(size / sector);
  }
  apply(o: Op): string {
    if (o.op === 'erase') {
      if (o.sector < 0 || o.sector >= this.size / this.sector) return `out-of-range:${o.sector}`;
      this.cells.fill(0xff, o.sector * this.sector, (o.sector + 1) * this.sector);
      this.programmed.fill(0, (o.sector * this.sector) / this.unit, ((o.sector + 1) * this.sector) / this.unit);
      this.erases[o.sector]++;
      return 'ok';
    }
    if (o.op === 'read' || o.op === 'hash') {
      if (o.at < 0 || o.at + o.length > this.size) return `out-of-range:${o.at}`;
      const view = this.cells.subarray(o.at, o.at + o.length);
      return o.op === 'read' ? hex(view) : createHash('sha256').update(view).digest('hex');
    }
    const data = Buffer.from(o.data, 'hex');
    if (o.at < 0 || o.at + data.length > this.size) return `out-of-range:${o.at}`;
    if (o.at % this.unit || data.length % this.unit) return `misaligned:${o.at}`;
    for (let i = 0; i < data.length; i++) if ((this.cells[o.at + i] & data[i]) !== data[i]) return `set-bit:${o.at + i}`;
    if (this.strict) for (let k = 0; k < data.length / this.unit; k++) if (this.programmed[o.at / this.unit + k]) return `reprogram:${o.at + k * this.unit}`;
    for (let i = 0; i < data.length; i++) this.cells[o.at + i] &= data[i];
    this.programmed.fill(1, o.at / this.unit, (o.at + data.length) / this.unit);
    return 'ok';
  }
}

/** Random operations, mostly legal, some breaking each rule; seeded. */
function randomOps(m: NorModel, seed: number, count: number): Op[] {
  const r = seededRandom(seed);
  const int = (n: number) => Math.floor(r() * n);
  const shadow = new NorModel(m.size, m.sector, m.unit, m.strict);
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const k = r();
    let o: Op;
    if (k < 0.12) o = { op: 'erase', sector: r() < 0.05 ? m.size / m.sector : int(m.size / m.sector) };
    else if (k < 0.3) o = { op: 'read', at: int(m.size - 64), length: int(64) + (r() < 0.03 ? m.size : 0) };
    else if (k < 0.36) o = { op: 'hash', at: int(m.size / 2), length: int(m.size / 2) };
    else {
      const units = 1 + int(4);
      let at = int(m.size / m.unit - units) * m.unit;
      if (r() < 0.05) at += 1 + int(m.unit - 1); // off a unit boundary
      if (r() < 0.03) at = m.size - m.unit; // runs past the end
      const current = shadow.cells.subarray(at, at + units * m.unit);
      const data = new Uint8Array(units * m.unit).map((_, j) => (r() < 0.1 ? int(256) : int(256) & (current[j] ?? 0xff))); // some set bits back
      o = { op: 'program', at, data: hex(data) };
    }
    shadow.apply(o);
    ops.push(o);
  }
  return ops;
}

/**
 * Run the operations in the engine on partition `name`, 50 per script: each
 * outcome as 'ok', hex, or the error message. (JerryScript 3.0 keeps every
 * literal a parsed script held until the engine ends: the data stays small.)
 */
function runInEngine(host: JerryHost, name: string, ops: Op[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < ops.length; i += 50) out.push(...runBatch(host, name, ops.slice(i, i + 50)));
  return out;
}

function runBatch(host: JerryHost, name: string, ops: Op[]): string[] {
  return host.eval(`(${JSON.stringify(ops)}).map((o) => outcome(() =>
    o.op === 'erase' ? __hal.flashErase(${JSON.stringify(name)}, o.sector)
    : o.op === 'program' ? __hal.flashProgram(${JSON.stringify(name)}, o.at, bytes(o.data))
    : o.op === 'read' ? hex(__hal.flashRead(${JSON.stringify(name)}, o.at, o.length))
    : hex(__hal.sha256Flash(${JSON.stringify(name)}, o.at, o.length))))`) as string[];
}

/** The same operations on the simulator's flash, in Node: the outcomes the C host must give word for word. */
function runOnSimFlash(f: SimFlash, ops: Op[]): string[] {
  const crypto = new NodeCrypto();
  return ops.map((o) => {
    try {
      if (o.op === 'erase') f.erase(o.sector);
      else if (o.op === 'program') f.program(o.at, new Uint8Array(Buffer.from(o.data, 'hex')));
      else if (o.op === 'read') {
        const into = new Uint8Array(o.length);
        f.read(o.at, into);
        return hex(into);
      } else return hex(crypto.sha256Flash(f, o.at, o.length));
      return 'ok';
    } catch (e) {
      return `error ${halErrorMessage(e)}`;
    }
  });
}

/** The model's verdict in the engine's terms: 'ok' or hex as is, an error by code and place. */
const verdict = (engine: string) => (engine.startsWith('error FLASH:') ? engine.split(':').slice(1, 3).join(':') : engine);

if (JERRY_SKIP) console.log(`skipped: JerryScript native HAL tests: ${JERRY_SKIP}`);
else {
  native('the C flash keeps the NOR rules (random seeded operations against a model and the simulator flash), mirrors wear and counters into the SimFlash, and its file reads back identically in Node', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl7450-native-flash-'));
    const filePath = join(dir, 'strict.flash');
    const geometry = { strict: { size: 64 * 1024, sectorSize: 4096, programUnit: 16 }, loose: { size: 64 * 1024, sectorSize: 8192, programUnit: 32, strictReprogram: false } };
    const strict = FileFlash.open(filePath, geometry.strict);
    const loose = new SimFlash(geometry.loose);
    const crypto = new NodeCrypto();
    const host = await JerryHost.start({ partitions: { strict, loose }, crypto });
    try {
      host.eval(ENGINE_HELPERS);
      for (const [name, flash, seed] of [['strict', strict, 7], ['loose', loose, 11]] as const) {
        const model = new NorModel(flash.size, flash.sectorSize, flash.programUnit, flash.strictReprogram);
        const twin = new SimFlash({ ...geometry[name] });
        const ops = randomOps(model, seed, 600);
        const got = runInEngine(host, name, ops);
        const expected = ops.map((o) => model.apply(o));
        assert.equal(got.map(verdict), expected, `${name}: each outcome as hal/flash.ts says`);
        const kinds = new Set(expected.map((e) => e.split(':')[0]));
        for (const k of ['ok', 'out-of-range', 'misaligned', 'set-bit', ...(name === 'strict' ? ['reprogram'] : [])]) assert.ok(kinds.has(k), `${name}: the operations include ${k}`);
        assert.equal(got, runOnSimFlash(twin, ops), `${name}: every outcome and message as the simulator's flash`);
        // What the C host did is mirrored into the partition object: bytes, wear, counters, modelled time.
        assert.equal(hex(flash.snapshot()), hex(model.cells), `${name}: the cells`);
        assert.equal(Array.from(flash.wear().counts), Array.from(model.erases), `${name}: erase counts`);
        for (const k of ['reads', 'bytesRead', 'programs', 'bytesProgrammed', 'erases', 'mutatingOps'] as const) assert.is(flash.stats[k], twin.stats[k], `${name}: stats.${k}`);
        assert.ok(Math.abs(flash.stats.timeUs - twin.stats.timeUs) < 1e-6 * twin.stats.timeUs, `${name}: modelled time ${flash.stats.timeUs} vs ${twin.stats.timeUs}`);
        assert.ok(model.programmed.some((p) => p) && model.erases.some((e) => e), `${name}: the run programmed and erased`);
      }
      assert.is(crypto.flashBytesHashed > 0, true, 'flash bytes the C host hashed are counted on the crypto object');
      assert.equal([...host.bridgedCalls.keys()].filter((k) => k.startsWith('flash') || k.startsWith('sha')), [], 'no flash or hash call crossed to Node');
      // A change made in Node while the C host runs the partition reaches it before the next request.
      strict.erase(3);
      strict.program(3 * 4096, new Uint8Array(16).fill(0x5a));
      assert.is(host.eval(`hex(__hal.flashRead('strict', ${3 * 4096}, 17))`), `${'5a'.repeat(16)}ff`);
      assert.match(host.eval(`outcome(() => __hal.flashProgram('strict', ${3 * 4096}, bytes('${'00'.repeat(16)}')))`) as string, /^error FLASH:reprogram:12288:/);
    } finally {
      host.dispose();
    }
    // The file, reopened by the Node flash code, holds exactly what the engine left (and what the SimFlash object mirrors).
    const left = strict.snapshot();
    strict.close();
    const again = FileFlash.open(filePath, geometry.strict);
    try {
      assert.equal(hex(again.snapshot()), hex(left));
      assert.equal(hex(readFileSync(filePath)), hex(left));
    } finally {
      again.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  native('a partition with a fault injected is handed back to the simulator flash (the power cut happens there), and lent again once the fault is gone; a second engine on a lent partition goes through the simulator flash', async () => {
    const flash = new SimFlash({ size: 32 * 1024, sectorSize: 4096, programUnit: 16 });
    const host = await JerryHost.start({ partitions: { p: flash } });
    try {
      host.eval(ENGINE_HELPERS);
      host.eval(`__hal.flashProgram('p', 0, bytes('${'11'.repeat(16)}')); 1`);
      assert.is(host.bridgedCalls.get('flashProgram'), undefined, 'run in C');
      flash.armPowerCut({ atOp: flash.opCount, effect: 'clean' });
      assert.match(host.eval(`outcome(() => __hal.flashProgram('p', 16, bytes('${'22'.repeat(16)}')))`) as string, /^error FLASH:power-loss:16:/);
      assert.is(host.bridgedCalls.get('flashProgram'), 1, 'the faulted partition crossed to Node');
      assert.is(flash.poweredOff, true);
      flash.powerOn();
      assert.is(host.eval(`outcome(() => __hal.flashProgram('p', 16, bytes('${'33'.repeat(16)}')))`), 'ok');
      assert.is(host.bridgedCalls.get('flashProgram'), 1, 'back in C after powerOn');
      assert.is(hex(flash.snapshot().subarray(0, 32)), '11'.repeat(16) + '33'.repeat(16));
      // A second engine on the same partition goes through the simulator flash while the first runs it in C: each sees the other's writes.
      const second = await JerryHost.start({ partitions: { p: flash } });
      try {
        second.eval(ENGINE_HELPERS);
        assert.is(second.eval(`outcome(() => __hal.flashProgram('p', 32, bytes('${'44'.repeat(16)}')))`), 'ok');
        assert.is(second.bridgedCalls.get('flashProgram'), 1, 'the second host crossed to Node');
        assert.is(host.eval(`hex(__hal.flashRead('p', 0, 48))`), '11'.repeat(16) + '33'.repeat(16) + '44'.repeat(16));
        host.eval(`__hal.flashProgram('p', 48, bytes('${'55'.repeat(16)}')); 1`);
        assert.is(second.eval(`hex(__hal.flashRead('p', 48, 16))`), '55'.repeat(16));
      } finally {
        second.dispose();
      }
    } finally {
      host.dispose();
    }
  });

  native('crypto in C gives the specifications’ answers: SHA-256 (FIPS 180-2 B.1, B.2, a million a’s from flash), Ed25519 verify (RFC 8032 §7.1 tests 1 and 2, and altered ones refused)', async () => {
    const flash = new SimFlash({ size: 1024 * 1024, sectorSize: 4096, programUnit: 256 });
    const million = new Uint8Array(1_000_192).fill(0xff).fill(0x61, 0, 1_000_000); // FIPS 180-2 B.3, padded to program units
    flash.program(0, million);
    const host = await JerryHost.start({ partitions: { f: flash }, crypto: new NodeCrypto() });
    try {
      host.eval(ENGINE_HELPERS);
      const sha = (text: string) => host.eval(`hex(__hal.sha256(bytes('${Buffer.from(text).toString('hex')}')))`);
      assert.is(sha('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
      assert.is(sha('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
      assert.is(sha(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
      assert.is(host.eval(`hex(__hal.sha256Flash('f', 0, 1000000))`), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
      const verify = (pk: string, msg: string, sig: string) => host.eval(`__hal.verifyEd25519(bytes('${pk}'), bytes('${msg}'), bytes('${sig}'))`);
      const t1 = { pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', msg: '', sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b' };
      const t2 = { pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', msg: '72', sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00' };
      assert.is(verify(t1.pk, t1.msg, t1.sig), true, 'RFC 8032 test 1');
      assert.is(verify(t2.pk, t2.msg, t2.sig), true, 'RFC 8032 test 2');
      assert.is(verify(t2.pk, '73', t2.sig), false, 'another message');
      assert.is(verify(t1.pk, t1.msg, `${t1.sig.slice(0, 10)}${t1.sig[10] === '0' ? '1' : '0'}${t1.sig.slice(11)}`), false, 'a changed signature');
      assert.is(verify(t2.pk, t2.msg, t1.sig), false, 'another key');
      assert.is(verify(t1.pk.slice(2), t1.msg, t1.sig), false, 'a 31-byte key');
      assert.is(verify(t1.pk, t1.msg, t1.sig.slice(2)), false, 'a 63-byte signature');
      assert.ok(['sha256', 'sha256Flash', 'verifyEd25519'].every((n) => host.nativeHal.has(n) && !host.bridgedCalls.has(n)), 'all in C');
    } finally {
      host.dispose();
    }
  });

  native('the key store and OTP in C, from the dock’s otp.json: the per-dock key as FORMAT.md §8 derives it, boxes Node sealed open (altered ones do not), the fuse burn reaches the file and Node', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl7450-native-otp-'));
    try {
      const manufacturer = new Uint8Array(generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).subarray(-32));
      SimOtp.burn(manufacturer, 'native-hal-test').save(join(dir, 'otp.json'));
      const otp = SimOtp.load(join(dir, 'otp.json'));
      const host = await JerryHost.start({ partitions: {}, otp, keystore: new SimKeystore(otp) });
      try {
        host.eval(ENGINE_HELPERS);
        assert.is(host.eval('__hal.otpDockId()'), otp.dockId());
        assert.is(host.eval('hex(__hal.otpManufacturerPublicKey())'), hex(manufacturer));
        assert.is(host.eval('hex(__hal.otpDeviceSecret())'), hex(otp.deviceSecret()));
        // The dock key derived here by hand: HKDF-SHA256 (RFC 5869) with no salt, then X25519's public key.
        const prk = createHmac('sha256', Buffer.alloc(32)).update(otp.deviceSecret()).digest();
        const d = createHmac('sha256', prk).update(Buffer.concat([Buffer.from('dl7450 per-dock x25519 v1'), Buffer.from([1])])).digest();
        const priv = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), d]), format: 'der', type: 'pkcs8' });
        const pub = new Uint8Array(createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(-32));
        assert.is(host.eval('hex(__hal.perDockPublicKey())'), hex(pub));
        const r = seededRandom(5);
        for (const size of [0, 1, 15, 16, 17, 300, 4096]) {
          const plain = new Uint8Array(size).map(() => Math.floor(r() * 256));
          const aad = new Uint8Array(Buffer.from(`section ${size}`));
          const box = seal(pub, plain, aad);
          const args = (b: typeof box, a: Uint8Array) => [b.ephemeralPublicKey, b.nonce, b.ciphertext, b.tag, a].map((x) => `bytes('${hex(x)}')`).join(', ');
          assert.is(host.eval(`hex(__hal.openSealed(${args(box, aad)}))`), hex(plain), `a ${size}-byte box opens`);
          const flipped = (x: Uint8Array) => x.map((v, i) => (i === 0 ? v ^ 1 : v));
          for (const bad of [{ ...box, tag: flipped(box.tag) }, { ...box, nonce: flipped(box.nonce) }, { ...box, ephemeralPublicKey: flipped(box.ephemeralPublicKey) }, ...(size ? [{ ...box, ciphertext: flipped(box.ciphertext) }] : [])])
            assert.is(host.eval(`__hal.openSealed(${args(bad, aad)}) === undefined`), true, `an altered ${size}-byte box does not open`);
          assert.is(host.eval(`__hal.openSealed(${args(box, new Uint8Array(Buffer.from('other')))}) === undefined`), true, 'other associated data');
          assert.is(host.eval(`__hal.openSealed(${args({ ...box, nonce: box.nonce.subarray(1) }, aad)}) === undefined`), true, 'an 11-byte nonce');
        }
        assert.is(host.eval('__hal.otpFactoryLocked()'), false);
        host.eval('__hal.otpLockFactory(); 1');
        assert.is(host.eval('__hal.otpFactoryLocked()'), true);
        assert.is(otp.factoryLocked(), true, 'Node’s OTP sees the burn');
        assert.is(JSON.parse(readFileSync(join(dir, 'otp.json'), 'utf8')).factoryLocked, true, 'the fuse is in the file');
        const inC = ['otpDockId', 'otpManufacturerPublicKey', 'otpDeviceSecret', 'otpFactoryLocked', 'perDockPublicKey', 'openSealed'];
        assert.ok(inC.every((n) => host.nativeHal.has(n) && !host.bridgedCalls.has(n)), `all in C: ${JSON.stringify([...host.bridgedCalls])}`);
      } finally {
        host.dispose();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

native.run();
