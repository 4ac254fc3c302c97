// factory.line: docks per hour for a 12 MiB factory image at 921,600 baud,
// with 1, 4 and 8 stations (docks provisioned at once, one serial line each).
// The docks are simulated dock processes on their own pty pairs, their UARTs
// paced at the baud rate; the station is `provision()` in this process, with a
// real LMDB token pool. overheadSecondsPerDock is each dock's time outside the
// transfer itself (reserve, build and seal its section, commit, restart,
// verify, record), averaged. DL7450_LINE_BENCH_MIB scales the image down for a
// quick look. Lines carry `backend`: the LMDB pool with 1, 4 and 8 stations,
// then a PostgreSQL pool (a real embedded server on this host) with 1 and 8;
// DL7450_LINE_BENCH_BACKENDS=lmdb or =postgres runs one of them.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateSigningKeys } from '../flash-scripts/signing-keys.ts';
import { provision } from '../flash-scripts/factory-line/provision.ts';
import { openTokenStore } from '../flash-scripts/factory-line/token-store.ts';
import { migrateDatabase } from '../flash-scripts/factory-line/db-commands.ts';
import { startPostgres, type PostgresServer } from '../test/support/embedded-postgres.ts';
import { writeNoiseRomStore } from '../test/support/noise-rom-store.ts';
import type { BenchLine } from './runtime.ts';

const BAUD = 921_600;
const bin = join(resolve(import.meta.dirname, '..'), 'bin', 'dl7450.mjs');

function romStore(dir: string, mib: number): string {
  return writeNoiseRomStore(dir, mib, 200, 'kv_store:\n  content_url: "https://content.example/dl7450"\n').config;
}

async function startDock(dir: string, keys: string): Promise<{ proc: ChildProcess; conn: string }> {
  const proc = spawn(process.execPath, [bin, 'sim', 'start', '--dir', dir, '--keys', keys, '--serve', `pty@${BAUD}`, '--run-ms', '3600000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`dock in ${dir} did not start: ${out}`)), 240_000); // eight first boots at once on a busy 2-core host take minutes
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /host end of the dock's serial line: (\S+)/.exec(out);
      if (m && out.includes('serving SMP')) {
        clearTimeout(t);
        ok({ proc, conn: m[1] });
      }
    });
  });
}

export async function factoryLineBench(): Promise<BenchLine[]> {
  const mib = Number(process.env.DL7450_LINE_BENCH_MIB ?? 12);
  const root = mkdtempSync(join(tmpdir(), 'dl7450-bench-line-'));
  const out: BenchLine[] = [];
  const backends = (process.env.DL7450_LINE_BENCH_BACKENDS ?? 'lmdb,postgres').split(',');
  let server: PostgresServer | undefined;
  try {
    const keys = join(root, 'keys');
    generateSigningKeys(keys);
    const config = romStore(root, mib);
    const runs: [string, number][] = [];
    if (backends.includes('lmdb')) runs.push(['lmdb', 1], ['lmdb', 4], ['lmdb', 8]);
    if (backends.includes('postgres')) runs.push(['postgres', 1], ['postgres', 8]);
    for (const [backend, stations] of runs) {
      let db = join(root, `db-${stations}`);
      if (backend === 'postgres') {
        server ??= await startPostgres();
        db = await server.database(`line${stations}`);
        await migrateDatabase(db);
      }
      const pool = await openTokenStore(db);
      await pool.import(Array.from({ length: stations }, (_, i) => ({ id: `bench-${stations}-${i}`, value: `secret-${i}-${Math.random().toString(36).slice(2)}` })));
      await pool.close();
      const docks = await Promise.all(Array.from({ length: stations }, (_, i) => startDock(join(root, `${backend}-s${stations}-dock${i}`), keys)));
      try {
        const t = performance.now();
        const report = await provision({ config, key: join(keys, 'factory.key'), db, connections: docks.map((d) => d.conn), station: `bench-${stations}` });
        const seconds = (performance.now() - t) / 1000;
        const failed = report.docks.filter((d) => d.result !== 'provisioned');
        if (failed.length) throw new Error(`factory.line: ${failed.length} docks failed: ${failed.map((d) => d.error).join('; ')}`);
        const overhead = report.docks.reduce((s, d) => s + (d.seconds - d.transferSeconds), 0) / report.docks.length;
        out.push({
          bench: 'factory.line',
          backend,
          stations,
          baud: BAUD,
          imageBytes: report.imageBytes,
          docksPerHour: Number(((stations * 3600) / seconds).toFixed(1)),
          secondsForAll: Number(seconds.toFixed(1)),
          transferSecondsPerDock: Number((report.docks.reduce((s, d) => s + d.transferSeconds, 0) / report.docks.length).toFixed(1)),
          overheadSecondsPerDock: Number(overhead.toFixed(2)),
          note: 'wall clock, one run; stations = docks provisioned at once on their own lines; overhead = per-dock time outside the transfer',
        });
      } finally {
        for (const d of docks) d.proc.kill('SIGTERM');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  } finally {
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  }
  return out;
}
