// One factory station for the token pool's two-process test:
//   node --import tsx test/support/token-reserver.ts <db dir> <station> <count>
// Opens the pool, prints "ready", waits for a line on stdin (so both stations
// start together), reserves <count> tokens for docks <station>-dock-<i> as fast
// as it can, and prints {"ids": [...]} (token ids only, never values).

import { createInterface } from 'node:readline';
import { TokenPool } from '../../flash-scripts/factory-line/token-pool.ts';

const [dir, station, count] = process.argv.slice(2);
const pool = TokenPool.open(dir);
const lines = createInterface({ input: process.stdin });
console.log('ready');
await new Promise<void>((go) => lines.once('line', () => go()));
lines.close();
const ids: string[] = [];
for (let i = 0; i < Number(count); i++) ids.push(pool.reserve(`${station}-dock-${i}`, station).id);
pool.close();
console.log(JSON.stringify({ ids }));
