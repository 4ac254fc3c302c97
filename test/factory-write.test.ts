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
import { FactoryService } from '../firmware/factory-service.ts';
import { SmpServer } from '../firmware/smp/smp-server.ts';
import { decodePacket, encodePacket } from '../firmware/smp/smp-packet.ts';
import { TierSet } from '../datastore/tiers/tier-set.ts';

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

slots.run();

const mcuboot = suite('MCUboot image state over the A/B slots: upload, test, reset, confirm; a reset without confirm reverts');

/** A dock booted on these slots: the boot's mount (which spends a trial), its factory service and SMP server. */
function bootDock(s: SimFlash[], o: SimOtp) {
  const mounted = mountFactorySlots(s, crypto, o);
  const smp = new SmpServer({ tiers: new TierSet({}), dockId: 'd', firmwareVersion: '1', factory: new FactoryService(s, mounted, crypto, o) });
  let seq = 0;
  const call = (v: number, op: number, id: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op, version: v, flags: 0, group: 1, sequence: seq++ & 0xff, id }, body))!).payload;
  const list = (): Record<string, unknown>[] => (call(1, 0, 0, {}).images as Record<string, unknown>[]).map((i) => ({ ...i, hash: i.hash ? Buffer.from(i.hash as Uint8Array).toString("hex") : undefined }));
  const upload = (bytes: Uint8Array) => {
    let r: Record<string, unknown> = {};
    for (let off = 0; off < bytes.length; ) {
      r = call(0, 2, 1, { off, data: bytes.subarray(off, off + 1800), ...(off === 0 ? { len: bytes.length, sha: sha(bytes) } : {}) });
      if (r.rc !== undefined) return r;
      off = r.off as number;
    }
    return r;
  };
  return { mounted, call, list, upload, served: () => (mounted.partition ? new TextDecoder().decode(mounted.partition.read('kv', 'generation')!) : null) };
}
const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const FLAGS = ['image', 'slot', 'version', 'hash', 'bootable', 'pending', 'confirmed', 'active', 'permanent'];

mcuboot('upload lists the slot with its hash; test → reset boots it on trial → confirm keeps it; test → reset → reset reverts; confirm <hash> of the reverted image makes it permanent', () => {
  const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
  const o = otp();
  let d = bootDock(s, o);
  assert.is(d.served(), '1');
  assert.equal(d.upload(imgB), { off: imgB.length });
  let l = d.list();
  for (const i of l) assert.equal(Object.keys(i).sort(), [...FLAGS, 'version'].filter((k, n, a) => a.indexOf(k) === n).sort(), 'every field for every slot');
  assert.equal([l[1].hash, l[1].bootable, l[1].pending, l[1].active, l[1].confirmed], [hexOf(sha(imgB)), true, false, false, false], 'the uploaded slot, hash from the file');
  assert.equal([l[0].active, l[0].confirmed, l[0].bootable], [true, true, true]);
  // Test (confirm false) marks it pending for one boot; nothing is served differently yet.
  assert.is(d.call(0, 2, 0, { hash: sha(imgB), confirm: false }).rc, undefined);
  l = d.list();
  assert.equal([l[1].pending, l[1].permanent], [true, false]);
  d = bootDock(s, o); // reset
  assert.is(d.served(), '2');
  l = d.list();
  assert.equal([l[1].active, l[1].confirmed, l[1].pending], [true, false, false], 'on trial: active, not confirmed');
  // A staging while on trial would overwrite the image a reset reverts to: IMG_MGMT_ERR_IMAGE_ALREADY_PENDING (28).
  assert.equal(d.call(1, 2, 1, { off: 0, len: imgC.length, sha: sha(imgC), data: imgC.subarray(0, 100) }).err, { group: 1, rc: 28 });
  // Confirm with no hash: the running image.
  assert.is(d.call(0, 2, 0, { confirm: true }).rc, undefined);
  assert.equal(d.list()[1].confirmed, true);
  d = bootDock(s, o);
  assert.is(d.served(), '2', 'confirmed: stays after a reset');

  // Next: C into slot 0, tested, and reset twice without a confirm.
  assert.equal(d.upload(imgC), { off: imgC.length });
  d.call(1, 2, 0, { hash: sha(imgC) });
  d = bootDock(s, o);
  assert.is(d.served(), '3', 'the trial boot');
  d = bootDock(s, o);
  assert.is(d.served(), '2', 'no confirm: reverted');
  l = d.list();
  assert.equal([l[0].hash, l[0].active, l[0].pending, l[0].bootable, l[1].active, l[1].confirmed], [hexOf(sha(imgC)), false, false, true, true, true]);
  d = bootDock(s, o);
  assert.is(d.served(), '2', 'stays reverted');
  // Confirm with C's hash: permanent at the next boot, without a trial.
  d.call(0, 2, 0, { hash: sha(imgC), confirm: true });
  l = d.list();
  assert.equal([l[0].pending, l[0].permanent], [true, true]);
  d = bootDock(s, o);
  assert.is(d.served(), '3');
  assert.equal(d.list()[0].confirmed, true);
  d = bootDock(s, o);
  assert.is(d.served(), '3');
});

