import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { linkDock, factoryImageFor } from './support/link-dock.ts';
import { flashFactoryImage, FactoryFlashError } from '../flash-scripts/link/factory-flash.ts';
import { SmpError } from '../flash-scripts/link/smp-client.ts';
import { LinkError } from '../flash-scripts/link/transport.ts';
import { SimulatedDock } from '../simulator/simulated-dock.ts';
import { readSlotRecord } from '../datastore/factory/factory-slots.ts';
import { DOCK, GROUP_DOCK, GROUP_OS, OS_RESET } from '../firmware/smp/smp-server.ts';
import { encodeBulkFrame, BULK_DATA } from '../firmware/link/bulk-frame.ts';

const hex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function dockName(client: { request: SmpClientLike['request'] }): Promise<string> {
  return new TextDecoder().decode((await client.request(0, 3, 0, { name: 'dock_name' })).val as Uint8Array);
}
type SmpClientLike = import('../flash-scripts/link/smp-client.ts').SmpClient;

const lanes = suite('factory image over the link: bulk lane and SMP lane, verified and committed atomically');

lanes('bulk lane: staged into slot 1, the dock hashes exactly what it stored, committed; served after a restart; then the SMP lane writes slot 0', async () => {
  const d = await linkDock();
  try {
    const image = factoryImageFor(d.dir, 'Flashed By Bulk');
    assert.is(await dockName(d.client), 'DL-7450 Demo Dock');
    const r = await flashFactoryImage(d.client, image, { lane: 'bulk' });
    assert.is(r.lane, 'bulk');
    assert.is(r.dockSha256, hex(image), "the dock's own SHA-256 of what it stored");
    assert.equal([r.slot, r.generation], [1, 1]);
    // And what the dock wrote in the slot's commit record, read off its flash.
    assert.is(Buffer.from(readSlotRecord(d.dock.partition('factory-b'))!.sha256).toString('hex'), hex(image));
    // Committed but not yet served: the running dock keeps its image until a restart.
    assert.is(await dockName(d.client), 'DL-7450 Demo Dock');
    const state = await d.client.request(0, 1, 0, {});
    const slot1 = (state.images as { slot: number; hash?: Uint8Array; pending: boolean }[])[1];
    assert.is(Buffer.from(slot1.hash!).toString('hex'), hex(image));
    assert.ok(slot1.pending);
    await d.client.request(2, GROUP_OS, OS_RESET, {});
    await d.client.awaitDock();
    assert.is(await dockName(d.client), 'Flashed By Bulk');
    const inspect = await d.client.request(0, GROUP_DOCK, DOCK.INSPECT, {});
    assert.match(String((inspect.boot as { factory: string }).factory), /slot 1, generation 1/);

    const second = factoryImageFor(d.dir, 'Flashed By SMP');
    const s = await flashFactoryImage(d.client, second, { lane: 'smp' });
    assert.equal([s.lane, s.slot, s.generation], ['smp', 0, 2]);
    await d.client.request(2, GROUP_OS, OS_RESET, {});
    await d.client.awaitDock();
    assert.is(await dockName(d.client), 'Flashed By SMP');
  } finally {
    await d.close();
  }
});

