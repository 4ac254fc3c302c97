import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { SimOtp } from '../simulator/security/sim-otp.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { generateSigningKeys, loadPrivateKey, loadPublicKeyRaw } from '../flash-scripts/signing-keys.ts';
import { loadRomStoreConfig } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../flash-scripts/romstore/factory-image-builder.ts';
import { mountFactorySlots } from '../datastore/factory/factory-slots.ts';
import { FactoryStaging, FactoryWriteError } from '../datastore/factory/factory-staging.ts';
import { FlashError } from '../hal/flash.ts';
import { makeNoisePng } from './support/image-files.ts';
import { flashHolding } from './support/factory-flash.ts';

const SLOT = 64 * 1024;
const work = mkdtempSync(join(tmpdir(), 'dl7450-factory-write-'));
const keys = generateSigningKeys(join(work, 'keys'));
const otherKeys = generateSigningKeys(join(work, 'other'));
const crypto = new NodeCrypto();

function image(seed: number, signer = keys.privatePath): Uint8Array {
  writeFileSync(join(work, `bg${seed}.png`), makeNoisePng(60, 60, seed));
  writeFileSync(join(work, `c${seed}.yaml`), `images:\n  bg:\n    path: \${CONFIG_PATH}/bg${seed}.png\n    type: png\nkv_store:\n  generation: "${seed}"\n`);
  return buildFactoryImage(loadRomStoreConfig(join(work, `c${seed}.yaml`)), loadPrivateKey(signer), { partitionSize: SLOT, perDockCapacity: 4096, builtAt: 1000 + seed }).image;
}
const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const otp = () => SimOtp.burn(loadPublicKeyRaw(keys.publicPath), 'writer');
const served = (slots: SimFlash[], o = otp()) => {
  const m = mountFactorySlots(slots, crypto, o);
  return m.partition ? new TextDecoder().decode(m.partition.read('kv', 'generation')!) : null;
};

/** Stage, verify and commit in 1,000-byte pieces (not program-unit aligned) as the link delivers them. */
function writeImage(slots: SimFlash[], o: SimOtp, bytes: Uint8Array, expected = sha(bytes)): number {
  const m = mountFactorySlots(slots, crypto, o);
  const s = FactoryStaging.begin(slots, m.slots, m.active, o, bytes.length, expected);
  for (let off = 0; off < bytes.length; off += 1000) s.write(off, bytes.subarray(off, off + 1000));
  s.verify(crypto, o);
  return s.commit();
}

const imgA = image(1);
const imgB = image(2);
const imgC = image(3);

const slots = suite('factory slots: staged, verified, committed by one record program');

slots('a line-flashed slot 0 is served; a new image goes to slot 1 and wins once committed; the next goes back to slot 0', () => {
  const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
  const o = otp();
  assert.is(served(s), '1');
  assert.is(writeImage(s, o, imgB), 1);
  assert.equal(mountFactorySlots(s, crypto, o).active, 1);
  assert.is(served(s), '2');
  assert.is(writeImage(s, o, imgC), 2);
  assert.equal(mountFactorySlots(s, crypto, o).active, 0);
  assert.is(served(s), '3');
});

slots('bad input changes nothing: wrong digest, another signer, too large, out of order, a locked dock', () => {
  const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
  const o = otp();
  const damaged = imgB.slice();
  damaged[5000] ^= 0x10;
  const problem = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      assert.instance(e, FactoryWriteError);
      return (e as FactoryWriteError).problem;
    }
    return 'none';
  };
  assert.is(problem(() => writeImage(s, o, damaged, sha(imgB))), 'mismatch');
  assert.is(problem(() => writeImage(s, o, image(9, otherKeys.privatePath))), 'untrusted');
  assert.is(problem(() => FactoryStaging.begin(s, mountFactorySlots(s, crypto, o).slots, 0, o, SLOT, sha(imgB))), 'too-large');
  const st = FactoryStaging.begin(s, mountFactorySlots(s, crypto, o).slots, 0, o, imgB.length, sha(imgB));
  assert.is(problem(() => st.write(256, imgB.subarray(256, 512))), 'out-of-order');
  assert.is(problem(() => st.verify(crypto, o)), 'incomplete');
  assert.is(problem(() => st.commit()), 'not-verified');
  assert.is(served(s), '1');
  o.lockFactory();
  assert.is(problem(() => writeImage(s, o, imgB)), 'locked');
  assert.is(served(s), '1');
  assert.is(problem(() => FactoryStaging.begin([s[0]], [], 0, otp(), imgB.length, sha(imgB))), 'one-slot');
});

slots('a torn power cut at every flash operation of a factory write: the old image is served until the commit returned, the new one after; a re-run always completes', () => {
  let ops = 0;
  {
    const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
    s[1].resetOpCount();
    writeImage(s, otp(), imgB);
    ops = s[1].opCount;
  }
  assert.ok(ops > 20, `${ops} operations`);
  console.log(`    factory write: ${ops} flash operations, each cut torn and clean`);
  for (const effect of ['torn', 'clean'] as const) {
    for (let cut = 0; cut <= ops; cut++) {
      const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
      s[1].resetOpCount();
      s[1].armPowerCut({ atOp: cut, effect });
      let committed = false;
      try {
        writeImage(s, otp(), imgB);
        committed = true;
      } catch (e) {
        assert.instance(e, FlashError, `cut ${cut}: ${(e as Error).message}`);
      }
      s[1].powerOn();
      assert.is(committed, cut === ops, `cut ${cut}`);
      assert.is(served(s), committed ? '2' : '1', `cut ${cut} (${effect}): wrong image served`);
      // The host runs the write again from the start: it completes.
      writeImage(s, otp(), imgB);
      assert.is(served(s), '2', `cut ${cut}: re-run`);
    }
  }
});

slots('a committed slot whose flash rots later is passed over for the other slot', () => {
  const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
  writeImage(s, otp(), imgB);
  s[1].erase(2); // damage inside slot 1's image
  const m = mountFactorySlots(s, crypto, otp());
  assert.is(m.active, 0);
  assert.is(served(s), '1');
});

slots('only the bytes sent are judged: a short upload over an older image in the slot is not committed', () => {
  const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
  const o = otp();
  writeImage(s, o, imgB); // slot 1, generation 1
  writeImage(s, o, imgC); // slot 0, generation 2: slot 1 still holds B, whole
  const head = imgB.subarray(0, 4096);
  let err: unknown;
  try {
    writeImage(s, o, head, sha(head)); // B's first sector only, over B's old bytes
  } catch (e) {
    err = e;
  }
  assert.instance(err, FactoryWriteError);
  assert.is((err as FactoryWriteError).problem, 'incomplete');
  assert.is(served(s), '3');
});

slots('a staging that was abandoned or failed its checks is never served, even with no record anywhere to outrank it', () => {
  for (const fail of ['abandoned', 'check'] as const) {
    const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
    const o = otp();
    writeImage(s, o, imgB); // slot 1 served; the next staging goes to slot 0
    const m = mountFactorySlots(s, crypto, o);
    const st = FactoryStaging.begin(s, m.slots, m.active, o, imgC.length, sha(imgC));
    st.write(0, imgC);
    if (fail === 'check') assert.throws(() => st.verify(crypto, o, () => { throw new FactoryWriteError('untrusted', 'per-dock section refused'); }));
    s[1].erase(1); // slot 1 rots: slot 0 must not stand in with the uncommitted C
    assert.is(mountFactorySlots(s, crypto, o).partition, null, fail);
  }
});

slots.after(() => rmSync(work, { recursive: true, force: true }));
slots.run();