mcuboot('refusals in both versions, numbers from img_mgmt_err_code_t: test of the running image (33), an unknown hash (8), test with no hash (24); v1 reads them translated', () => {
  const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
  const o = otp();
  const d = bootDock(s, o);
  d.upload(imgB);
  const running = d.list()[0].hash as string;
  assert.equal(d.call(1, 2, 0, { hash: new Uint8Array(Buffer.from(running, 'hex')), confirm: false }).err, { group: 1, rc: 33 });
  assert.equal(d.call(1, 2, 0, { hash: new Uint8Array(32), confirm: false }).err, { group: 1, rc: 8 });
  assert.equal(d.call(1, 2, 0, { confirm: false }).err, { group: 1, rc: 24 });
  // v1: TEST_TO_ACTIVE_DENIED and HASH_NOT_FOUND → MGMT_ERR_EUNKNOWN (1), INVALID_HASH → MGMT_ERR_EINVAL (3) (Zephyr's img_mgmt_translate_error_code).
  assert.is(d.call(0, 2, 0, { hash: new Uint8Array(32), confirm: false }).rc, 1);
  assert.is(d.call(0, 2, 0, { confirm: false }).rc, 3);
  // A wrong-key image is refused on its last chunk (INVALID_TLV, 5) and nothing is listed for it.
  const foreign = image(9, otherKeys.privatePath);
  let r: Record<string, unknown> = {};
  for (let off = 0; off < foreign.length && !r.err; off += 1800) r = d.call(1, 2, 1, { off, data: foreign.subarray(off, off + 1800), ...(off === 0 ? { len: foreign.length, sha: sha(foreign) } : {}) });
  assert.equal(r.err, { group: 1, rc: 5 });
  assert.is(d.list()[1].hash, undefined);
  assert.is(bootDock(s, o).served(), '1');
});

