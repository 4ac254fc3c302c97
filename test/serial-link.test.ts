import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedDock } from '../flash-scripts/sim/simulated-dock.ts';
import { SmpClient, SmpError } from '../flash-scripts/link/smp-client.ts';
import { parseConnection, LinkError } from '../flash-scripts/link/serial-line.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { FileFlash } from '../simulator/flash/file-flash.ts';
import { ptyPair } from './support/pty-pair.ts';

const link = suite('serial link: SMP between the host and a simulated dock over a pseudo-terminal pair');

link('echo, settings write/read/delete over a real serial device; line noise between frames is survived', async () => {
  const pair = await ptyPair();
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-linkdock-'));
  const dock = new SimulatedDock({ dir, log: () => {} });
  let client: SmpClient | null = null;
  try {
    await dock.boot();
    await dock.serveSerial(`serial:${pair.dock}@115200`);
    client = await SmpClient.connect(`serial:${pair.host}@115200`);
    assert.equal(await client.request(2, 0, 0, { d: 'hi' }), { r: 'hi' });
    assert.equal(await client.request(2, 3, 0, { name: 'net.ssid', val: new TextEncoder().encode('office') }), {});
    client.writeRaw(new Uint8Array([0x06, 0x09, 0x21, 0x21, 0x0a, 0xff, 0x00, 0x0a])); // noise, a broken frame start
    const read = await client.request(0, 3, 0, { name: 'net.ssid' });
    assert.is(new TextDecoder().decode(read.val as Uint8Array), 'office');
    const info = await client.request(0, 0, 7, {});
    assert.match(String(info.output), /DL-7450 dock [0-9a-f]{64} firmware/);
    assert.equal(await client.request(2, 3, 1, { name: 'net.ssid' }), {});
    let err: unknown;
    try {
      await client.request(0, 3, 0, { name: 'net.ssid' });
    } catch (e) {
      err = e;
    }
    assert.instance(err, SmpError);
    assert.is((err as SmpError).rc, 5);
    // What the host wrote over the wire is on the dock's runtime partition.
    await client.request(2, 3, 0, { name: 'written.by.host', val: new TextEncoder().encode('yes') });
  } finally {
    await client?.close();
    dock.shutdown();
    pair.close();
  }
  const runtime = FileFlash.open(join(dir, 'runtime.flash'), { size: 13 * 1024 * 1024, sectorSize: 4096, programUnit: 256 });
  assert.ok(RuntimeStore.mount(runtime).has('kv/written.by.host'));
  runtime.close();
  rmSync(dir, { recursive: true, force: true });
});

link('connection strings: serial:/path@baud or a path; anything else is refused clearly', () => {
  assert.equal(parseConnection('serial:/dev/ttyUSB0@921600'), { path: '/dev/ttyUSB0', baudRate: 921600 });
  assert.equal(parseConnection('/dev/ttyACM0'), { path: '/dev/ttyACM0', baudRate: 115200 });
  assert.throws(() => parseConnection('tcp:dock.local'), (e: unknown) => e instanceof LinkError && /connection string/.test((e as Error).message));
});

link.run();
