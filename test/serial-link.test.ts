import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { makePng } from './support/image-files.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedDock } from '../simulator/simulated-dock.ts';
import { SmpClient, SmpError } from '../flash-scripts/link/smp-client.ts';
import { baudOf, openTransport, parseConnection, LinkError } from '../flash-scripts/link/transport.ts';
import { RuntimeStore } from '../datastore/runtime/runtime-store.ts';
import { KvStore } from '../datastore/kv-store.ts';
import { TierSet } from '../datastore/tiers/tier-set.ts';
import { FileFlash } from '../simulator/flash/file-flash.ts';
import { ptyPair } from './support/pty-pair.ts';
import { cli, cliSync, flashNewFactory, simDock } from './support/cli-process.ts';
import { linkDock } from './support/link-dock.ts';
import { getValue, setValue } from '../flash-scripts/link/kv-transfer.ts';
import { seededRandom } from '../simulator/seeded-random.ts';
import { createHash } from 'node:crypto';

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
    // SMP v2 group error: settings group 3, SETTINGS_MGMT_ERR_KEY_NOT_FOUND (3).
    assert.equal([(err as SmpError).group, (err as SmpError).rc, (err as SmpError).groupError], [3, 3, true]);
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

link('connection strings: serial:///path?baud=, serial:/path@baud, a bare path, sim://dir; anything else is refused clearly', async () => {
  assert.equal(parseConnection('serial:///dev/ttyUSB0?baud=921600'), { scheme: 'serial', target: '/dev/ttyUSB0', params: { baud: '921600' } });
  assert.equal(parseConnection('serial:/dev/ttyUSB0@921600'), { scheme: 'serial', target: '/dev/ttyUSB0', params: { baud: '921600' } });
  assert.equal(parseConnection('/dev/ttyACM0'), { scheme: 'serial', target: '/dev/ttyACM0', params: {} });
  assert.equal(parseConnection('sim://.dock?baud=921600'), { scheme: 'sim', target: '.dock', params: { baud: '921600' } });
  assert.is(baudOf(parseConnection('/dev/ttyACM0')), 115200);
  assert.throws(() => baudOf(parseConnection('serial:///dev/x?baud=fast')), (e: unknown) => e instanceof LinkError && /not a baud rate/.test((e as Error).message));
  assert.throws(() => parseConnection('dock.local'), (e: unknown) => e instanceof LinkError && /connection string/.test((e as Error).message));
  let err: unknown;
  try {
    await openTransport('tcp://dock.local');
  } catch (e) {
    err = e;
  }
  assert.instance(err, LinkError);
  assert.match((err as Error).message, /no transport for "tcp:" \(known: .*serial.*sim/);
});

link('the dl7450 command over serial: a simulated dock serving SMP, settings set/get and echo from another process', async () => {
  const pair = await ptyPair();
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-clidock-'));
  const dock = simDock(['--dir', dir, '--serve', `serial:${pair.dock}`, '--run-ms', '20000']);
  try {
    await dock.serving();
    const cli = (...args: string[]) => cliSync(args);
    const conn = `serial:${pair.host}`;
    assert.is(cli('smp', 'echo', '--conn', conn, 'hello', 'dock').stdout.trim(), 'hello dock');
    assert.is(cli('settings', 'set', '--conn', conn, 'timezone', 'CET').status, 0);
    assert.is(cli('settings', 'get', '--conn', conn, 'timezone').stdout.trim(), 'CET');
    const missing = cli('settings', 'get', '--conn', conn, 'nope');
    assert.is(missing.status, 1);
    assert.match(missing.stderr, /SMP group 3 error 3\): no setting named nope/);
    // Push a new app build for immediate testing: it runs from the ephemeral tier.
    const app = join(dir, 'pushed.ts');
    // A long literal makes the build span several 256-byte upload chunks.
    writeFileSync(app, `import { KvStore } from 'datastore';\nconst pad = '${'y'.repeat(700)}';\nconsole.log('pushed app running; timezone ' + new KvStore().get('timezone') + ' ' + pad.length);\n`);
    const sent = cli('send-code', app, '--conn', conn);
    assert.is(sent.status, 0, sent.stderr);
    assert.match(sent.stdout, /now runs the ephemeral app/);
    await new Promise((r) => setTimeout(r, 200));
    assert.match(dock.output(), /pushed app running; timezone CET 700/);
  } finally {
    await dock.stop();
    pair.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

link('end to end over a pty between the real CLI and a dock process: flash → verified → inspect → send-code → the new app runs → kv set → event seen', async () => {
  const pair = await ptyPair();
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-e2e-'));
  const dock = simDock(['--dir', dir, '--serve', `serial:${pair.dock}@921600`, '--unthrottled', '--run-ms', '120000']);
  try {
    await dock.serving();
    const conn = `serial://${pair.host}?baud=921600`;
    const ping = await cli('ping', conn, '--json');
    assert.is(ping.status, 0, ping.stderr);
    assert.match(JSON.parse(ping.stdout).info, /DL-7450 dock/);

    await flashNewFactory(dir, conn, 'Flashed Over The Line');
    const human = await cli('inspect', conn);
    assert.match(human.stdout, /factory: slot 1, generation 1, factory mode \(unlocked\)/);
    assert.match(human.stdout, /runtime wear: erase counts/);
    assert.is((await cli('kv', 'get', conn, 'dock_name')).stdout.trim(), 'Flashed Over The Line');

    const app = join(dir, 'watcher.ts');
    writeFileSync(app, `import { KvStore } from 'datastore';\nconst kv = new KvStore();\nkv.subscribe('greeting', (key) => console.log('watcher saw ' + key + ' = ' + kv.get(key)));\nconsole.log('watcher app running');\n`);
    const sent = await cli('send-code', conn, app);
    assert.is(sent.status, 0, sent.stderr);
    await new Promise((r) => setTimeout(r, 200));
    assert.match(dock.output(), /watcher app running/);

    const set = await cli('kv', 'set', conn, 'greeting', 'hello dock');
    assert.is(set.status, 0, set.stderr);
    // A serial port has one user at a time: read the dock's event ring afterwards.
    const events = (await cli('events', conn, '--all', '--for', '300', '--json')).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.ok(events.some((e) => e.kind === 'key-changed' && /greeting/.test(e.detail)), JSON.stringify(events));
    assert.match(dock.output(), /watcher saw greeting = hello dock/);
    // Pushing another app replaces the first: its subscription goes with it.
    const second = join(dir, 'second.ts');
    writeFileSync(second, `import { KvStore } from 'datastore';\nconst kv = new KvStore();\nkv.subscribe('greeting', (key) => console.log('second app saw ' + kv.get(key)));\n`);
    assert.is((await cli('send-code', conn, second)).status, 0);
    assert.is((await cli('kv', 'set', conn, 'greeting', 'again')).status, 0);
    await new Promise((r) => setTimeout(r, 200));
    assert.match(dock.output(), /second app saw again/);
    assert.not.match(dock.output(), /watcher saw greeting = again/);
    const listed = await cli('kv', 'list', conn, '--json');
    assert.ok(JSON.parse(listed.stdout).keys.includes('greeting'));

    const logo = join(dir, 'logo.png');
    writeFileSync(logo, makePng(120, 80));
    const up = await cli('fs', 'upload', conn, logo, '/images/logo');
    assert.is(up.status, 0, up.stderr);
    const copy = join(dir, 'logo-back.png');
    assert.is((await cli('fs', 'download', conn, '/images/logo', copy)).status, 0);
    assert.equal(new Uint8Array(readFileSync(copy)), new Uint8Array(readFileSync(logo)));
    const fake = join(dir, 'fake.png');
    writeFileSync(fake, 'PNG? no, a text file');
    const refused = await cli('fs', 'upload', conn, fake, '/images/fake');
    assert.is(refused.status, 1);
    assert.match(refused.stderr, /not a PNG, BMP or JPEG file/);

    const noLock = await cli('lock', conn);
    assert.is(noLock.status, 2);
    assert.match(noLock.stderr, /--yes/);
  } finally {
    await dock.stop();
    pair.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

link('sim://<dir>: starts a dock in-process when none runs (data persists), attaches to a dock process that made its own pty, refuses a second dock on busy partitions', async () => {
  const cli = (...args: string[]) => cliSync(args);
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-simconn-'));
  try {
    const set = cli('kv', 'set', `sim://${dir}`, 'colour', 'teal');
    assert.is(set.status, 0, set.stderr);
    assert.is(cli('kv', 'get', `sim://${dir}`, 'colour').stdout.trim(), 'teal');
    const dock = simDock(['--dir', dir, '--serve', 'pty@921600', '--unthrottled', '--run-ms', '30000']);
    try {
      await dock.serving();
      assert.match(dock.output(), /host end of the dock's serial line: serial:\S+@921600 \(or sim:\/\//);
      const ping = cli('ping', `sim://${dir}`, '--json');
      assert.is(ping.status, 0, ping.stderr);
      assert.match(JSON.parse(ping.stdout).transport, /at 921600 baud/);
      assert.is(cli('kv', 'get', `sim://${dir}`, 'colour').stdout.trim(), 'teal');
    } finally {
      await dock.stop();
    }
    const pair = await ptyPair();
    const busy = simDock(['--dir', dir, '--serve', `serial:${pair.dock}`, '--run-ms', '30000']);
    try {
      await busy.serving();
      const refused = cli('ping', `sim://${dir}`);
      assert.is(refused.status, 1);
      assert.match(refused.stderr, /runs in process \d+ and serves serial:.*connect to the other end of that line/);
    } finally {
      await busy.stop();
      pair.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

link('no dock on the port: a clear message within the timeout', async () => {
  const pair = await ptyPair();
  try {
    const t = Date.now();
    const r = cliSync(['ping', `serial:${pair.host}`, '--timeout', '300']);
    assert.is(r.status, 1);
    assert.match(r.stderr, /no answer from the dock .* after 3 attempts of 300 ms \(is it powered and running, and is this its port\?\)/);
    assert.ok(Date.now() - t < 15_000);
    const wrong = cliSync(['ping', 'serial:///dev/no-such-port']);
    assert.is(wrong.status, 1);
    assert.match(wrong.stderr, /there is no device \/dev\/no-such-port: is the dock plugged in/);
  } finally {
    pair.close();
  }
});

link.run();

const values = suite('large and typed values through the link: split to the dock\'s advertised buffer, read back by type');

values('4 KiB text, 64 KiB bytes, 2 MiB bytes, 300 KiB of text and a JSON value round trip byte for byte; bytes stay bytes; bad UTF-8 in a streamed text and a JSON value past the heap limit are refused with why', async () => {
  const d = await linkDock();
  try {
    const random = seededRandom(64);
    const text = Array.from({ length: 4096 }, (_, i) => 'abcdefghij\u00e9'[i % 11]).join('');
    const textBytes = new TextEncoder().encode(text);
    const blob = new Uint8Array(64 * 1024).map(() => Math.floor(random() * 256));
    const json = { name: 'lobby', sizes: [1, 2, 3], nested: { ok: true, none: null } };
    const buf = (await d.client.request(0, 0, 6, {})).buf_size as number;
    assert.ok((await setValue(d.client, 'big.text', textBytes, 'text')).parts > 1, 'split: 4 KiB of text is more than one request of the buffer');
    const parts = (await setValue(d.client, 'big.blob', blob, 'bytes')).parts;
    assert.ok(parts >= Math.ceil(blob.length / buf), `${parts} parts for ${blob.length} bytes and a ${buf}-byte buffer`);
    await setValue(d.client, 'cfg', new TextEncoder().encode(JSON.stringify(json)), 'json');
    const t = await getValue(d.client, 'big.text');
    assert.equal([t.type, new TextDecoder().decode(t.bytes)], ['text', text]);
    const b = await getValue(d.client, 'big.blob');
    assert.is(b.type, 'bytes');
    assert.is(createHash('sha256').update(b.bytes).digest('hex'), createHash('sha256').update(blob).digest('hex'));
    const j = await getValue(d.client, 'cfg');
    assert.equal([j.type, JSON.parse(new TextDecoder().decode(j.bytes))], ['json', json]);
    // 1,000 arbitrary bytes stay 1,000 bytes.
    const odd = blob.subarray(0, 1000);
    await setValue(d.client, 'odd', odd, 'bytes');
    assert.equal((await getValue(d.client, 'odd')).bytes, odd);
    // 2 MiB of bytes and 300 KiB of text: more than the dock's heap takes whole, written to the runtime tier as the parts come.
    const huge = new Uint8Array(2 * 1024 * 1024).map(() => Math.floor(random() * 256));
    await setValue(d.client, 'huge', huge, 'bytes');
    const h = await getValue(d.client, 'huge');
    assert.is(h.type, 'bytes');
    assert.is(createHash('sha256').update(h.bytes).digest('hex'), createHash('sha256').update(huge).digest('hex'), '2 MiB round trip');
    const longText = new TextEncoder().encode('\u20ac'.repeat(100 * 1024)); // 300 KiB of three-byte characters
    await setValue(d.client, 'long.text', longText, 'text');
    assert.equal((await getValue(d.client, 'long.text')).bytes, longText);
    // A streamed text value that is not UTF-8 is refused and the key keeps what it had.
    const broken = longText.slice();
    broken[200_001] = 0xff;
    let err: unknown;
    try {
      await setValue(d.client, 'long.text', broken, 'text');
    } catch (e) {
      err = e;
    }
    assert.instance(err, SmpError);
    assert.match((err as Error).message, /not UTF-8 text/);
    assert.equal((await getValue(d.client, 'long.text')).bytes, longText, 'the old value stays');
    // A JSON value is assembled whole: past the heap's limit it is refused with why.
    err = undefined;
    try {
      await setValue(d.client, 'huge.json', new Uint8Array(300 * 1024).fill(0x20), 'json');
    } catch (e) {
      err = e;
    }
    assert.instance(err, SmpError);
    assert.is((err as SmpError).rc, 2, 'MGMT_ERR_ENOMEM');
    assert.match((err as Error).message, /at most 262144/);
  } finally {
    await d.close();
  }
});

values('inspect of a dock with 10,000 keys answers with their count and the first 200 names; a prefix lists a few', async () => {
  const first = await linkDock();
  const dir = first.dir;
  await first.close();
  // Written straight into the dock's runtime partition, as the dock's own KvStore writes them (10,000 SMP requests would take a while).
  const flash = FileFlash.open(join(dir, 'runtime.flash'), { size: 13 * 1024 * 1024, sectorSize: 4096, programUnit: 256 });
  const runtime = RuntimeStore.mount(flash);
  const kv = new KvStore({ tiers: new TierSet({ runtime }) });
  for (let i = 0; i < 10_000; i++) kv.set(`many.${i}`, `v${i}`, { durability: 'batched' });
  runtime.flush();
  flash.close();
  const d = await linkDock({ dir });
  try {
    const inspected = await d.client.request(0, 64, 1, {}, { timeoutMs: 20_000 });
    const keys = inspected.keys as { count: number; names: string[]; truncated: boolean };
    assert.ok(keys.count >= 10_000, `${keys.count} keys counted`);
    assert.is(keys.names.length, 200);
    assert.ok(keys.truncated);
    const few = (await d.client.request(0, 64, 7, { prefix: 'many.999' })).keys as string[];
    assert.equal([...few].sort(), ['many.999', ...Array.from({ length: 10 }, (_, i) => `many.999${i}`)].sort());
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

values('dl7450 kv set from standard input (-) and --file with --type; kv get prints by type: hex for bytes, JSON for structured values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-kvcli-'));
  const cli = cliSync;
  try {
    const random = seededRandom(1000);
    const blob = new Uint8Array(1000).map(() => Math.floor(random() * 256));
    const set = cli(['kv', 'set', `sim://${dir}`, 'blob', '-'], blob);
    assert.is(set.status, 0, set.stderr);
    assert.match(set.stdout, /1000 bytes as bytes/);
    const got = JSON.parse(cli(['kv', 'get', `sim://${dir}`, 'blob', '--json']).stdout);
    assert.equal([got.type, got.hex], ['bytes', Buffer.from(blob).toString('hex')], '1,000 bytes in, the same 1,000 bytes stored');
    const cfg = { rooms: ['a', 'b'], floor: 3, lit: true };
    writeFileSync(join(dir, 'cfg.json'), JSON.stringify(cfg));
    assert.is(cli(['kv', 'set', `sim://${dir}`, 'cfg', '--file', join(dir, 'cfg.json'), '--type', 'json']).status, 0);
    const shown = cli(['kv', 'get', `sim://${dir}`, 'cfg']).stdout;
    assert.equal(JSON.parse(shown), cfg);
    writeFileSync(join(dir, 'bad.txt'), new Uint8Array([0x61, 0xff, 0x62]));
    const refused = cli(['kv', 'set', `sim://${dir}`, 'bad', '--file', join(dir, 'bad.txt'), '--type', 'text']);
    assert.is(refused.status, 1);
    assert.match(refused.stderr, /not UTF-8 text/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

values.run();
