// One test suite for every token-pool back end (LMDB, PostgreSQL): the state
// machine of DATABASE.md checked against an independent model (a few lines
// below, not the stores' code), plus the proof rule: nothing becomes used
// without the SHA-256 of the token the dock opened.

import * as assert from 'uvu/assert';
import type { Test } from 'uvu';
import { createHash } from 'node:crypto';
import { TokenPoolError, type AuditRecord, type TokenStore } from '../../flash-scripts/factory-line/token-store.ts';
import { seededRandom } from '../../simulator/seeded-random.ts';

/** The SHA-256 a dock reports for a token it opened, computed here independently. */
export const proofFor = (value: string) => createHash('sha256').update(value, 'utf8').digest('hex');

export const auditOf = (over: Partial<AuditRecord> & Pick<AuditRecord, 'dockId' | 'tokenId'>): AuditRecord => ({
  imageDigest: 'ab'.repeat(32),
  station: 'line1-a',
  startedAt: 1_700_000_000_000,
  finishedAt: 1_700_000_060_000,
  firmwareVersion: '2.4.1',
  locked: false,
  source: 'provision',
  ...over,
});

export async function refusedWith(code: string, f: () => Promise<unknown>, message?: RegExp): Promise<TokenPoolError> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof TokenPoolError)) throw e;
    assert.is(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.unreachable(`expected a TokenPoolError '${code}'`);
  throw new Error('unreachable');
}

const secret = (id: string) => `sec-${id}-7Qz`;

/**
 * Registers the shared tests on `test`. `fresh()` gives an empty, open store
 * of the back end under test (the test closes it).
 */
