import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { TokenPool, TokenPoolError, type AuditRecord, type PoolStatus } from '../flash-scripts/factory-line/token-pool.ts';
import { parseTokenFile } from '../flash-scripts/factory-line/token-file.ts';
import { fleetQueryCommand, parseSince, tokensCommand } from '../flash-scripts/factory-line/token-commands.ts';
import { UsageError } from '../flash-scripts/cli-args.ts';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'dl7450-token-pool-'));
let dirs = 0;
const freshDb = () => join(work, `db${dirs++}`);
const secret = (id: string) => `tok_${id}_9f8e7d6c5b4a`;
const tokens = (n: number, prefix = 't') => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${String(i).padStart(4, '0')}`, value: secret(`${prefix}${i}`) }));

function file(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

/** The TokenPoolError `f` throws (its code and message), or fails the test. */
function refused(f: () => unknown): TokenPoolError {
  try {
    f();
  } catch (e) {
    if (e instanceof TokenPoolError) return e;
    throw e;
  }
  assert.unreachable('expected a TokenPoolError');
  throw new Error('unreachable');
}

function withPool<T>(dir: string, fn: (p: TokenPool) => T, options = {}): T {
  const pool = TokenPool.open(dir, options);
  try {
    return fn(pool);
  } finally {
    pool.close();
  }
}

const audit = (over: Partial<AuditRecord> & Pick<AuditRecord, 'dockId' | 'tokenId'>): AuditRecord => ({
  imageDigest: 'ab'.repeat(32),
  station: 'line1-a',
  startedAt: 1_700_000_000_000,
  finishedAt: 1_700_000_060_000,
  firmwareVersion: '2.4.1',
  locked: true,
  source: 'provision',
  ...over,
});

const files = suite('token import files');

files('CSV (columns in any order, extra columns, RFC 4180 quoting, blank lines, BOM, CRLF) and JSONL', () => {
  const csv = file('ok.csv', '\uFEFFbatch,token,id\r\nb1,"tok,with ""comma""",a1\r\n\r\nb1,plain,a2\r\n"b\n2","multi\nline",a3\n');
  assert.equal(parseTokenFile(csv), [
    { id: 'a1', value: 'tok,with "comma"' },
    { id: 'a2', value: 'plain' },
    { id: 'a3', value: 'multi\nline' },
  ]);
  const jsonl = file('ok.jsonl', '{"id":"j1","token":"v1","extra":1}\n\n{"token":"v2","id":"j.2:x-y_z"}\n');
  assert.equal(parseTokenFile(jsonl), [
    { id: 'j1', value: 'v1' },
    { id: 'j.2:x-y_z', value: 'v2' },
  ]);
});

files('every problem is listed with its line number, at most 20', () => {
  const csv = file('bad.csv', ['id,token,batch', 't1,,b', ',s2,b', 'bad id!,s3,b', `${'x'.repeat(129)},s4,b`, 't5', `t6,${'v'.repeat(4097)},b`, 't7,x"y,b', 'ok,"s8"tail,b', 't9,"never closed'].join('\n'));
  const e = refused(() => parseTokenFile(csv));
  assert.is(e.code, 'malformed');
  for (const want of [/line 2: empty token/, /line 3: empty id/, /line 4: id "bad id!" has characters outside/, /line 5: id is 129 characters long/, /line 6: no token field/, /line 7: token is 4097 characters/, /line 8: a quote inside an unquoted field/, /line 9: text after a closing quote/, /line 10: a quoted field is never closed/]) {
    assert.match(e.message, want);
  }
  assert.match(e.message, /9 problems, nothing imported/);
  assert.not.ok(e.message.includes('v'.repeat(100)), 'a token value is never quoted');

  assert.match(refused(() => parseTokenFile(file('nocol.csv', 'id,secret\na,b\n'))).message, /line 1: the header has no "token" column \(it has: id, secret\)/);
  assert.match(refused(() => parseTokenFile(file('empty.csv', '\n\n'))).message, /no tokens in the file/);
  assert.is(refused(() => parseTokenFile(join(work, 'missing.csv'))).code, 'not-found');
  assert.match(refused(() => parseTokenFile(file('t.txt', 'id,token\n'))).message, /unknown token file type/);

  const jsonl = file('bad.jsonl', ['{"id":"a","token":"x"}', '{"id":"b",', '[1]', '{"id":5,"token":"x"}', '{"id":"c"}', `{"id":"d","token":"${'v'.repeat(4097)}"}`, '{"id":"e f","token":" padded"}'].join('\n'));
  const j = refused(() => parseTokenFile(jsonl));
  for (const want of [/line 2: not valid JSON/, /line 3: not a JSON object/, /line 4: "id" must be a string \(got number\)/, /line 5: no "token"/, /line 6: token is 4097 characters/, /line 7: id "e f" has characters/, /line 7: token has leading or trailing whitespace/]) {
    assert.match(j.message, want);
  }

  const many = file('many.jsonl', Array.from({ length: 25 }, (_, i) => `{"id":"x${i}","token":${i}}`).join('\n'));
  const m = refused(() => parseTokenFile(many));
  assert.match(m.message, /25 problems/);
  assert.match(m.message, /line 20:/);
  assert.not.match(m.message, /line 21:/);
  assert.match(m.message, /… and 5 more/);
});

const pool = suite('token pool');

pool('import, status; duplicates (in the batch, in the pool, or a secret under a new id) refuse the whole batch', () => {
  const dir = freshDb();
  withPool(dir, (p) => {
    assert.equal(p.import(parseTokenFile(file('a.csv', `id,token\n${tokens(30).map((t) => `${t.id},${t.value}`).join('\n')}\n`))), { imported: 30 });
    assert.equal(p.import(parseTokenFile(file('b.jsonl', tokens(5, 'j').map((t) => JSON.stringify({ id: t.id, token: t.value })).join('\n')))), { imported: 5 });
    const before: PoolStatus = { total: 35, free: 35, reserved: 0, used: 0, flagged: 0 };
    assert.equal(p.status(), before);

    const inBatch = refused(() => p.import([...tokens(3, 'n'), { id: 'n0001', value: 'other' }]));
    assert.is(inBatch.code, 'duplicate');
    assert.match(inBatch.message, /1 duplicate token .*: n0001$/);
    const inPool = refused(() => p.import([...tokens(40, 'n'), ...tokens(12)]));
    assert.is(inPool.code, 'duplicate');
    assert.match(inPool.message, /12 duplicate tokens/);
    assert.match(inPool.message, /t0000, .*t0009, … \(2 more\)/);
    const sameSecret = refused(() => p.import([{ id: 'fresh-id', value: secret('t3') }]));
    assert.is(sameSecret.code, 'duplicate');
    assert.not.ok(sameSecret.message.includes(secret('t3')), 'no secret in the message');
    assert.is(refused(() => p.import([{ id: 'bad id', value: 'x' }])).code, 'malformed');
    assert.equal(p.status(), before, 'nothing imported');
    assert.is(p.token('n0000'), undefined);
  });
});

pool('reserve → markUsed → audit; reserve is per dock and idempotent; release; wrong dock; empty pool', () => {
  const dir = freshDb();
  withPool(dir, (p) => {
    p.import(tokens(3));
    const r = p.reserve('DOCK-1', 'line1-a', 1_700_000_000_000);
    assert.equal(r, { id: 't0000', value: secret('t0'), fresh: true });
    assert.equal(p.reserve('DOCK-1', 'line1-b'), { ...r, fresh: false }, 'the same dock gets the same token, from any station');
    assert.is(p.tokenOfDock('DOCK-1')?.state, 'reserved');
    assert.equal(p.status(), { total: 3, free: 2, reserved: 1, used: 0, flagged: 0 });

    const a1 = audit({ dockId: 'DOCK-1', tokenId: r.id });
    assert.is(refused(() => p.markUsed(r.id, 'DOCK-2', { ...a1, dockId: 'DOCK-2' })).code, 'state');
    assert.is(refused(() => p.markUsed('t0001', 'DOCK-1', { ...a1, tokenId: 't0001' })).code, 'state', 'a free token');
    assert.is(refused(() => p.markUsed('nope', 'DOCK-1', { ...a1, tokenId: 'nope' })).code, 'not-found');
    assert.is(refused(() => p.markUsed(r.id, 'DOCK-1', { ...a1, imageDigest: 'xyz' })).code, 'malformed');
    assert.is(refused(() => p.markUsed(r.id, 'DOCK-1', { ...a1, dockId: 'DOCK-9' })).code, 'malformed');
    assert.equal(p.audit(), []);

    p.markUsed(r.id, 'DOCK-1', a1);
    p.markUsed(r.id, 'DOCK-1', { ...a1, imageDigest: a1.imageDigest.toUpperCase() }); // a retry: idempotent
    assert.equal(p.status(), { total: 3, free: 2, reserved: 0, used: 1, flagged: 0 });
    assert.is(p.token(r.id)?.usedAt, a1.finishedAt);
    assert.equal(p.reserve('DOCK-1', 'line1-a'), { ...r, fresh: false }, 'a re-flashed dock keeps its token');
    assert.is(refused(() => p.release(r.id, 'DOCK-1')).code, 'state', 'a used token never returns to the pool');

    const r2 = p.reserve('DOCK-2', 'line1-b', 1_700_000_100_000);
    p.flag(r2.id, 'dock stopped answering before the token was confirmed');
    assert.is(p.status().flagged, 1);
    assert.equal(p.reservations({ station: 'line1-b' }).map((t) => [t.id, t.dockId, t.flagged]), [[r2.id, 'DOCK-2', 'dock stopped answering before the token was confirmed']]);
    assert.equal(p.reservations({ station: 'line1-a' }), []);
    assert.is(refused(() => p.release(r2.id, 'DOCK-1')).code, 'state');
    p.release(r2.id, 'DOCK-2');
    assert.equal(p.token(r2.id), { id: r2.id, value: r2.value, state: 'free' });
    assert.is(p.tokenOfDock('DOCK-2'), undefined);
    assert.equal(p.status(), { total: 3, free: 2, reserved: 0, used: 1, flagged: 0 });

    const a2 = audit({ dockId: 'DOCK-2', tokenId: p.reserve('DOCK-2', 'line1-b').id, imageDigest: 'cd'.repeat(32), finishedAt: 1_700_000_200_000 });
    p.markUsed(a2.tokenId, 'DOCK-2', a2);
    const a3 = audit({ dockId: 'DOCK-3', tokenId: p.reserve('DOCK-3', 'line1-b').id, finishedAt: 1_700_000_300_000 });
    p.markUsed(a3.tokenId, 'DOCK-3', a3);
    const synced = { ...a1, source: 'sync' as const, finishedAt: 1_700_000_400_000, station: 'line2-a' };
    p.recordAudit(synced);
    p.recordAudit(synced);
    assert.equal(p.audit(), [a1, a2, a3, synced], 'newest last, repeats stored once');
    assert.equal(p.audit({ dockId: 'DOCK-1' }), [a1, synced]);
    assert.equal(p.audit({ tokenId: a2.tokenId }), [a2]);
    assert.equal(p.audit({ imageDigest: 'ABABABABABABABAB' }), [a1, a3, synced], 'a prefix, any case');
    assert.equal(p.audit({ since: a2.finishedAt }), [a2, a3, synced]);
    assert.equal(p.audit({ since: a3.finishedAt + 1, dockId: 'DOCK-1' }), [synced]);

    const empty = refused(() => p.reserve('DOCK-4', 'line1-a'));
    assert.is(empty.code, 'empty');
    assert.match(empty.message, /no free tokens .*tokens import/);
    assert.is(refused(() => p.reserve('bad dock', 'line1-a')).code, 'malformed');
    assert.equal(p.status(), { total: 3, free: 0, reserved: 0, used: 3, flagged: 0 });
  });
  withPool(dir, (p) => assert.is(p.tokenOfDock('DOCK-3')?.state, 'used'), { create: false });
  assert.is(refused(() => TokenPool.open(join(work, 'no-such-db'), { create: false })).code, 'not-found');
  assert.not.ok(existsSync(join(work, 'no-such-db')));
});

const full = suite('token pool: a full database');

full('a tiny mapSize: db-full, saying where and what to do, and the pool is unchanged', () => {
  const dir = freshDb();
  withPool(
    dir,
    (p) => {
      p.import(tokens(50));
      p.reserve('DOCK-1', 'line1-a');
      const before = p.status();
      const e = refused(() => p.import(tokens(3000, 'big')));
      assert.is(e.code, 'db-full');
      assert.match(e.message, new RegExp(`token database ${dir} is full .*nothing changed.*Free disk space.*mapSize 65536`));
      assert.equal(p.status(), before);
      assert.is(p.token('big0000'), undefined);

      // Provision docks until the database is full: the failing step (a reserve,
      // or a markUsed with its audit record) leaves everything as it was.
      let failure: TokenPoolError | undefined;
      const long = (s: string) => s.padEnd(120, '-');
      for (let i = 0; !failure && i < 1000; i++) {
        const dock = long(`DOCK-${i + 2}`);
        const was = { status: p.status(), audits: p.audit().length };
        try {
          const t = p.reserve(dock, long('station'));
          p.markUsed(t.id, dock, audit({ dockId: dock, tokenId: t.id, station: long('station'), firmwareVersion: long('fw'), finishedAt: 1_700_000_000_000 + i }));
        } catch (e) {
          if (!(e instanceof TokenPoolError)) throw e;
          failure = e;
          const now = { status: p.status(), audits: p.audit().length };
          // A failed markUsed leaves the token reserved (the reserve before it committed on its own).
          if (now.status.reserved > was.status.reserved) assert.equal({ ...now, status: { ...now.status, free: now.status.free + 1, reserved: now.status.reserved - 1 } }, was);
          else assert.equal(now, was);
        }
      }
      assert.is(failure?.code, 'db-full', failure?.message);
      const s = p.status();
      assert.is(p.audit().length, s.used - before.used, 'every used token has its audit record, and no more');
    },
    { mapSize: 64 * 1024 },
  );
});

full('a real write failure (a file-size limit, as a full disk behaves): db-full, nothing changed', () => {
  if (process.platform === 'win32') return;
  const dir = freshDb();
  withPool(dir, (p) => p.import(tokens(20)));
  const script = file(
    'fill.ts',
    `import { TokenPool } from ${JSON.stringify(join(root, 'flash-scripts/factory-line/token-pool.ts'))};