lanes('bad images change nothing: the host refuses a wrong-key, damaged, truncated or oversize image before sending a byte; the dock refuses them on its own too', async () => {
  const d = await linkDock();
  try {
    const foreign = factoryImageFor(d.dir, 'Foreign', 0, true);
    const good = factoryImageFor(d.dir, 'Good');
    const flipped = good.slice();
    flipped[Math.floor(good.length / 2)] ^= 0x04;
    const cases: [string, Uint8Array, RegExp][] = [
      ['another key', foreign, /signature/],
      ['one bit flipped', flipped, /digest|SHA-256/],
      // Cut inside its trailer (header bytes 28-31: trailerOffset, little-endian).
      ['truncated', good.subarray(0, new DataView(good.buffer, good.byteOffset).getUint32(28, true) + 50), /signature|trailer/],
      ['too large for a slot', new Uint8Array(13 * 1024 * 1024 - 100), /bytes too many/],
    ];
    const slot = d.dock.partition('factory-b');
    for (const [what, bytes, why] of cases) {
      const before = slot.opCount;
      let err: unknown;
      try {
        await flashFactoryImage(d.client, bytes);
      } catch (e) {
        err = e;
      }
      assert.instance(err, FactoryFlashError, what);
      assert.match((err as Error).message, why, what);
      assert.is(slot.opCount, before, `${what}: not one flash operation on the slot (nothing was sent)`);
    }
    // Without the host's checks the dock refuses by itself; its group-64 codes are mcumgr_err_t: ECORRUPT 9, ENOMEM 2.
    let err: unknown;
    try {
      await flashFactoryImage(d.client, foreign, { precheck: false });
    } catch (e) {
      err = e;
    }
    assert.instance(err, SmpError);
    assert.equal([(err as SmpError).group, (err as SmpError).rc], [64, 9]);
    assert.match((err as Error).message, /not committed.*signature/);
    err = undefined;
    try {
      await flashFactoryImage(d.client, new Uint8Array(13 * 1024 * 1024 - 100), { precheck: false });
    } catch (e) {
      err = e;
    }
    assert.instance(err, SmpError);
    assert.is((err as SmpError).rc, 2);
    assert.match((err as Error).message, /bytes too many/);
    assert.is(readSlotRecord(d.dock.partition('factory-b')), null, 'nothing was committed');
    assert.is(await dockName(d.client), 'DL-7450 Demo Dock');
  } finally {
    await d.close();
  }
});

lanes('MCUboot flow over the link, as a v1 mcumgr client drives it, with the firmware in its engine: upload → list → test → reset (trial) → reset reverts → test → reset → confirm → reset keeps it', async () => {
  const d = await linkDock();
  try {
    const image = factoryImageFor(d.dir, 'Tested Image');
    const sha = new Uint8Array(createHash('sha256').update(image).digest());
    const v1 = { version: 0 as const };
    const list = async () => (await d.client.request(0, 1, 0, {}, v1)).images as { slot: number; hash?: Uint8Array; bootable: boolean; pending: boolean; confirmed: boolean; active: boolean; permanent: boolean }[];
    const reset = async () => {
      await d.client.request(2, GROUP_OS, OS_RESET, {}, v1);
      await d.client.awaitDock();
    };
    for (let off = 0; off < image.length; ) off = (await d.client.request(2, 1, 1, { off, data: image.subarray(off, off + 2048), ...(off === 0 ? { len: image.length, sha } : {}) }, v1)).off as number;
    let l = await list();
    assert.is(Buffer.from(l[1].hash!).toString('hex'), hex(image), 'image list shows the uploaded slot\'s hash (the SHA-256 of the file)');
    assert.equal([l[1].bootable, l[1].pending, l[1].active], [true, false, false]);
    await d.client.request(2, 1, 0, { hash: sha, confirm: false }, v1);
    assert.equal((await list())[1].pending, true);
    await reset();
    assert.is(await dockName(d.client), 'Tested Image', 'the trial boot');
    l = await list();
    assert.equal([l[1].active, l[1].confirmed], [true, false]);
    await reset();
    assert.is(await dockName(d.client), 'DL-7450 Demo Dock', 'no confirm: reverted');
    await d.client.request(2, 1, 0, { hash: sha, confirm: false }, v1);
    await reset();
    assert.is(await dockName(d.client), 'Tested Image');
    await d.client.request(2, 1, 0, { confirm: true }, v1); // confirm the running image
    assert.equal((await list())[1].confirmed, true);
    await reset();
    assert.is(await dockName(d.client), 'Tested Image', 'confirmed: kept');
  } finally {
    await d.close();
  }
});

