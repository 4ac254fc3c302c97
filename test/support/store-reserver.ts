// One station process for the concurrent-reservation tests and the pool bench:
//   node --import tsx test/support/store-reserver.ts <db> <station> <count> [<dock prefix>]
// Opens the pool (an LMDB dir or postgres://…), prints "ready", waits for a
// line on stdin (so all stations start together), reserves <count> tokens for
// docks <prefix>-<i> (prefix defaults to the station) one after another, and
// prints {"ids": [...], "ms": N} (token ids only, never values).

import { createInterface } from 'node:readline';
import { openTokenStore } from '../../flash-scripts/factory-line/token-store.ts';

const [db, station, count, prefix = station] = process.argv.slice(2);
const pool = await openTokenStore(db);
const lines = createInterface({ input: process.stdin });
console.log('ready');
await new Promise<void>((go) => lines.once('line', () => go()));
lines.close();
const ids: string[] = [];
const t0 = performance.now();
for (let i = 0; i < Number(count); i++) ids.push((await pool.reserve(`${prefix}-${i}`, station)).id);
const ms = performance.now() - t0;
await pool.close();
console.log(JSON.stringify({ ids, ms }));
