import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const vendor = resolve(root, '..', 'shared', 'samples', 'vendor-rom-store', 'config.yaml');
const work = mkdtempSync(join(tmpdir(), 'dl7450-cli-'));

function dl7450(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'dl7450.mjs'), ...args], { encoding: 'utf8', cwd: work });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const cli = suite('dl7450 command');

cli("keys generate, romstore build of the vendor's config, inspect: accepted with the right key only", () => {
  assert.is(dl7450('keys', 'generate', '--out', 'keys').code, 0);
  assert.is(statSync(join(work, 'keys', 'factory.key')).mode & 0o777, 0o600);
  const build = dl7450('romstore', 'build', vendor, '--key', 'keys/factory.key', '-o', 'factory.bin', '--json');
  assert.is(build.code, 0, build.err);
  const summary = JSON.parse(build.out);
  assert.is(summary.items.length, 7);
  assert.ok(summary.items.some((i: { kind: string; length: number }) => i.kind === 'per-dock' && i.length === 64 * 1024), 'a per-dock region');
  assert.ok(summary.freeBytes > 0 && summary.bytes === readFileSync(join(work, 'factory.bin')).length);
  const ok = dl7450('romstore', 'inspect', 'factory.bin', '--pubkey', 'keys/factory.pub', '--json');
  assert.is(ok.code, 0);
  assert.is(JSON.parse(ok.out).accepted, true);
  assert.is(dl7450('keys', 'generate', '--out', 'other').code, 0);
  const wrong = dl7450('romstore', 'inspect', 'factory.bin', '--pubkey', 'other/factory.pub');
  assert.is(wrong.code, 1);
  assert.match(wrong.out, /REFUSED: .*signature/);
});

cli('a tampered image is refused; a bad config writes nothing and exits 1; usage errors exit 2', () => {
  const bytes = readFileSync(join(work, 'factory.bin'));
  bytes[5000] ^= 0x40;
  writeFileSync(join(work, 'tampered.bin'), bytes);
  const t = dl7450('romstore', 'inspect', 'tampered.bin', '--pubkey', 'keys/factory.pub');
  assert.is(t.code, 1);
  assert.match(t.out, /REFUSED: .*digest/);
  writeFileSync(join(work, 'bad.yaml'), 'images:\n  a: [x\n');
  const bad = dl7450('romstore', 'build', 'bad.yaml', '--key', 'keys/factory.key', '-o', 'never.bin');
  assert.is(bad.code, 1);
  assert.match(bad.err, /syntax error at line \d+/);
  assert.not.ok(existsSync(join(work, 'never.bin')) || existsSync(join(work, 'never.bin.partial')));
  assert.is(dl7450('romstore', 'build').code, 2);
  assert.is(dl7450('frobnicate').code, 2);
});

cli('an app whose bundle cannot be made safe for JerryScript is refused as a build error naming the place, not a stack trace', () => {
  // The minified bundle keeps this string; rewriting `{a:b=>` inside it would change what the app prints.
  writeFileSync(join(work, 'quoted.ts'), "export const shown = '{a:b=>c}';\nexport const f = { g: (r: number) => r + 1 };\n");
  const r = dl7450('build', 'quoted.ts', '-o', 'quoted.js');
  assert.is(r.code, 1, r.err);
  assert.match(r.err, /quoted\.ts: parenthesising arrow parameters would change the program at line \d+, column \d+ of the bundle \(".*\{a:b=>/);
  assert.not.match(r.err, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
});

cli("kv --namespace reaches an app's namespaced keys as the app wrote them; without it they are not listed", () => {
  assert.is(dl7450('sim', 'start', '--dir', 'nsdock', '--run-ms', '50').code, 0);
  const set = dl7450('kv', 'set', 'sim://nsdock', 'ssid', 'home', '--namespace', 'wifi');
  assert.is(set.code, 0, set.err);
  assert.match(set.out, /ssid \(namespace wifi\) set: 4 bytes as text/);
  assert.is(dl7450('kv', 'set', 'sim://nsdock', 'plain', 'x').code, 0);
  assert.is(dl7450('kv', 'get', 'sim://nsdock', 'ssid', '--namespace', 'wifi').out.trim(), 'home');
  assert.equal(JSON.parse(dl7450('kv', 'list', 'sim://nsdock', '--json').out).keys.filter((k: string) => k === 'ssid' || k === 'plain'), ['plain']);
  assert.equal(JSON.parse(dl7450('kv', 'list', 'sim://nsdock', '--namespace', 'wifi', '--json').out).keys, ['ssid']);
  const bad = dl7450('kv', 'get', 'sim://nsdock', 'ssid', '--namespace', 'a\u0001b');
  assert.is(bad.code, 2);
  assert.match(bad.err, /--namespace names an app's namespace/);
});

cli('build an app; a simulated dock boots, keeps runtime data across restarts, and a factory reset clears it', () => {
  const built = dl7450('build', join(root, 'firmware', 'default-app', 'app.ts'), '-o', 'app.js');
  assert.is(built.code, 0, built.err);
  assert.ok(readFileSync(join(work, 'app.js'), 'utf8').includes('require("datastore")'), 'SDK modules left to the firmware');
  assert.ok(readFileSync(join(work, 'app.js')).length < 4096, 'an app is a few KB, not a copy of the runtime');
  const first = dl7450('sim', 'start', '--dir', 'dock', '--run-ms', '50');
  assert.is(first.code, 0, first.err);
  assert.match(first.out, /boot number 1/);
  assert.match(first.out, /app: factory/);
  assert.match(first.out, /splash: .*splash\.png/);
  // The panel as shown (background and the app's text boxes; pixels checked in new-user.test.ts): a 480 x 272 PNG.
  const splash = readFileSync(join(work, 'dock', 'splash.png'));
  assert.equal([...splash.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  assert.equal([splash.readUInt32BE(16), splash.readUInt32BE(20)], [480, 272]);
  assert.match(dl7450('sim', 'start', '--dir', 'dock', '--run-ms', '50').out, /boot number 2/);
  assert.is(dl7450('sim', 'factory-reset', '--dir', 'dock').code, 0);
  assert.match(dl7450('sim', 'start', '--dir', 'dock', '--run-ms', '50').out, /boot number 1/);
});

cli('npm start: boots a dock on the built-in factory image, says what it did, prints the splash path; a second start keeps the data', () => {
  const run = () =>
    spawnSync(process.execPath, ['--import', 'tsx', join(root, 'simulator', 'demo.ts')], { encoding: 'utf8', cwd: root, env: { ...process.env, DL7450_DOCK_DIR: join(work, 'npm-start-dock'), DL7450_RUN_MS: '100' } });
  const first = run();
  assert.is(first.status, 0, first.stderr);
  assert.match(first.stdout, /factory tier: +verified/);
  assert.match(first.stdout, /app: +running the factory app/);
  assert.match(first.stdout, /^splash: .*splash\.png$/m);
  assert.match(first.stdout, /boot number 1/);
  assert.match(run().stdout, /boot number 2/);
});

cli.after(() => rmSync(work, { recursive: true, force: true }));
cli.run();
