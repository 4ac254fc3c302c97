import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadPerDockValues, PerDockValuesError } from '../flash-scripts/factory-line/per-dock-values.ts';
import { fleetSync } from '../flash-scripts/factory-line/fleet-sync.ts';
import { join } from 'node:path';
import { dockView, factoryLine, newDock, tokenCsv, type Line } from './support/line-docks.ts';
import { provision, ProvisionError } from '../flash-scripts/factory-line/provision.ts';
import { TokenPool } from '../flash-scripts/factory-line/token-pool.ts';
import { parseTokenFile } from '../flash-scripts/factory-line/token-file.ts';
import { SmpClient, SmpError } from '../flash-scripts/link/smp-client.ts';
import { registerTransport } from '../flash-scripts/link/transport.ts';
import { flashFactoryImage } from '../flash-scripts/link/factory-flash.ts';
import { DOCK, GROUP_DOCK, RC } from '../firmware/smp/smp-server.ts';
import { SimulatedDock } from '../simulator/simulated-dock.ts';
import { mountFactorySlots } from '../datastore/factory/factory-slots.ts';
import { FileFlash } from '../simulator/flash/file-flash.ts';
import { NodeCrypto } from '../simulator/security/node-crypto.ts';
import { SimOtp } from '../simulator/security/sim-otp.ts';
import { SimKeystore } from '../simulator/security/sim-keystore.ts';
import { readPerDockSection } from '../datastore/factory/per-dock-section.ts';
import { decodePerDockBody, PER_DOCK_HEADER_SIZE, sealAad } from '../datastore/factory/per-dock-format.ts';

const GEOMETRY = { size: 13 * 1024 * 1024, sectorSize: 4096, programUnit: 256 };
const sha = (s: string) => createHash('sha256').update(s).digest('hex');


let line: Line;
const p = suite('dl7450 provision: per-dock data from an LMDB token pool, many docks at once, with an audit database');

p.before(async () => {
  line = await factoryLine();
});
p.after(() => rmSync(line.root, { recursive: true, force: true }));