lanes('a resent image-upload chunk whose answer was lost is acknowledged (rc 0, off = the image length), v1 and v2, also after image test consumed the upload; a different image or an offset past the image keeps its error; nothing changes', async () => {
  for (const version of [0, 1] as const) {
    const d = await linkDock();
    try {
      const image = factoryImageFor(d.dir, `Resent v${version + 1}`);
      const other = factoryImageFor(d.dir, 'Another Image');
      const sha = new Uint8Array(createHash('sha256').update(image).digest());
      const otherSha = new Uint8Array(createHash('sha256').update(other).digest());
      const o = { version };
      const up = (body: Record<string, unknown>) => d.client.request(2, 1, 1, body, o);
      // As mcumgr / smpclient send it: len and sha on the first chunk only, each next off from the answer.
      let off = 0;
      let last = 0;
      while (off < image.length) {
        last = off;
        off = (await up({ off, data: image.subarray(off, off + 2048), ...(off === 0 ? { len: image.length, sha } : {}) })).off as number;
      }
      assert.ok(last > 0, 'the image takes more than one chunk');
      const lastChunk = { off: last, data: image.subarray(last) };
      const firstChunk = { off: 0, data: image.subarray(0, 2048), len: image.length, sha };
      const slot = d.dock.partition('factory-b');
      const refusal = async (body: Record<string, unknown>) => {
        try {
          await up(body);
        } catch (e) {
          if (e instanceof SmpError) return { rc: e.rc, group: e.groupError };
          throw e;
        }
        return null;
      };
      // The last chunk's answer was lost: the client sends it again.
      const ops = slot.opCount;
      assert.equal(await up(lastChunk), { off: image.length }, `v${version + 1}: a resent last chunk is acknowledged`);
      assert.is(slot.opCount, ops, 'and writes nothing');
      // The client then tests the image; a late resend of the last chunk, or of a one-chunk image's only chunk, arrives after it.
      await d.client.request(2, 1, 0, { hash: sha, confirm: false }, o);
      const listed = await d.client.request(0, 1, 0, {}, o);
      const opsAfterTest = slot.opCount;
      assert.equal(await up(lastChunk), { off: image.length }, `v${version + 1}: resent last chunk after test`);
      assert.equal(await up({ ...lastChunk, len: image.length, sha }), { off: image.length }, `v${version + 1}: with its len and sha`);
      assert.equal(await up(firstChunk), { off: image.length }, `v${version + 1}: resent first chunk (same len and sha) after test`);
      assert.equal(await up({ off: 2048, data: image.subarray(2048, 4096) }), { off: image.length }, `v${version + 1}: any chunk below the end`);
      // Not the same image, or past its end: refused as before (v1 rc / v2 err {group 1, code}).
      const pendingRc = version === 0 ? { rc: 6, group: false } : { rc: 28, group: true }; // BAD_STATE / IMAGE_ALREADY_PENDING
      const noUploadRc = version === 0 ? { rc: 1, group: false } : { rc: 17, group: true }; // UNKNOWN / FLASH_CONTEXT_NOT_SET
      assert.equal(await refusal({ off: 0, data: other.subarray(0, 2048), len: other.length, sha: otherSha }), pendingRc, 'another image: still waits for a restart');
      assert.equal(await refusal({ ...lastChunk, sha: otherSha }), noUploadRc, 'a chunk naming another sha');
      assert.equal(await refusal({ ...lastChunk, len: image.length + 1 }), noUploadRc, 'a chunk naming another len');
      assert.equal(await refusal({ off: image.length + 2048, data: image.subarray(0, 16) }), noUploadRc, 'an offset past the image');
      assert.equal(await d.client.request(0, 1, 0, {}, o), listed, 'the image list is as it was');
      assert.is(slot.opCount, opsAfterTest, 'no flash operation on the slot for any of them');
      assert.ok(opsAfterTest > ops, 'the test itself did program its mark (the counter counts)');
      assert.is(Buffer.from(readSlotRecord(slot)!.sha256).toString('hex'), hex(image));
    } finally {
      await d.close();
    }
  }
});

const faults = suite('link faults: noise, a pulled cable, a dock restart, a power cut mid-commit, a locked dock');

faults('noise on the line (bit errors 1e-5 per bit and 1 dropped byte in 10,000, both ways): both lanes complete through retransmission and commit the exact image', async () => {
  const d = await linkDock({ lineNoise: { bitErrorRate: 1e-5, dropRate: 1e-4, seed: 11 } });
  try {
    const image = factoryImageFor(d.dir, 'Through Noise', 300 * 1024);
    let t = performance.now();
    const r = await flashFactoryImage(d.client, image, { lane: 'bulk', bulkTimeoutMs: 100 });
    console.log(`    noise, bulk lane: ${image.length} bytes, ${r.retransmittedFrames} frames resent, ${(performance.now() - t).toFixed(0)} ms`);
    assert.is(r.dockSha256, hex(image), "the dock's own SHA-256 of what it stored");
    assert.ok(r.retransmittedFrames > 0, `${r.retransmittedFrames} frames resent`);
    await d.client.request(2, GROUP_OS, OS_RESET, {}, { timeoutMs: 500, attempts: 5 });
    await d.client.awaitDock();
    t = performance.now();
    const s = await flashFactoryImage(d.client, factoryImageFor(d.dir, 'Through Noise 2'), { lane: 'smp', requestTimeoutMs: 150 });
    console.log(`    noise, SMP lane: ${s.bytes} bytes, ${d.client.retries} requests resent, ${(performance.now() - t).toFixed(0)} ms`);
    assert.is(s.lane, 'smp');
    assert.ok(d.client.retries > 0 || d.client.damagedFrames > 0, 'the SMP lane met the noise too');
  } finally {
    await d.close();
  }
});

