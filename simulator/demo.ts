// `npm start`: what the runtime tier does, on a simulated 13 MiB partition
// kept in a file (.dock/runtime.flash), so a second run finds the first
// run's data. The full simulated dock (engine, factory image, serial port)
// replaces this with the firmware issue.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FileFlash } from './flash/file-flash.ts';
import { SimFlash } from './flash/sim-flash.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { decodeValue, encodeValue, type DockValue } from '../datastore/value-codec.ts';

const MiB = 1024 * 1024;
const geometry = { size: 13 * MiB, sectorSize: 4096, programUnit: 256 };
const dir = resolve(import.meta.dirname, '..', '.dock');
mkdirSync(dir, { recursive: true });
const path = join(dir, 'runtime.flash');
const clock = { now: () => Date.now() };

function put(store: RuntimeStore, key: string, value: DockValue): void {
  const { encoding, bytes } = encodeValue(value);
  store.set(key, bytes, { encoding });
}
function show(store: RuntimeStore, key: string): string {
  const rec = store.getRecord(key);
  if (!rec) return '(missing)';
  const v = decodeValue(rec.info.encoding, rec.value);
  const text = v instanceof Uint8Array ? `<${v.length} bytes>` : JSON.stringify(v);
  return `${text}  (${rec.info.size} B, written ${new Date(rec.info.writtenAt * 1000).toISOString()})`;
}
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

console.log(`DL-7450 runtime partition: ${path} (13 MiB, 4 KiB sectors, 256-byte pages)`);
const flash = FileFlash.open(path, geometry);
flash.resetStats();
const store = RuntimeStore.open(flash, { clock });
const boots = store.get('boot_count');
const count = boots ? (decodeValue(2, boots) as number) + 1 : 1;
console.log(`mounted ${store.size} keys, reading ${kb(flash.stats.bytesRead)} of flash (${(flash.stats.timeUs / 1000).toFixed(2)} ms modelled)`);

put(store, 'boot_count', count);
put(store, 'dock_name', 'Reception desk');
put(store, 'token', { access: 'eyJhbGciOi…', exp: 1_736_000_000 });
const background = new Uint8Array(2 * MiB);
for (let i = 0; i < background.length; i++) background[i] = (i * 31) & 0xff;
store.set('background.png', background);
console.log('\nkeys now:');
for (const key of store.keys().sort()) console.log(`  ${key.padEnd(16)} ${show(store, key)}`);

// A power cut in the middle of the next write, on a copy of the partition.
const copy = new SimFlash({ ...geometry, image: flash.snapshot() });
const victim = RuntimeStore.mount(copy);
copy.armPowerCut({ atOp: copy.opCount + 3, effect: 'torn' });
try {
  victim.set('background.png', new Uint8Array(2 * MiB).fill(7));
} catch (e) {
  console.log(`\npower cut while overwriting the 2 MiB background: ${(e as Error).message}`);
}
copy.powerOn();
const recovered = RuntimeStore.mount(copy);
const back = recovered.get('background.png')!;
const intact = back.length === background.length && back.every((b, i) => b === background[i]);
console.log(`after the cut the old background is ${intact ? 'intact' : 'DAMAGED'}; boot_count = ${show(recovered, 'boot_count')}`);

store.unmount();
const s = RuntimeStore.mount(flash).stats();
const wear = flash.wear();
console.log(`\nlive ${kb(s.liveBytes)} in ${s.keys} keys, ${kb(s.freeBytes)} free of ${kb(s.capacityBytes)}; index ${s.indexHeapBytes} B of heap`);
console.log(`this run programmed ${kb(flash.stats.bytesProgrammed)}, erased ${flash.stats.erases} sectors; most-erased sector: ${wear.max}`);
console.log(`run again: boot_count goes up. Delete ${path} to start over. Tests: npm test. Figures: npm run bench.`);
flash.close();