p('eight docks at once: eight distinct tokens, eight audit records, the pool down by eight; each dock opens its own token and no other', async () => {
  const db = join(line.root, 'db8');
  const pool = TokenPool.open(db);
  pool.import(parseTokenFile(tokenCsv(line, 12, 'eight')));
  pool.close();
  const docks = await Promise.all(Array.from({ length: 8 }, (_, i) => newDock(line, `d8-${i}`)));
  const report = await provision({ config: line.config, key: join(line.keys, 'factory.key'), db, connections: docks.map((d) => `sim://${d.dir}`), station: 'station-a' });
  assert.equal(report.docks.map((d) => d.result), Array(8).fill('provisioned'), JSON.stringify(report.docks.filter((d) => d.error)));
  const tokens = report.docks.map((d) => d.tokenId!);
  assert.is(new Set(tokens).size, 8);
  assert.equal(report.pool, { total: 12, free: 4, reserved: 0, used: 8, flagged: 0 });
  const check = TokenPool.open(db);
  try {
    assert.is(check.audit().length, 8);
    for (const d of docks) {
      const view = await dockView(d.dir);
      const record = check.tokenOfDock(view.dockId)!;
      assert.is(view.token, record.id);
      assert.is(view.tokenSha256, sha(record.value), 'the dock decrypts exactly the token issued to it');
      assert.is(check.audit({ dockId: view.dockId })[0].imageDigest, report.imageDigest);
    }
    assert.is(check.audit({ imageDigest: report.imageDigest }).length, 8);
  } finally {
    check.close();
  }
  // None decrypts another's: dock 1's sealed secrets do not open with dock 0's key, and dock 0 refuses dock 1's section.
  const slot = (dir: string) => {
    const flashes = ['factory.flash', 'factory-b.flash'].map((f) => FileFlash.open(join(dir, f), GEOMETRY));
    return { flashes, close: () => flashes.forEach((f) => f.close()) };
  };
  const a = slot(docks[0].dir);
  const b = slot(docks[1].dir);
  try {
    const otpB = SimOtp.load(join(docks[1].dir, 'otp.json'));
    const mB = mountFactorySlots(b.flashes, new NodeCrypto(), otpB);
    const sectionB = readPerDockSection(b.flashes[mB.active!], mB.partition!, new NodeCrypto(), otpB, new SimKeystore(otpB))!;
    assert.ok(sectionB.open().token.startsWith('secret-'));
    // Every ordered pair of the eight docks: each dock's keystore opens its own sealed secrets and none of the other seven.
    const sealedOf = docks.map((d) => {
      const s = slot(d.dir);
      try {
        const otp = SimOtp.load(join(d.dir, 'otp.json'));
        const m = mountFactorySlots(s.flashes, new NodeCrypto(), otp);
        return { otp, section: readPerDockSection(s.flashes[m.active!], m.partition!, new NodeCrypto(), otp, new SimKeystore(otp))! };
      } finally {
        s.close();
      }
    });
    let pairs = 0;
    for (const [i, x] of sealedOf.entries()) {
      for (const [j, y] of sealedOf.entries()) {
        const opened = new SimKeystore(x.otp).openSealed(y.section.sealed, sealAad(y.section.dockId, y.section.imageDigest, y.section.tokenId));
        if (i === j) assert.ok(opened, `dock ${i} cannot open its own sealed secrets`);
        else {
          assert.is(opened, null, `dock ${i} opens dock ${j}'s sealed secrets`);
          pairs++;
        }
      }
    }
    assert.is(pairs, 56);
    // Dock 1's whole image (its section included), flashed into dock 0: refused, nothing committed.
    const region = mB.partition!.perDockRegion();
    const head = new Uint8Array(PER_DOCK_HEADER_SIZE);
    b.flashes[mB.active!].read(region.offset, head);
    const length = new DataView(head.buffer).getUint32(8);
    const stolen = new Uint8Array(region.offset + PER_DOCK_HEADER_SIZE + length + 64);
    b.flashes[mB.active!].read(0, stolen);
    assert.is(decodePerDockBody(stolen.subarray(region.offset + PER_DOCK_HEADER_SIZE, region.offset + PER_DOCK_HEADER_SIZE + length)).dockId, docks[1].dockId);
    a.close();
    b.close();
    const dockA = new SimulatedDock({ dir: docks[0].dir, log: () => {} });
    await dockA.boot();
    const client = new SmpClient(dockA.attachInProcess(null));
    try {
      let err: unknown;
      try {
        await flashFactoryImage(client, stolen);
      } catch (e) {
        err = e;
      }
      assert.instance(err, SmpError);
      assert.is((err as SmpError).rc, RC.CORRUPT);
      assert.match((err as Error).message, /other-dock/);
    } finally {
      await client.close();
      dockA.shutdown();
    }
    assert.is((await dockView(docks[0].dir)).token, report.docks[0].tokenId);
  } finally {
    a.close();
    b.close();
  }
});

