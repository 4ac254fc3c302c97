import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedDock } from '../simulator/simulated-dock.ts';
import { SmpClient } from '../flash-scripts/link/smp-client.ts';
import { GROUP_DOCK, DOCK } from '../firmware/smp/smp-server.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { encodeValue } from '../datastore/value-codec.ts';
import { FileFlash } from '../simulator/flash/file-flash.ts';
import { ptyPair } from './support/pty-pair.ts';
import { JERRY_SKIP } from './support/engines.ts';
import { makePng } from './support/image-files.ts';
import { getValue, setValue } from '../flash-scripts/link/kv-transfer.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { cli, flashNewFactory, simDock } from './support/cli-process.ts';

const serial = suite('a JerryScript dock over the serial line: 10,000 keys listed a page at a time');
const KEYS = 10_000;

if (JERRY_SKIP) console.log(`skipped: JerryScript serial tests: ${JERRY_SKIP}`);
else {
  serial('SMP on a JerryScript dock holding 10,000 keys: echo, settings, a 300 KiB value streamed to flash and back, the key list in pages, inspect counts every key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dl7450-jerrydock-'));
    const first = new SimulatedDock({ dir, log: () => {}, engine: 'jerryscript' });
    await first.boot();
    first.shutdown();
    // The runtime partition, filled from outside as the factory line would: setting-0 … setting-9999.
    const flash = FileFlash.open(join(dir, 'runtime.flash'), { size: 13 * 1024 * 1024, sectorSize: 4096, programUnit: 256 });
    const store = RuntimeStore.mount(flash, { durability: 'batched', batchSize: 64 });
    for (let k = 0; k < KEYS; k++) store.set(`kv/setting-${k}`, encodeValue(`value ${k}`).bytes, { encoding: 1 });
    store.unmount();
    flash.close();
    const pair = await ptyPair();
    const dock = new SimulatedDock({ dir, log: () => {}, engine: 'jerryscript' });
    let client: SmpClient | null = null;
    try {
      const booted = await dock.boot();
      assert.match(booted.report.runtime, /mounted: 10\d\d\d keys/);
      await dock.serveSerial(`serial:${pair.dock}@921600`);
      client = await SmpClient.connect(`serial:${pair.host}@921600`);
      assert.equal(await client.request(2, 0, 0, { d: 'jerry' }), { r: 'jerry' });
      await client.request(2, 3, 0, { name: 'net.ssid', val: new TextEncoder().encode('office') });
      assert.is(new TextDecoder().decode((await client.request(0, 3, 0, { name: 'net.ssid' })).val as Uint8Array), 'office');
      const seen = new Set<string>();
      let after: string | undefined;
      let pages = 0;
      for (;;) {
        const r = await client.request(0, GROUP_DOCK, DOCK.KV_LIST, after === undefined ? { limit: 250 } : { after, limit: 250 });
        const keys = r.keys as string[];
        pages++;
        for (const k of keys) {
          assert.not.ok(seen.has(k), `${k} twice`);
          seen.add(k);
        }
        if (typeof r.next !== 'string') break;
        after = r.next;
      }
      for (let k = 0; k < KEYS; k += 97) assert.ok(seen.has(`setting-${k}`), `setting-${k} listed`);
      assert.is([...seen].filter((k) => k.startsWith('setting-')).length, KEYS);
      assert.ok(pages >= KEYS / 250, `${pages} pages`);
      const inspected = await client.request(0, GROUP_DOCK, DOCK.INSPECT, {}, { timeoutMs: 10_000 }); // as `dl7450 inspect` asks
      const keys = inspected.keys as { count: number; names: string[]; truncated: boolean };
      assert.is(keys.count, seen.size, 'inspect counts what the pages list');
      assert.is(keys.truncated, true);
      // A value larger than the heap would assemble (256 KiB): written to flash as its parts arrive, read back in parts.
      const random = seededRandom(300);
      const big = new Uint8Array(300 * 1024).map(() => Math.floor(random() * 256));
      await setValue(client, 'big.blob', big, 'bytes');
      const back = await getValue(client, 'big.blob');
      assert.is(createHash('sha256').update(back.bytes).digest('hex'), createHash('sha256').update(big).digest('hex'), '300 KiB round trip on JerryScript');
      // Factory reset over the line: the 10,000 keys are gone, the factory's keys show through.
      await client.request(2, GROUP_DOCK, DOCK.FACTORY_RESET, {}, { timeoutMs: 30_000 }); // as `dl7450 factory-reset` asks
      const left = (await client.request(0, GROUP_DOCK, DOCK.KV_LIST, { limit: 500 })).keys as string[];
      assert.is(left.filter((k) => k.startsWith('setting-')).length, 0);
      const heap = dock.engineHeap();
      assert.ok(heap, 'a JerryScript dock reports its heap');
      console.log(`  JerryScript dock, ${KEYS} keys over SMP: peak heap ${heap!.peakBytes} bytes of ${heap!.sizeBytes}`);
      assert.ok(heap!.peakBytes <= 400 * 1024, `peak ${heap!.peakBytes} bytes: at least 112 KiB must stay free for the app`);
    } finally {
      await client?.close();
      dock.shutdown();
      pair.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

if (!JERRY_SKIP) {
  serial('end to end over a pty: the real CLI and `dl7450 sim start --engine jerryscript`: ping, flash over the bulk lane, inspect, send-code, kv, events, fs upload, a failing app falls back, factory reset', async () => {
    const pair = await ptyPair();
    const dir = mkdtempSync(join(tmpdir(), 'dl7450-jerry-e2e-'));
    const dock = simDock(['--dir', dir, '--engine', 'jerryscript', '--serve', `serial:${pair.dock}@921600`, '--unthrottled', '--run-ms', '120000']);
    try {
      await dock.serving();
      const conn = `serial://${pair.host}?baud=921600`;
      const ping = await cli('ping', conn, '--json');
      assert.is(ping.status, 0, ping.stderr);

      await flashNewFactory(dir, conn, 'Flashed To A Jerry Dock');
      assert.is((await cli('kv', 'get', conn, 'dock_name')).stdout.trim(), 'Flashed To A Jerry Dock');

      const app = join(dir, 'watcher.ts');
      writeFileSync(app, `import { KvStore } from 'datastore';\nconst kv = new KvStore();\nkv.subscribe('greeting', (key) => console.log('watcher saw ' + key + ' = ' + kv.get(key)));\nconsole.log('watcher app running');\n`);
      assert.is((await cli('send-code', conn, app)).status, 0);
      await new Promise((r) => setTimeout(r, 300));
      assert.match(dock.output(), /watcher app running/);
      assert.is((await cli('kv', 'set', conn, 'greeting', 'hello jerry')).status, 0);
      const events = (await cli('events', conn, '--all', '--for', '300', '--json')).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
      assert.ok(events.some((e) => e.kind === 'key-changed' && /greeting/.test(e.detail)), JSON.stringify(events));
      assert.match(dock.output(), /watcher saw greeting = hello jerry/);

      const logo = join(dir, 'logo.png');
      writeFileSync(logo, makePng(120, 80));
      assert.is((await cli('fs', 'upload', conn, logo, '/images/logo')).status, 0);
      const copy = join(dir, 'logo-back.png');
      assert.is((await cli('fs', 'download', conn, '/images/logo', copy)).status, 0);
      assert.equal(new Uint8Array(readFileSync(copy)), new Uint8Array(readFileSync(logo)));

      // An app that throws at start-up: the dock falls back to the factory app and says so.
      const bad = join(dir, 'bad.ts');
      writeFileSync(bad, `throw new Error('broken update');\n`);
      await cli('send-code', conn, bad);
      await new Promise((r) => setTimeout(r, 300));
      assert.match(dock.output(), /broken update/);
      assert.is((await cli('ping', conn)).status, 0, 'the dock still answers');

      const reset = await cli('factory-reset', conn, '--json');
      assert.is(reset.status, 0, reset.stderr);
      const gone = await cli('kv', 'get', conn, 'greeting');
      assert.is(gone.status, 1, 'runtime data gone after a factory reset: the dock says the key is missing');
      assert.match(gone.stderr, /no setting named greeting/);
    } finally {
      await dock.stop();
      pair.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

serial.run();
