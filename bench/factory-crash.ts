// factory.crash: the crash loop of test/provision-crash.test.ts against a
// PostgreSQL pool with two stations at once (a soak, so a bench rather than
// `npm test`). Each station has its own docks on pty pairs (served by this
// process, so they outlive the station); both stations run `dl7450 provision
// --db postgres://…` at the same time and each is killed at a random point;
// after every round: no token on two docks, every used token on its own dock,
// the pool's counts equal its records. A last run finishes every dock: no
// reservation left, the used tokens exactly those the docks hold or held.
// DL7450_CRASH_ROUNDS sets the rounds (default 12).

import { rmSync } from 'node:fs';
import { factoryLine, provisionProcess, serveNewDock, tokenCsv, tokenOnDock, type ServedDock as Dock } from '../test/support/line-docks.ts';
import { ptyPair } from '../test/support/pty-pair.ts';
import { startPostgres } from '../test/support/embedded-postgres.ts';
import { openTokenStore, type TokenStore } from '../flash-scripts/factory-line/token-store.ts';
import { migrateDatabase } from '../flash-scripts/factory-line/db-commands.ts';
import { parseTokenFile } from '../flash-scripts/factory-line/token-file.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import type { BenchLine } from './runtime.ts';





function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`factory.crash: ${what}`);
}

export async function factoryCrashBench(): Promise<BenchLine[]> {
  const rounds = Number(process.env.DL7450_CRASH_ROUNDS ?? 12);
  const line = await factoryLine();
  const server = await startPostgres();
  const stations: Dock[][] = [[], []];
  let pool: TokenStore | undefined;
  try {
    const db = await server.database('crash');
    await migrateDatabase(db);
    pool = await openTokenStore(db);
    const ids = parseTokenFile(tokenCsv(line, 200, 'pgcrash'));
    await pool.import(ids);
    let made = 0;
    for (const s of stations) for (let i = 0; i < 2; i++) s.push(await serveNewDock(line, await ptyPair(), `dock-${made++}`));
    const random = seededRandom(7450);
    const everHeld = new Map<string, string>();
    let killed = 0;
    let ended = 0;
    let left = 0;
    const t0 = performance.now();
    for (let round = 0; round < rounds; round++) {
      const runs = stations.map((docks, k) => provisionProcess(line, db, `station-${k}`, docks));
      const timers = runs.map((r) => setTimeout(() => r.proc.kill('SIGKILL'), 300 + random() * 5000));
      const codes = (await Promise.all(runs.map((r) => r.done))).map((r) => r.code);
      timers.forEach(clearTimeout);
      for (const c of codes) c === null ? killed++ : ended++;
      await new Promise((r) => setTimeout(r, 50));
      const onDocks = new Map<string, string>();
      for (const d of stations.flat()) {
        const token = tokenOnDock(d);
        if (token === null) continue;
        check(!onDocks.has(token), `round ${round}: token ${token} on two docks`);
        onDocks.set(token, d.dockId);
        const rec = await pool.token(token);
        check(!!rec && rec.state !== 'free' && rec.dockId === d.dockId, `round ${round}: dock ${d.dockId.slice(0, 8)} holds ${token}, the pool has it ${rec?.state} for ${rec?.dockId?.slice(0, 8)}`);
        check(everHeld.get(token) === undefined || everHeld.get(token) === d.dockId, `round ${round}: token ${token} went to a second dock`);
        everHeld.set(token, d.dockId);
      }
      const c = { free: 0, reserved: 0, used: 0, flagged: 0 };
      for (const { id } of ids) {
        const r = await pool.token(id);
        check(!!r, `round ${round}: token ${id} vanished`);
        c[r!.state]++;
        if (r!.flagged !== undefined) c.flagged++;
        if (r!.state === 'used') check(everHeld.get(id) === r!.dockId, `round ${round}: token ${id} used by a dock that does not hold it`);
      }
      const st = await pool.status();
      check(JSON.stringify(st) === JSON.stringify({ total: ids.length, ...c }), `round ${round}: counts ${JSON.stringify(st)} vs records ${JSON.stringify(c)}`);
      // Finished docks leave; new ones take their ports.
      for (const docks of stations) {
        for (let i = 0; i < docks.length; i++) {
          const rec = await pool.tokenOfDock(docks[i].dockId);
          if (rec?.state === 'used' && tokenOnDock(docks[i]) === rec.id) {
            left++;
            docks[i].dock.shutdown();
            docks[i] = await serveNewDock(line, docks[i].pair, `dock-${made++}`);
          }
        }
      }
    }
    const last = await Promise.all(stations.map((docks, k) => provisionProcess(line, db, `station-${k}`, docks).done));
    check(last.every((r) => r.code === 0), `the last runs ended ${last.map((r) => `${r.code}: ${r.out.slice(-300)}`).join('; ')}`);
    for (const d of stations.flat()) {
      const token = tokenOnDock(d);
      check(!!token, `dock ${d.dockId.slice(0, 8)} not provisioned by the last run`);
      everHeld.set(token!, d.dockId);
    }
    const st = await pool.status();
    check(st.reserved === 0, `${st.reserved} reservations left`);
    check(st.used === everHeld.size, `${st.used} used, docks hold ${everHeld.size}`);
    const audit = await pool.audit();
    check(new Set(audit.map((a) => a.dockId)).size === everHeld.size, 'a provisioned dock without an audit record');
    return [
      {
        bench: 'factory.crash',
        backend: 'postgres',
        stations: 2,
        rounds,
        runsKilled: killed,
        runsEnded: ended,
        docksProvisioned: everHeld.size,
        docksLeftLine: left,
        pool: st,
        seconds: Math.round((performance.now() - t0) / 1000),
        note: 'every invariant checked after every round; a failure throws',
      },
    ];
  } finally {
    for (const d of stations.flat()) {
      d.dock.shutdown();
      d.pair.close();
    }
    await pool?.close();
    await server.stop();
    rmSync(line.root, { recursive: true, force: true });
  }
}
