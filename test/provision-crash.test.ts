import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join, resolve } from 'node:path';
import { rmSync } from 'node:fs';
import { factoryLine, LINE_BAUD as BAUD, provisionProcess, serveNewDock, tokenCsv, tokenOnDock, type Line, type ServedDock as Station } from './support/line-docks.ts';
import { ptyPair } from './support/pty-pair.ts';
import { TokenPool } from '../flash-scripts/factory-line/token-pool.ts';
import { parseTokenFile } from '../flash-scripts/factory-line/token-file.ts';
import { seededRandom } from '../simulator/seeded-random.ts';





function closeLine(line: Line, stations: Station[], pool: TokenPool): void {
  for (const s of stations) {
    s.dock.shutdown();
    s.pair.close();
  }
  pool.close();
  rmSync(line.root, { recursive: true, force: true });
}

const crash = suite('provisioning survives the station dying at any point: the dock is the truth, the database the index');

crash('the provisioning process killed at random points, 50 times, rerun each time: no token on two docks, none lost, every dock fully provisioned or untouched', async () => {
  const line = await factoryLine();
  const db = join(line.root, 'db');
  let pool = TokenPool.open(db);
  const ids = parseTokenFile(tokenCsv(line, 300, 'crash'));
  pool.import(ids);
  const total = ids.length;
  /** Token states read record by record (not the pool's own counters, which derive used from the others). */
  const census = () => {
    const c = { free: 0, reserved: 0, used: 0, flagged: 0, missing: 0 };
    for (const { id } of ids) {
      const r = pool.token(id);
      if (!r) c.missing++;
      else {
        c[r.state]++;
        if (r.state === 'reserved' && r.flagged !== undefined) c.flagged++;
      }
    }
    return c;
  };
  const random = seededRandom(2026);
  const stations: Station[] = [];
  let made = 0;
  try {
    for (let i = 0; i < 3; i++) stations.push(await serveNewDock(line, await ptyPair(), `dock-${made++}`));
    let provisionedDocks = 0;
    let killed = 0;
    let rounds = 0;
    // Kill points are drawn in [300 ms, window): a run that finishes first narrows the window to 90% of its length, so
    // the loop ends after exactly KILLS killed runs (runs that end on their own are counted too, never as kills).
    const KILLS = 50;
    let window = 4000;
    const everHeld = new Map<string, string>(); // token → dock
    for (let round = 0; killed < KILLS && round < 2 * KILLS; round++) {
      rounds++;
      const run = provisionProcess(line, db, 'station-1', stations);
      const killAfter = 300 + random() * (window - 300);
      const timer = setTimeout(() => run.proc.kill('SIGKILL'), killAfter);
      const startedAt = Date.now();
      const ended = await run.done;
      if (ended.code === null) killed++;
      else window = Math.max(600, Math.floor((Date.now() - startedAt) * 0.9));
      clearTimeout(timer);
      await new Promise((r) => setTimeout(r, 50));
      // A fresh look at the database another process wrote.
      pool.close();
      pool = TokenPool.open(db);
      // Invariants, from the docks' flash and the database.
      const c = census();
      assert.is(c.missing, 0, `round ${round}: a token record vanished`);
      assert.equal(pool.status(), { total, free: c.free, reserved: c.reserved, used: c.used, flagged: c.flagged }, `round ${round}: the pool's counters disagree with its records`);
      const onDocks = new Map<string, string>();
      for (const s of stations) {
        const token = tokenOnDock(s);
        if (token === null) continue;
        assert.not.ok(onDocks.has(token), `round ${round}: token ${token} is on two docks`);
        onDocks.set(token, s.dockId);
        const rec = pool.token(token)!;
        assert.ok(rec && rec.state !== 'free' && rec.dockId === s.dockId, `round ${round}: dock ${s.dockId.slice(0, 8)} holds ${token}, which the database has as ${rec?.state} for ${rec?.dockId?.slice(0, 8)}`);
        const before = everHeld.get(token);
        assert.ok(before === undefined || before === s.dockId, `round ${round}: token ${token} went to a second dock`);
        everHeld.set(token, s.dockId);
      }
      // Used means its own dock holds it (read from that dock's flash now, or when it left the line): never used by nobody or by another dock.
      for (const { id } of ids) {
        const r = pool.token(id)!;
        if (r.state === 'used') assert.is(everHeld.get(id), r.dockId, `round ${round}: token ${id} is used by dock ${r.dockId?.slice(0, 8)} but that dock does not hold it`);
      }
      // Docks that are done leave the line; new ones take their ports.
      for (let i = 0; i < stations.length; i++) {
        const s = stations[i];
        const rec = pool.tokenOfDock(s.dockId);
        if (rec && rec.state === 'used' && tokenOnDock(s) === rec.id) {
          provisionedDocks++;
          s.dock.shutdown();
          stations[i] = await serveNewDock(line, s.pair, `dock-${made++}`);
        }
      }
    }
    // A last run, to the end: every dock on the line is provisioned, every token accounted for.
    const last = await provisionProcess(line, db, 'station-1', stations).done;
    assert.is(last.code, 0, last.out);
    pool.close();
    pool = TokenPool.open(db);
    for (const s of stations) {
      const token = tokenOnDock(s);
      assert.ok(token, `dock ${s.dockId.slice(0, 8)} not provisioned after the final run`);
      assert.equal([pool.token(token!)!.state, pool.token(token!)!.dockId], ['used', s.dockId]);
      assert.ok(pool.audit({ dockId: s.dockId }).some((a) => a.tokenId === token));
    }
    for (const s of stations) everHeld.set(tokenOnDock(s)!, s.dockId);
    const st = pool.status();
    assert.is(st.reserved, 0, 'every reservation was reconciled');
    // None lost: the used tokens are exactly those docks hold (or held when they left the line), the rest are free.
    const used = ids.filter(({ id }) => pool.token(id)!.state === 'used').map(({ id }) => id);
    assert.equal(new Set(used), new Set(everHeld.keys()));
    assert.equal(census(), { free: total - everHeld.size, reserved: 0, used: everHeld.size, flagged: 0, missing: 0 });
    assert.is(st.used, provisionedDocks + stations.length);
    assert.is(killed, KILLS, `only ${killed} of ${rounds} runs were killed before they ended`);
    console.log(`    ${made} docks on the line, ${killed} of ${rounds} runs killed mid-way, ${provisionedDocks + stations.length} docks provisioned; pool ${JSON.stringify(st)}`);
  } finally {
    closeLine(line, stations, pool);
  }
});