mcuboot('a torn or clean power cut at every flash operation of test, trial boot, confirm, revert and re-confirm leaves a bootable, verified image: the old or the new', () => {
  const o = otp();
  type Phase = { name: string; target: number; run: (s: SimFlash[]) => void; allowed: string[] };
  // Starting state for each phase, built without cuts.
  const start = () => {
    const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
    bootDock(s, o).upload(imgB);
    return s;
  };
  const tested = () => {
    const s = start();
    bootDock(s, o).call(1, 2, 0, { hash: sha(imgB) });
    return s;
  };
  const onTrial = () => {
    const s = tested();
    bootDock(s, o);
    return s;
  };
  const reverted = () => {
    const s = onTrial();
    bootDock(s, o);
    return s;
  };
  const phases: [Phase, () => SimFlash[]][] = [
    [{ name: 'test', target: 1, run: (s) => void bootDock(s, o).call(1, 2, 0, { hash: sha(imgB) }), allowed: ['1', '2'] }, start],
    [{ name: 'trial boot', target: 1, run: (s) => void bootDock(s, o), allowed: ['1', '2'] }, tested],
    // The trial boot and the confirm within it (a second boot would already revert).
    [{ name: 'trial boot and confirm', target: 1, run: (s) => void bootDock(s, o).call(1, 2, 0, { confirm: true }), allowed: ['1', '2'] }, tested],
    [{ name: 'revert boot', target: 1, run: (s) => void bootDock(s, o), allowed: ['1'] }, onTrial],
    [{ name: 're-confirm of the reverted', target: 1, run: (s) => void bootDock(s, o).call(1, 2, 0, { hash: sha(imgB), confirm: true }), allowed: ['1', '2'] }, reverted],
  ];
  let cuts = 0;
  for (const [phase, make] of phases) {
    const probe = make();
    probe[phase.target].resetOpCount();
    phase.run(probe);
    const ops = probe[phase.target].opCount;
    // A revert writes nothing (the spent trial is passed over), so it cannot be cut: the boot itself must serve the old image.
    if (phase.name === 'revert boot') assert.is(ops, 0);
    else assert.ok(ops >= 1, `${phase.name}: ${ops} operations`);
    if (ops === 0) assert.is(bootDock(make(), o).served(), '1');
    for (const effect of ['torn', 'clean'] as const) {
      for (let cut = 0; cut < ops; cut++) {
        const s = make();
        s[phase.target].resetOpCount();
        s[phase.target].armPowerCut({ atOp: cut, effect });
        try {
          phase.run(s);
        } catch (e) {
          assert.instance(e, FlashError, `${phase.name} cut ${cut}: ${(e as Error).message}`);
        }
        s[phase.target].powerOn();
        cuts++;
        // Every later boot serves a verified image (mount hashes it and checks its signature).
        for (let boot = 0; boot < 3; boot++) {
          const served = bootDock(s, o).served();
          assert.ok(served !== null && phase.allowed.includes(served), `${phase.name} cut ${cut} (${effect}), boot ${boot}: served ${served}`);
        }
      }
    }
  }
  assert.ok(cuts >= 10, `${cuts} cuts`);
  console.log(`    image state: ${cuts} power cuts over test, trial boot, confirm, revert, re-confirm`);
});

mcuboot('the image lane hashes the slot once: the last chunk verifies, the commit after it reuses that digest; anything that changes the staging makes it hash again or refuse', () => {
  const s = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
  const o = otp();
  const counting = new NodeCrypto();
  const mounted = mountFactorySlots(s, counting, o);
  const factory = new FactoryService(s, mounted, counting, o);
  const smp = new SmpServer({ tiers: new TierSet({}), dockId: 'd', firmwareVersion: '1', factory });
  let seq = 0;
  const call = (group: number, id: number, body: Record<string, unknown>) => decodePacket(smp.handle(encodePacket({ op: 2, version: 1, flags: 0, group, sequence: seq++ & 0xff, id }, body))!).payload;
  const upload = (bytes: Uint8Array) => {
    for (let off = 0; off < bytes.length; ) off = call(1, 1, { off, data: bytes.subarray(off, off + 1800), ...(off === 0 ? { len: bytes.length, sha: sha(bytes) } : {}) }).off as number;
  };
  const before = counting.flashBytesHashed;
  upload(imgB);
  // Verifying hashes the bytes sent, then the mount's own checks (its signed region) read them again.
  const verification = counting.flashBytesHashed - before;
  assert.ok(verification >= imgB.length, `the last chunk verified the image (${verification} bytes hashed)`);
  const committed = call(64, 3, { sha: sha(imgB) });
  assert.equal(committed.sha, sha(imgB));
  assert.is(counting.flashBytesHashed - before, verification, 'the commit hashed nothing more');
  assert.is(mountFactorySlots(s, crypto, o).active, 1, 'and it is the committed image');

  // A new staging after a verified one: the old digest is not the new staging's.
  const s2 = [flashHolding(imgA, SLOT), new SimFlash({ size: SLOT, sectorSize: 4096, programUnit: 256 })];
  const f2 = new FactoryService(s2, mountFactorySlots(s2, counting, o), counting, o);
  f2.begin(imgB.length, sha(imgB));
  f2.write(0, imgB);
  f2.finishUpload();
  f2.begin(imgC.length, sha(imgC));
  assert.throws(() => f2.commit(sha(imgB)), (e: unknown) => e instanceof FactoryWriteError && e.problem === 'mismatch');
  f2.write(0, imgC);
  const at = counting.flashBytesHashed;
  f2.commit(sha(imgC));
  assert.ok(counting.flashBytesHashed - at >= imgC.length, 'the new staging was hashed at its commit');
});

mcuboot.after(() => rmSync(work, { recursive: true, force: true }));
mcuboot.run();