export function tokenStoreSuite(test: Test, backend: string, fresh: () => Promise<TokenStore>): void {
  const withStore = (name: string, fn: (s: TokenStore) => Promise<void>) =>
    test(`${backend}: ${name}`, async () => {
      const s = await fresh();
      try {
        await fn(s);
      } finally {
        await s.close();
      }
    });

  withStore('import is all or nothing: a duplicate id or secret, in the batch or the pool, refuses the batch', async (s) => {
    assert.equal(await s.import([{ id: 'a1', value: secret('a1') }, { id: 'a2', value: secret('a2') }]), { imported: 2 });
    await refusedWith('duplicate', () => s.import([{ id: 'b1', value: secret('b1') }, { id: 'a1', value: 'another' }]), /a1/);
    await refusedWith('duplicate', () => s.import([{ id: 'b2', value: secret('a2') }]), /b2/); // a secret already in the pool
    await refusedWith('duplicate', () => s.import([{ id: 'c1', value: 'x1' }, { id: 'c1', value: 'x2' }]));
    await refusedWith('malformed', () => s.import([{ id: 'ok', value: 'v' }, { id: 'bad id', value: 'v2' }]), /entry 2/);
    assert.equal(await s.status(), { total: 2, free: 2, reserved: 0, used: 0, flagged: 0 });
    assert.is(await s.token('b1'), undefined);
  });

  withStore('reserve takes the first free id in byte order; a dock keeps its token; an empty pool says so', async (s) => {
    const ids = ['m', 'B7', 'a0', '_u', '9z', '-x', 'Z', '.d', ':c'];
    await s.import(ids.map((id) => ({ id, value: secret(id) })));
    const byteOrder = [...ids].sort((x, y) => (Buffer.compare(Buffer.from(x), Buffer.from(y)))); // '-' '.' '9' ':' 'B' 'Z' '_' 'a' 'm'
    const got: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const r = await s.reserve(`dock-${i}`, 'st', 1000 + i);
      assert.ok(r.fresh);
      assert.is(r.value, secret(r.id));
      got.push(r.id);
    }
    assert.equal(got, byteOrder);
    const again = await s.reserve('dock-3', 'other-station', 5000);
    assert.equal(again, { id: byteOrder[3], value: secret(byteOrder[3]), fresh: false });
    await refusedWith('empty', () => s.reserve('dock-new', 'st'), /no free tokens/);
    assert.equal(await s.status(), { total: 9, free: 0, reserved: 9, used: 0, flagged: 0 });
    const t = await s.tokenOfDock('dock-3');
    assert.equal([t?.id, t?.state, t?.station, t?.reservedAt], [byteOrder[3], 'reserved', 'st', 1003]);
    await refusedWith('malformed', () => s.reserve('bad/dock', 'st'));
    await refusedWith('malformed', () => s.reserve('dock-x', ''));
  });

  withStore("markUsed needs the dock's proof: a wrong digest, another token's digest or another dock changes nothing", async (s) => {
    await s.import([{ id: 't1', value: secret('t1') }, { id: 't2', value: secret('t2') }]);
    const r = await s.reserve('d1', 'st', 10);
    assert.is(r.id, 't1');
    const a = auditOf({ dockId: 'd1', tokenId: 't1', finishedAt: 20 });
    await refusedWith('malformed', () => s.markUsed('t1', 'd1', a, ''));
    await refusedWith('state', () => s.markUsed('t1', 'd1', a, proofFor(secret('t2'))), /does not prove/);
    await refusedWith('state', () => s.markUsed('t1', 'd1', a, 'ff'.repeat(32)));
    await refusedWith('state', () => s.markUsed('t1', 'd2', auditOf({ dockId: 'd2', tokenId: 't1' }), proofFor(secret('t1'))));
    await refusedWith('state', () => s.markUsed('t2', 'd1', auditOf({ dockId: 'd1', tokenId: 't2' }), proofFor(secret('t2')))); // free
    await refusedWith('not-found', () => s.markUsed('t9', 'd1', auditOf({ dockId: 'd1', tokenId: 't9' }), proofFor('x')));
    await refusedWith('malformed', () => s.markUsed('t1', 'd1', auditOf({ dockId: 'd1', tokenId: 't2' }), proofFor(secret('t1'))));
    assert.equal(await s.status(), { total: 2, free: 1, reserved: 1, used: 0, flagged: 0 });
    assert.equal(await s.audit(), []);
    await s.markUsed('t1', 'd1', a, proofFor(secret('t1')).toUpperCase());
    await s.markUsed('t1', 'd1', a, proofFor(secret('t1'))); // a retried commit: stored once
    assert.equal(await s.status(), { total: 2, free: 1, reserved: 0, used: 1, flagged: 0 });
    const t = await s.token('t1');
    assert.equal([t?.state, t?.dockId, t?.usedAt, t?.reservedAt], ['used', 'd1', 20, 10]);
    assert.equal(await s.audit(), [a]);
    await refusedWith('state', () => s.release('t1', 'd1'), /never goes back/);
    assert.equal(await s.reserve('d1', 'st'), { id: 't1', value: secret('t1'), fresh: false });
  });

  withStore('release frees only a reservation of that dock; flag marks a reservation for an operator; reservations list by station, oldest first', async (s) => {
    await s.import(['t1', 't2', 't3', 't4'].map((id) => ({ id, value: secret(id) })));
    await s.reserve('d1', 'sa', 300);
    await s.reserve('d2', 'sb', 100);
    await s.reserve('d3', 'sa', 200);
    await refusedWith('state', () => s.release('t1', 'd2'));
    await refusedWith('state', () => s.release('t4', 'd1'));
    await refusedWith('not-found', () => s.release('t9', 'd1'));
    await refusedWith('malformed', () => s.flag('t1', '  '));
    await refusedWith('state', () => s.flag('t4', 'why'));
    await s.flag('t3', ' dock gone ');
    assert.equal(await s.status(), { total: 4, free: 1, reserved: 3, used: 0, flagged: 1 });
    assert.equal((await s.reservations({ station: 'sa' })).map((r) => [r.id, r.dockId, r.flagged]), [['t3', 'd3', 'dock gone'], ['t1', 'd1', undefined]]);
    assert.equal((await s.reservations()).map((r) => r.id), ['t2', 't3', 't1']);
    await s.release('t3', 'd3');
    const t3 = await s.token('t3');
    assert.equal([t3?.state, t3?.dockId, t3?.flagged], ['free', undefined, undefined]);
    assert.equal(await s.status(), { total: 4, free: 2, reserved: 2, used: 0, flagged: 0 });
    assert.is(await s.tokenOfDock('d3'), undefined);
    assert.is((await s.reserve('d9', 'sc')).id, 't3');
  });

  withStore('adopt: the dock is the truth, with its proof; a token of another dock is a conflict; a foreign token only gets its audit', async (s) => {
    await s.import(['t1', 't2', 't3'].map((id) => ({ id, value: secret(id) })));
    const a1 = auditOf({ dockId: 'd1', tokenId: 't2', source: 'sync' });
    await refusedWith('state', () => s.adopt('t2', 'd1', a1, proofFor(secret('t1'))));
    assert.is(await s.adopt('t2', 'd1', a1, proofFor(secret('t2'))), 'adopted');
    assert.equal([(await s.token('t2'))?.state, (await s.token('t2'))?.dockId], ['used', 'd1']);
    assert.is(await s.adopt('t2', 'd1', a1, proofFor(secret('t2'))), 'already-used');
    await refusedWith('state', () => s.adopt('t2', 'd2', auditOf({ dockId: 'd2', tokenId: 't2' }), proofFor(secret('t2'))), /two docks/);
    const foreign = auditOf({ dockId: 'd3', tokenId: 'elsewhere', source: 'sync', finishedAt: 1_700_000_070_000 });
    assert.is(await s.adopt('elsewhere', 'd3', foreign, proofFor('whatever')), 'foreign');
    assert.equal(await s.status(), { total: 3, free: 2, reserved: 0, used: 1, flagged: 0 });
    assert.equal(await s.audit(), [a1, foreign]);
    // The first free token is never handed out once a dock holds it.
    assert.is((await s.reserve('d4', 'st')).id, 't1');
    assert.is((await s.reserve('d5', 'st')).id, 't3');
  });

  withStore('audit: one record per distinct record, filters by dock, token, digest prefix (any case) and since, oldest first', async (s) => {
    const recs = [
      auditOf({ dockId: 'dB', tokenId: 'x1', finishedAt: 3000, imageDigest: 'AB12' }),
      auditOf({ dockId: 'dA', tokenId: 'x2', finishedAt: 1000, imageDigest: 'cd34' }),
      auditOf({ dockId: 'dA', tokenId: 'x2', finishedAt: 1000, imageDigest: 'cd34', locked: true }), // same time and dock, another record
      auditOf({ dockId: 'dC', tokenId: 'x3', finishedAt: 2000, imageDigest: 'ab99' }),
    ];
    for (const r of [...recs, recs[0], recs[2]]) await s.recordAudit(r);
    const lower = (r: AuditRecord) => ({ ...r, imageDigest: r.imageDigest.toLowerCase() });
    const all = await s.audit();
    assert.is(all.length, 4);
    assert.equal(all.map((r) => r.finishedAt), [1000, 1000, 2000, 3000]);
    assert.equal(new Set((await s.audit({ dockId: 'dA' })).map((r) => r.locked)), new Set([true, false]));
    assert.equal(await s.audit({ tokenId: 'x3' }), [lower(recs[3])]);
    assert.equal(await s.audit({ imageDigest: 'Ab' }), [lower(recs[3]), lower(recs[0])]);
    assert.equal(await s.audit({ since: 2000 }), [lower(recs[3]), lower(recs[0])]);
    assert.equal(await s.audit({ dockId: 'nobody' }), []);
    await refusedWith('malformed', () => s.recordAudit({ ...recs[0], imageDigest: 'xyz' }));
    await refusedWith('malformed', () => s.recordAudit({ ...recs[0], source: 'guess' as AuditRecord['source'] }));
    assert.is((await s.audit()).length, 4);
  });

  withStore('random operations (seeded) agree with an independent model of the state machine, step by step', async (s) => {
    const random = seededRandom(0x7450);
    const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)];
    const ids = Array.from({ length: 12 }, (_, i) => `k${String.fromCharCode(97 + ((i * 7) % 26))}${i}`);
    const docks = Array.from({ length: 16 }, (_, i) => `dock${i}`);
    await s.import(ids.map((id) => ({ id, value: secret(id) })));
    type M = { state: 'free' | 'reserved' | 'used'; dock?: string; flagged?: boolean };
    const model = new Map<string, M>(ids.map((id) => [id, { state: 'free' }]));
    const held = (dock: string) => [...model].find(([, m]) => m.dock === dock)?.[0];
    const outcome = async (f: () => Promise<unknown>) => {
      try {
        return { ok: await f() };
      } catch (e) {
        if (e instanceof TokenPoolError) return { code: e.code };
        throw e;
      }
    };
    for (let step = 0; step < 160; step++) {
      const op = pick(['reserve', 'reserve', 'used', 'release', 'flag']);
      const dock = pick(docks);
      const id = random() < 0.1 ? 'nope' : pick(ids);
      let want: { ok?: unknown; code?: string };
      let got: { ok?: unknown; code?: string };
      const m = model.get(id);
      if (op === 'reserve') {
        const have = held(dock);
        const free = ids.filter((t) => model.get(t)!.state === 'free').sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        if (have) want = { ok: { id: have, value: secret(have), fresh: false } };
        else if (!free.length) want = { code: 'empty' };
        else {
          model.set(free[0], { state: 'reserved', dock });
          want = { ok: { id: free[0], value: secret(free[0]), fresh: true } };
        }
        got = await outcome(() => s.reserve(dock, 'st', 1000 + step));
      } else if (op === 'used') {
        const honest = random() < 0.8;
        const proof = proofFor(honest ? secret(id) : secret(pick(ids) + 'x'));
        if (!m) want = { code: 'not-found' };
        else if (m.dock !== dock || m.state === 'free' || !honest) want = { code: 'state' };
        else {
          model.set(id, { state: 'used', dock });
          want = { ok: undefined };
        }
        got = await outcome(() => s.markUsed(id, dock, auditOf({ dockId: dock, tokenId: id, finishedAt: 5000 + step }), proof));
      } else if (op === 'release') {
        // Half the time the dock that holds it, else a random one.
        const d = m?.dock && random() < 0.5 ? m.dock : dock;
        if (!m) want = { code: 'not-found' };
        else if (m.state !== 'reserved' || m.dock !== d) want = { code: 'state' };
        else {
          model.set(id, { state: 'free' });
          want = { ok: undefined };
        }
        got = await outcome(() => s.release(id, d));
      } else {
        if (!m) want = { code: 'not-found' };
        else if (m.state !== 'reserved') want = { code: 'state' };
        else {
          m.flagged = true;
          want = { ok: undefined };
        }
        got = await outcome(() => s.flag(id, 'check it'));
      }
      assert.equal(got, want, `step ${step}: ${op} ${id} ${dock}`);
      const count = (st: M['state']) => [...model.values()].filter((x) => x.state === st).length;
      const flagged = [...model.values()].filter((x) => x.state === 'reserved' && x.flagged).length;
      assert.equal(await s.status(), { total: ids.length, free: count('free'), reserved: count('reserved'), used: count('used'), flagged }, `step ${step}`);
    }
    for (const id of ids) {
      const r = await s.token(id);
      assert.equal([r?.state, r?.dockId], [model.get(id)!.state, model.get(id)!.dock], id);
    }
  });
}
