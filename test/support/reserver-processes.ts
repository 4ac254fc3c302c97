// Starts station processes (store-reserver.ts) against one pool, releases them
// together, and collects what each reserved.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';

const script = resolve(import.meta.dirname, 'store-reserver.ts');

export async function reserveFromProcesses(db: string, stations: { station: string; count: number; dockPrefix?: string }[]): Promise<{ ids: string[]; ms: number }[]> {
  const procs = stations.map((s) => spawn(process.execPath, ['--import', 'tsx', script, db, s.station, String(s.count), ...(s.dockPrefix ? [s.dockPrefix] : [])], { stdio: ['pipe', 'pipe', 'pipe'] }));
  const results = procs.map(
    (p, i) =>
      new Promise<{ ids: string[]; ms: number }>((ok, fail) => {
        let err = '';
        let last = '';
        p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        createInterface({ input: p.stdout! }).on('line', (l) => (last = l));
        p.on('close', (code) => (code === 0 ? ok(JSON.parse(last)) : fail(new Error(`station ${stations[i].station} exited ${code}: ${err}`))));
      }),
  );
  await Promise.all(
    procs.map(
      (p) =>
        new Promise<void>((ok, fail) => {
          const rl = createInterface({ input: p.stdout! });
          rl.once('line', (l) => (l === 'ready' ? ok() : fail(new Error(`station said ${l}`))));
          p.once('close', () => fail(new Error('station exited before it was ready')));
        }),
    ),
  );
  for (const p of procs) p.stdin!.write('go\n');
  return Promise.all(results);
}