const p = TokenPool.open(${JSON.stringify(dir)});
try { p.import(Array.from({ length: 20000 }, (_, i) => ({ id: 'big' + i, value: 'v'.repeat(200) + i }))); console.log('imported'); }
catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
p.close();`,
  );
  // ulimit -f: the data file may not pass 1 MiB, and Node ignores SIGXFSZ, so writes fail as on a full disk.
  const r = spawnSync('bash', ['-c', 'ulimit -f 1024; exec "$0" --import tsx "$1"', process.execPath, script], { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.is(out.code, 'db-full', out.message);
  assert.match(out.message, /is full .*nothing changed/);
  withPool(dir, (p) => {
    assert.equal(p.status(), { total: 20, free: 20, reserved: 0, used: 0, flagged: 0 });
    assert.is(p.reserve('DOCK-1', 'line1-a').id, 't0000', 'still usable');
  });
});

const stations = suite('token pool: two stations, one database');

stations('two processes reserving at once never get the same token', async () => {
  const dir = freshDb();
  withPool(dir, (p) => p.import(tokens(500)));
  const start = (name: string) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'support', 'token-reserver.ts'), dir, name, '200'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => (err += d));
    const lines = createInterface({ input: proc.stdout });
    const ready = new Promise<void>((ok) => lines.on('line', (l) => l === 'ready' && ok()));
    const result = new Promise<string[]>((ok, fail) => {
      lines.on('line', (l) => l.startsWith('{') && ok(JSON.parse(l).ids));
      proc.on('exit', (code) => code !== 0 && fail(new Error(`${name} exited ${code}: ${err}`)));
    });
    return { proc, ready, result };
  };
  const a = start('A');
  const b = start('B');
  await Promise.all([a.ready, b.ready]);
  a.proc.stdin.end('go\n');
  b.proc.stdin.end('go\n');
  const [idsA, idsB] = await Promise.all([a.result, b.result]);
  assert.is(idsA.length, 200);
  assert.is(idsB.length, 200);
  const taken = new Set([...idsA, ...idsB]);
  assert.is(taken.size, 400, 'no token reserved twice');
  // Both take the lowest free token: interleaved ids show the two really ran at the same time.
  const owner = new Map([...idsA.map((id) => [id, 'A'] as const), ...idsB.map((id) => [id, 'B'] as const)]);
  const order = [...taken].sort().map((id) => owner.get(id));
  const switches = order.filter((s, i) => i > 0 && s !== order[i - 1]).length;
  assert.ok(switches > 1, `the stations did not overlap (${switches} switches): the test proved nothing`);
  withPool(dir, (p) => {
    assert.equal(p.status(), { total: 500, free: 100, reserved: 400, used: 0, flagged: 0 });
    assert.is(p.tokenOfDock('A-dock-7')?.id, idsA[7]);
    assert.is(p.tokenOfDock('B-dock-199')?.id, idsB[199]);
    assert.is(p.reservations({ station: 'B' }).length, 200);
  });
});

const cli = suite('dl7450 tokens / fleet query handlers');

cli('import, status --json, release, fleet query (table and JSON lines); never a secret; bad input changes nothing', async () => {
  const dir = freshDb();
  const printed: string[] = [];
  const run = async (f: (out: (s: string) => void) => Promise<number>) => {
    const lines: string[] = [];
    assert.is(await f((s) => lines.push(s)), 0);
    printed.push(...lines);
    return lines;
  };
  const csv = file('cli.csv', `token,id\n${tokens(6).map((t) => `${t.value},${t.id}`).join('\n')}\n`);
  assert.equal(await run((o) => tokensCommand('import', [csv, '--db', dir], o)), ['imported 6 tokens (pool: 6 free, 0 reserved, 0 used)']);
  const dup = await tokensCommand('import', [csv, '--db', dir], () => {}).catch((e) => e);
  assert.instance(dup, TokenPoolError);
  assert.match(dup.message, /6 duplicate tokens/);
  const bad = await tokensCommand('import', [file('cli-bad.csv', 'id,token\nx,\n'), '--db', dir], () => {}).catch((e) => e);
  assert.is(bad.code, 'malformed');

  withPool(dir, (p) => {
    for (const [i, dock] of ['D1', 'D2', 'D3'].entries()) {
      const t = p.reserve(dock, 'line1-a', 1_700_000_000_000 + i);
      if (dock !== 'D3') p.markUsed(t.id, dock, audit({ dockId: dock, tokenId: t.id, imageDigest: (dock === 'D1' ? 'ab' : 'cd').repeat(32), finishedAt: Date.parse(dock === 'D1' ? '2024-05-01T08:00:00Z' : '2024-05-02T08:00:00Z') }));
      else p.flag(t.id, 'no answer from the dock after the write');
    }
  });
  const status = JSON.parse((await run((o) => tokensCommand('status', ['--db', dir, '--json'], o)))[0]);
  assert.equal({ ...status, flaggedReservations: status.flaggedReservations.map((r: { id: string; dockId: string; flagged: string }) => [r.id, r.dockId, r.flagged]) }, { total: 6, free: 3, reserved: 1, used: 2, flagged: 1, flaggedReservations: [['t0002', 'D3', 'no answer from the dock after the write']] });
  const text = await run((o) => tokensCommand('status', ['--db', dir], o));
  assert.match(text.join('\n'), /6 tokens: 3 free, 1 reserved, 2 used\n1 flagged reservation: .*\ntoken +dock +station +reserved at +why\nt0002 +D3 +line1-a +2023-11-14T22:13:20Z +no answer/);

  const rows = (await run((o) => fleetQueryCommand(['--db', dir, '--json'], o))).map((l) => JSON.parse(l));
  assert.equal(rows.map((r) => r.dockId), ['D1', 'D2']);
  assert.equal((await run((o) => fleetQueryCommand(['--db', dir, '--since', '2024-05-02', '--json'], o))).map((l) => JSON.parse(l).dockId), ['D2']);
  assert.equal((await run((o) => fleetQueryCommand(['--db', dir, '--image', 'ABAB', '--json'], o))).map((l) => JSON.parse(l).dockId), ['D1']);
  assert.equal((await run((o) => fleetQueryCommand(['--db', dir, '--token', 't0001', '--json'], o))).map((l) => JSON.parse(l).dockId), ['D2']);
  const table = await run((o) => fleetQueryCommand(['--db', dir, '--dock', 'D1'], o));
  assert.match(table[0], /^dock +token +image +station +finished at +source +locked$/);
  assert.match(table[1], /^D1 +t0000 +abababababababab +line1-a +2024-05-01T08:00:00Z +provision +yes$/);
  assert.is(table[2], '1 record');
  assert.equal(await run((o) => fleetQueryCommand(['--db', dir, '--dock', 'nobody'], o)), ['no audit records match']);

  assert.equal(await run((o) => tokensCommand('release', ['t0002', '--dock', 'D3', '--db', dir], o)), ['released token t0002 from dock D3: it is free again (pool: 4 free, 0 reserved, 2 used)']);
  assert.is((await tokensCommand('release', ['t0000', '--dock', 'D1', '--db', dir], () => {}).catch((e) => e)).code, 'state');

  for (const argv of [['status'], ['status', '--db', dir, '--dok', 'x'], ['release', 't0001', '--db', dir], ['import', '--db', dir], ['frob', '--db', dir], ['status', '--db']]) {
    assert.instance(await tokensCommand(argv[0], argv.slice(1), () => {}).catch((e) => e), UsageError, argv.join(' '));
  }
  assert.instance(await tokensCommand(undefined, [], () => {}).catch((e) => e), UsageError);
  for (const since of ['2024-02-30', '2024-05-01T08:00', 'yesterday', '2024-05-01T25:00Z']) {
    assert.instance(await fleetQueryCommand(['--db', dir, '--since', since], () => {}).catch((e) => e), UsageError, since);
  }
  assert.instance(await fleetQueryCommand(['--db', dir, '--image', 'xyz'], () => {}).catch((e) => e), UsageError);
  assert.is(parseSince('2024-05-01T10:30+02:00'), Date.parse('2024-05-01T08:30:00Z'));
  const missing = await tokensCommand('status', ['--db', join(work, 'typo')], () => {}).catch((e) => e);
  assert.is(missing.code, 'not-found');
  assert.not.ok(existsSync(join(work, 'typo')), 'a mistyped --db creates nothing');
  withPool(dir, (p) => assert.equal(p.status(), { total: 6, free: 4, reserved: 0, used: 2, flagged: 0 }));

  const all = printed.join('\n');
  for (const t of tokens(6)) assert.not.ok(all.includes(t.value), `the secret of ${t.id} was printed`);
});

cli.after(() => rmSync(work, { recursive: true, force: true }));

files.run();
pool.run();
full.run();
stations.run();
cli.run();