faults('a line too noisy to use (bit errors 1e-2): the flash fails with a clear error and nothing is committed', async () => {
  const d = await linkDock({ lineNoise: { bitErrorRate: 1e-2, seed: 5 } });
  try {
    const image = factoryImageFor(d.dir, 'Never');
    let err: unknown;
    try {
      await flashFactoryImage(d.client, image, { bulkTimeoutMs: 100, maxRetries: 3, attempts: 1, requestTimeoutMs: 300 });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof LinkError || err instanceof FactoryFlashError, String(err));
    assert.match((err as Error).message, /no answer from the dock|too noisy/);
    assert.is(readSlotRecord(d.dock.partition('factory-b')), null);
  } finally {
    await d.close();
  }
});

faults('cable pulled mid-flash: a clear error; plugged back, a re-run resumes where the dock is and commits', async () => {
  const d = await linkDock();
  try {
    const image = factoryImageFor(d.dir, 'After The Cable', 400 * 1024);
    let pulled = false;
    let err: unknown;
    try {
      await flashFactoryImage(d.client, image, {
        bulkTimeoutMs: 100,
        maxRetries: 3,
        attempts: 2,
        requestTimeoutMs: 300,
        onProgress: (p) => {
          if (!pulled && p.sent > image.length / 3) {
            pulled = true;
            d.dock.cablePulled = true;
          }
        },
      });
    } catch (e) {
      err = e;
    }
    assert.ok(pulled);
    assert.ok(err instanceof LinkError || err instanceof FactoryFlashError, String(err));
    assert.is(readSlotRecord(d.dock.partition('factory-b')), null);
    d.dock.cablePulled = false;
    const r = await flashFactoryImage(d.client, image);
    assert.ok(r.resumedFrom > image.length / 3, `resumed from ${r.resumedFrom}`);
    assert.is(r.dockSha256, hex(image), "the dock's own SHA-256 of what it stored");
  } finally {
    await d.close();
  }
});

faults('the dock restarts mid-transfer: the host is told its session is gone, starts again and commits', async () => {
  const d = await linkDock();
  try {
    const image = factoryImageFor(d.dir, 'After A Restart', 400 * 1024);
    let restarted = false;
    const r = await flashFactoryImage(d.client, image, {
      requestTimeoutMs: 3000,
      onProgress: (p) => {
        if (!restarted && p.sent > image.length / 2) {
          restarted = true;
          d.dock.restart().catch(() => {});
        }
      },
    });
    assert.ok(restarted);
    assert.ok(r.resumes >= 1, `${r.resumes} resumes`);
    assert.is(r.dockSha256, hex(image), "the dock's own SHA-256 of what it stored");
  } finally {
    await d.close();
  }
});

faults('power cut on the factory slot during the transfer and at the commit itself: the old image boots; a re-run commits', async () => {
  // Count slot 1's flash operations in one whole write.
  const probe = await linkDock();
  const image = factoryImageFor(probe.dir, 'After A Power Cut', 100 * 1024);
  await flashFactoryImage(probe.client, image);
  const ops = probe.dock.partition('factory-b').opCount;
  await probe.close();
  rmSync(probe.dir, { recursive: true, force: true });
  for (const cut of [Math.floor(ops / 2), ops - 1]) {
    const d = await linkDock({ powerCutPartition: 'factory-b', powerCutAfter: cut });
    const img = factoryImageFor(d.dir, 'After A Power Cut', 100 * 1024);
    let err: unknown;
    try {
      await flashFactoryImage(d.client, img, { attempts: 1, requestTimeoutMs: 500, bulkTimeoutMs: 100, maxRetries: 2 });
    } catch (e) {
      err = e;
    }
    assert.ok(err, `cut at ${cut} of ${ops}: the flash cannot have succeeded`);
    assert.ok(d.dock.poweredOff);
    await d.close();
    // Power back: the old image is served; the write runs again from the start and commits.
    const again = await linkDock({ dir: d.dir });
    try {
      assert.is(await dockName(again.client), 'DL-7450 Demo Dock', `cut at ${cut}`);
      const r = await flashFactoryImage(again.client, img);
      assert.is(r.resumedFrom, 0);
      await again.client.request(2, GROUP_OS, OS_RESET, {});
      await again.client.awaitDock();
      assert.is(await dockName(again.client), 'After A Power Cut');
    } finally {
      await again.close();
      rmSync(d.dir, { recursive: true, force: true });
    }
  }
});