crash('two stations provisioning from one database at the same time never share a token', async () => {
  const line = await factoryLine();
  const db = join(line.root, 'db');
  let pool = TokenPool.open(db);
  pool.import(parseTokenFile(tokenCsv(line, 20, 'shared')));
  const stations: Station[] = [];
  try {
    for (let i = 0; i < 4; i++) stations.push(await serveNewDock(line, await ptyPair(), `two-${i}`));
        pool.close();
    const [a, b] = await Promise.all([provisionProcess(line, db, 'station-a', stations.slice(0, 2)).done, provisionProcess(line, db, 'station-b', stations.slice(2)).done]);
    assert.is(a.code, 0, a.out);
    assert.is(b.code, 0, b.out);
    pool = TokenPool.open(db);
    const tokens = stations.map((s) => tokenOnDock(s));
    assert.is(new Set(tokens).size, 4);
    assert.equal(pool.status(), { total: 20, free: 16, reserved: 0, used: 4, flagged: 0 });
    assert.equal(new Set(pool.audit().map((r) => r.station)), new Set(['station-a', 'station-b']));
  } finally {
    closeLine(line, stations, pool);
  }
});

crash("a run finds this station's reservation for a dock that left the line: flagged in the pool's own records, other stations' left alone", async () => {
  const line = await factoryLine();
  const db = join(line.root, 'db');
  let pool = TokenPool.open(db);
  pool.import(parseTokenFile(tokenCsv(line, 10, 'gone')));
  const stations: Station[] = [];
  try {
    stations.push(await serveNewDock(line, await ptyPair(), 'present'));
    // A run killed mid-flash leaves a reservation; its dock is then taken off the line (not connected to the next run).
    const gone = pool.reserve('d0ca'.repeat(16), 'station-1');
    const elsewhere = pool.reserve('beef'.repeat(16), 'station-2');
    pool.close();
    const run = await provisionProcess(line, db, 'station-1', [stations[0]]).done;
    assert.is(run.code, 0, run.out);
    pool = TokenPool.open(db);
    const left = pool.token(gone.id)!;
    assert.is(left.state, 'reserved', 'a reservation whose dock is absent is neither freed nor marked used: nobody can ask that dock');
    assert.is(left.dockId, 'd0ca'.repeat(16));
    assert.type(left.flagged, 'string', 'the reservation is flagged for a person to check');
    assert.match(left.flagged!, /not connected/);
    const other = pool.token(elsewhere.id)!;
    assert.equal([other.state, other.flagged], ['reserved', undefined], "another station's reservation is not this run's to judge");
    const present = tokenOnDock(stations[0]);
    assert.ok(present && present !== gone.id && present !== elsewhere.id, 'the present dock got a token of its own');
    assert.equal(pool.status(), { total: 10, free: 7, reserved: 2, used: 1, flagged: 1 });
  } finally {
    closeLine(line, stations, pool);
  }
});

crash.run();