p('an empty pool stops before any dock is touched; a provisioned dock is skipped unless --force, which keeps its token', async () => {
  const db = join(line.root, 'db-small');
  const pool = TokenPool.open(db);
  pool.import(parseTokenFile(tokenCsv(line, 1, 'small')));
  pool.close();
  const docks = await Promise.all([newDock(line, 'e-0'), newDock(line, 'e-1')]);
  const before = docks.map((d) => sha(readFileSync(join(d.dir, 'factory-b.flash')).toString('binary')));
  let err: unknown;
  try {
    await provision({ config: line.config, key: join(line.keys, 'factory.key'), db, connections: docks.map((d) => `sim://${d.dir}`), station: 's' });
  } catch (e) {
    err = e;
  }
  assert.instance(err, ProvisionError);
  assert.match((err as Error).message, /1 free tokens and 2 docks need one.*no dock was touched/);
  assert.equal(docks.map((d) => sha(readFileSync(join(d.dir, 'factory-b.flash')).toString('binary'))), before);

  const one = await provision({ config: line.config, key: join(line.keys, 'factory.key'), db, connections: [`sim://${docks[0].dir}`], station: 's' });
  assert.is(one.docks[0].result, 'provisioned');
  const again = await provision({ config: line.config, key: join(line.keys, 'factory.key'), db, connections: [`sim://${docks[0].dir}`], station: 's' });
  assert.is(again.docks[0].result, 'already-provisioned');
  assert.match(again.docks[0].error!, /--force/);
  const forced = await provision({ config: line.config, key: join(line.keys, 'factory.key'), db, connections: [`sim://${docks[0].dir}`], station: 's', force: true, lock: true });
  assert.is(forced.docks[0].result, 'provisioned');
  assert.is(forced.docks[0].tokenId, one.docks[0].tokenId, 'a forced re-run keeps the dock its token');
  assert.ok(forced.docks[0].locked);
  assert.equal(forced.pool, { total: 1, free: 0, reserved: 0, used: 1, flagged: 0 });
});

p('a database restored from before a dock was provisioned: the station learns from the dock that its token is taken and never hands it out again', async () => {
  const tokens = tokenCsv(line, 3, 'restore');
  const db = join(line.root, 'db-live');
  const live = TokenPool.open(db);
  live.import(parseTokenFile(tokens));
  live.close();
  const x = await newDock(line, 'r-x');
  const first = await provision({ config: line.config, key: join(line.keys, 'factory.key'), db, connections: [`sim://${x.dir}`], station: 's' });
  const taken = first.docks[0].tokenId!;
  // The backup: the same tokens, all free.
  const restored = join(line.root, 'db-restored');
  const backup = TokenPool.open(restored);
  backup.import(parseTokenFile(tokens));
  backup.close();
  const y = await newDock(line, 'r-y');
  const second = await provision({ config: line.config, key: join(line.keys, 'factory.key'), db: restored, connections: [`sim://${x.dir}`, `sim://${y.dir}`], station: 's' });
  // Outcomes come in the order docks finish: look each dock up by its id.
  const outcome = (dockId: string) => second.docks.find((d) => d.dockId === dockId);
  assert.is(outcome(x.dockId)?.result, 'already-provisioned', JSON.stringify(second.docks));
  assert.is(outcome(y.dockId)?.result, 'provisioned', JSON.stringify(second.docks));
  assert.is.not(outcome(y.dockId)!.tokenId, taken);
  const after = TokenPool.open(restored);
  try {
    assert.equal([after.token(taken)!.state, after.token(taken)!.dockId], ['used', x.dockId]);
    assert.equal(after.status(), { total: 3, free: 1, reserved: 0, used: 2, flagged: 0 });
  } finally {
    after.close();
  }
});