faults('after lock, no link command writes a factory slot: every group, id and op, with factory-write payloads, and raw bulk frames', async () => {
  const d = await linkDock();
  const image = factoryImageFor(d.dir, 'Too Late');
  const sha = new Uint8Array(createHash('sha256').update(image).digest());
  const slotFiles = () => ['factory.flash', 'factory-b.flash'].map((f) => hex(new Uint8Array(readFileSync(join(d.dir, f)))));
  try {
    // An image uploaded and verified before the lock: afterwards it can be neither tested nor confirmed.
    for (let off = 0; off < image.length; ) off = (await d.client.request(2, 1, 1, { off, data: image.subarray(off, off + 2048), ...(off === 0 ? { len: image.length, sha } : {}) })).off as number;
    assert.equal(await d.client.request(2, GROUP_DOCK, DOCK.LOCK, {}), { locked: true });
    const before = slotFiles();
    // Each factory-writing command, refused with rc 11 (MGMT_ERR_EACCESSDENIED).
    const refusedWith = async (what: string, op: 0 | 2, group: number, id: number, body: Record<string, unknown>) => {
      let err: unknown;
      try {
        await d.client.request(op, group, id, body, { attempts: 1 });
      } catch (e) {
        err = e;
      }
      assert.instance(err, SmpError, `${what}: not refused`);
      assert.is((err as SmpError).rc, 11, `${what}: ${(err as Error).message}`);
      assert.match((err as Error).message, /locked/, what);
    };
    await refusedWith('image upload', 2, 1, 1, { off: 0, len: image.length, sha, data: image.subarray(0, 512) });
    await refusedWith('image test', 2, 1, 0, { hash: sha, confirm: false });
    await refusedWith('image confirm of the uploaded slot', 2, 1, 0, { hash: sha, confirm: true });
    await refusedWith('bulk open', 2, GROUP_DOCK, DOCK.BULK_OPEN, { len: image.length, sha });
    await refusedWith('factory commit', 2, GROUP_DOCK, DOCK.FACTORY_COMMIT, { sha });
    const payloads: Record<string, unknown>[] = [{}, { off: 0, len: image.length, sha, data: image.subarray(0, 512) }, { len: image.length, sha }, { sha }, { hash: sha, confirm: true }, { name: '/images/x', off: 0, len: 4, data: new Uint8Array(4) }];
    let tried = 0;
    for (const group of [0, 1, 2, 3, 8, 9, 63, 64, 65]) {
      for (let id = 0; id < 16; id++) {
        for (const op of [0, 2] as const) {
          for (const body of payloads) {
            if (group === GROUP_OS && id === OS_RESET) continue; // a restart: tried once below
            tried++;
            try {
              await d.client.request(op, group, id, body, { timeoutMs: 2000, attempts: 1 });
            } catch (e) {
              if (!(e instanceof SmpError)) throw e;
            }
          }
        }
      }
    }
    for (let session = 0; session < 4; session++) await d.client.transport.write(encodeBulkFrame({ type: BULK_DATA, session, seq: 0, payload: image.subarray(0, 1024) }));
    await d.client.request(2, GROUP_OS, OS_RESET, {});
    await d.client.awaitDock();
    let err: unknown;
    try {
      await flashFactoryImage(d.client, image);
    } catch (e) {
      err = e;
    }
    assert.instance(err, FactoryFlashError);
    assert.match((err as Error).message, /locked/);
    await settle(100);
    d.dock.shutdown();
    assert.equal(slotFiles(), before, `after ${tried} commands the factory slots changed`);
    assert.ok(tried > 1000);
  } finally {
    await d.client.close();
    d.dock.shutdown();
  }
});

lanes.run();
faults.run();