p('per-dock values from a CSV reach their dock sealed; a malformed CSV is refused line by line before any dock is touched; fleet sync brings a lagging database level', async () => {
  const db = join(line.root, 'db-upd');
  const pool = TokenPool.open(db);
  pool.import(parseTokenFile(tokenCsv(line, 2, 'upd')));
  pool.close();
  const dock = await newDock(line, 'u-0');
  const bad = join(line.root, 'bad-upd.csv');
  writeFileSync(bad, `dock_id,name\nnot-a-dock,x\n${dock.dockId},A\n${dock.dockId},B\n`);
  assert.throws(() => loadPerDockValues(bad), (e: unknown) => e instanceof PerDockValuesError && /line 2: dock_id "not-a-dock"/.test((e as Error).message) && /line 4: dock .* appears twice/.test((e as Error).message));
  const upd = join(line.root, 'upd.csv');
  writeFileSync(upd, `dock_id,name,wifi_psk\n${dock.dockId},"Reception, left",correct-horse\n`);
  const r = await provision({ config: line.config, key: join(line.keys, 'factory.key'), db, connections: [`sim://${dock.dir}`], station: 's', perDockValues: loadPerDockValues(upd) });
  assert.is(r.docks[0].result, 'provisioned');
  const client = await SmpClient.connect(`sim://${dock.dir}`);
  try {
    const check = await client.request(0, GROUP_DOCK, DOCK.PER_DOCK_CHECK, {});
    // Only digests cross the link: of the name, and of the values as sorted key=value lines.
    assert.is(Buffer.from(check.nameSha256 as Uint8Array).toString('hex'), sha('Reception, left'));
    assert.is(Buffer.from(check.valuesSha256 as Uint8Array).toString('hex'), sha('name=Reception, left\nwifi_psk=correct-horse'));
    assert.is(check.name, undefined);
  } finally {
    await client.close();
  }
  // The station's database loses its record (another station's copy, a restore): sync reads it back from the dock.
  const other = join(line.root, 'db-other');
  TokenPool.open(other).close();
  const synced = await fleetSync(`sim://${dock.dir}`, other);
  assert.equal([synced.action, synced.tokenId, synced.imageDigest], ['recorded', r.docks[0].tokenId, r.imageDigest]);
  assert.match(synced.note!, /not in this database/);
  assert.is((await fleetSync(`sim://${dock.dir}`, other)).action, 'up-to-date');
  const q = TokenPool.open(other);
  assert.is(q.audit({ imageDigest: r.imageDigest })[0].source, 'sync');
  q.close();
});

p.run();

const unplug = suite('dl7450 provision: a dock unplugged mid-flash');

unplug('the unplugged dock fails with a clear error and its token stays reserved and flagged (the dock may hold it); plugged back, the next run reconciles and provisions it', async () => {
  const l = await factoryLine();
  const db = join(l.root, 'db');
  const pool = TokenPool.open(db);
  pool.import(parseTokenFile(tokenCsv(l, 4, 'unplug')));
  pool.close();
  const made = await Promise.all([newDock(l, 'p-0'), newDock(l, 'p-1')]);
  // Docks on a test transport: one registration, and the test holds the docks (and their cables).
  const docks = new Map<string, SimulatedDock>();
  for (const d of made) {
    const dock = new SimulatedDock({ dir: d.dir, log: () => {} });
    await dock.boot();
    docks.set(d.dir, dock);
  }
  registerTransport('testdock', async (spec) => docks.get(spec.target)!.attachInProcess(null));
  const conns = made.map((d) => `testdock://${d.dir}`);
  try {
    let pulled = false;
    const report = await provision({
      config: l.config,
      key: join(l.keys, 'factory.key'),
      db,
      connections: conns,
      station: 's',
      // Short timeouts so the pulled cable fails fast, not so short that a loaded machine fails the hello first.
      flash: { attempts: 1, bulkTimeoutMs: 250, maxRetries: 3, requestTimeoutMs: 1000 },
      onStage: (conn, stage, d) => {
        if (!pulled && conn === conns[0] && stage === 'flash' && d?.sent && d.total && d.sent > d.total / 3) {
          pulled = true;
          docks.get(made[0].dir)!.cablePulled = true;
        }
      },
    });
    assert.ok(pulled);
    assert.equal(report.docks.map((d) => d.result), ['failed', 'provisioned']);
    assert.match(report.docks[0].error!, /no answer from the dock|too noisy/);
    assert.equal([report.pool.reserved, report.pool.flagged, report.pool.used], [1, 1, 1]);
    docks.get(made[0].dir)!.cablePulled = false;
    const again = await provision({ config: l.config, key: join(l.keys, 'factory.key'), db, connections: conns, station: 's' });
    assert.equal(again.docks.map((d) => d.result), ['provisioned', 'already-provisioned']);
    assert.equal(again.reconciled, { used: 0, freed: 1, flagged: 0 });
    assert.equal(again.pool, { total: 4, free: 2, reserved: 0, used: 2, flagged: 0 });
  } finally {
    for (const d of docks.values()) d.shutdown();
    rmSync(l.root, { recursive: true, force: true });
  }
});

unplug.run();
