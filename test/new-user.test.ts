// A new user's first hour, as a stranger's machine runs it: Node alone (socat
// hidden from PATH), the CLI's conventions (help, version, unknown options,
// JSON errors, exit codes), no stack traces for user errors, one owner per
// dock directory, reproducible images, file modes, config limits, a splash
// that shows the text, and a test runner that survives a crashing file.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { COMMANDS } from '../flash-scripts/cli-help.ts';
import { PANEL, renderSplash } from '../simulator/engine/splash-picture.ts';
import { PNG as PNG_TYPE } from '../images/image-type.ts';
import { ptyPair } from './support/pty-pair.ts';
import { openPort } from '../flash-scripts/link/serial-line.ts';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'dl7450-new-user-'));
const vendor = resolve(root, '..', 'shared', 'samples', 'vendor-rom-store', 'config.yaml');

// A PATH with node, a shell and head (for a pipe) and nothing else: no socat, no compiler.
const bareBin = join(work, 'bin');
mkdirSync(bareBin);
symlinkSync(process.execPath, join(bareBin, 'node'));
for (const tool of ['sh', 'head']) {
  const found = spawnSync('/bin/sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
  if (found) symlinkSync(found, join(bareBin, tool));
}
const bareEnv = { ...process.env, PATH: bareBin };
const npmCli = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');

function dl7450(args: string[], cwd = work): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'dl7450.mjs'), ...args], { encoding: 'utf8', cwd, env: bareEnv, timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const noTrace = (text: string, what: string) => assert.not.match(text, /^\s+at .+[:(].*\d+:\d+\)?$/m, `${what}: no stack trace`);

const t = suite('a new user on a machine with only Node');

t('socat is not reachable here, and npm start serves the dock on a pty all the same', () => {
  assert.is(spawnSync('/bin/sh', ['-c', 'command -v socat'], { env: bareEnv }).status === 0, false, 'socat hidden from PATH');
  assert.ok(existsSync(npmCli), `npm's own CLI at ${npmCli}`);
  const r = spawnSync(process.execPath, [npmCli, 'start', '--silent'], {
    encoding: 'utf8',
    cwd: root,
    env: { ...bareEnv, DL7450_DOCK_DIR: join(work, 'npm-start-dock'), DL7450_RUN_MS: '300' },
    timeout: 240_000,
  });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^serial line: +\/dev\/pts\/\d+ at 921600 baud/m);
  assert.match(r.stdout, /dock stopped cleanly/);
  assert.not.match(r.stdout + r.stderr, /socat|ENOENT|Unhandled/);
});

t('--help, -h and help for the tool and every command; --version; exit 0', () => {
  for (const form of [['--help'], ['-h'], ['help']]) {
    const r = dl7450(form);
    assert.is(r.code, 0, form.join(' '));
    for (const c of COMMANDS) assert.ok(r.out.includes(c.name), `${form} lists ${c.name}`);
    assert.match(r.out, /exit codes: 0 done, 1 failed/);
  }
  for (const c of COMMANDS) {
    const r = dl7450([...c.name.split(' '), '--help']);
    assert.is(r.code, 0, `${c.name} --help: ${r.err}`);
    assert.ok(r.out.includes(c.usage[0]), `${c.name} --help shows its usage`);
    assert.match(r.out, /examples:\n  dl7450 /, `${c.name} --help has examples`);
    assert.is(dl7450(['help', ...c.name.split(' ')]).out, r.out);
  }
  const v = dl7450(['--version']);
  assert.is(v.code, 0);
  assert.is(v.out.trim(), `dl7450 ${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}`);
});

t('unknown options and commands are refused with exit 2; --opt=value is understood', () => {
  const typo = dl7450(['romstore', 'inspect', 'x.bin', '--jsno']);
  assert.is(typo.code, 2);
  assert.match(typo.err, /unknown option --jsno \(did you mean --json\?\)/);
  assert.match(typo.err, /usage:\n  dl7450 romstore inspect/);
  assert.is(dl7450(['frobnicate']).code, 2);
  assert.is(dl7450(['kv', 'get', 'sim://x', 'k', '--station=x']).code, 2, 'an option another command takes is still refused here');
  const eq = dl7450(['keys', 'generate', '--out=eq-keys']);
  assert.is(eq.code, 0, eq.err);
  assert.ok(existsSync(join(work, 'eq-keys', 'factory.key')));
});

t('under --json, errors are JSON on stdout with the exit code; without -v no stack trace, with -v one', () => {
  const r = dl7450(['romstore', 'inspect', 'missing.bin', '--json']);
  assert.is(r.code, 2);
  const e = JSON.parse(r.out.trim()) as { ok: boolean; error: { code: string; message: string; exitCode: number } };
  assert.is(e.ok, false);
  assert.is(e.error.exitCode, 2);
  assert.match(e.error.message, /missing\.bin: no such file/);
  const link = dl7450(['ping', 'sim://no-such-dock', '--json']);
  assert.is(link.code, 1);
  assert.is(JSON.parse(link.out.trim()).error.code, 'link');
  writeFileSync(join(work, 'a-file'), 'x');
  const inWay = dl7450(['sim', 'start', '--dir', 'a-file/dock', '--run-ms', '10']);
  assert.is(inWay.code, 1);
  assert.match(inWay.err, /a-file.*(a file is in the way|part of this path is a file)/);
  noTrace(inWay.err, 'a dock folder under a file');
  const verbose = dl7450(['sim', 'start', '--dir', 'a-file/dock', '--run-ms', '10', '-v']);
  assert.match(verbose.err, /^\s+at /m, '-v shows the stack');
});

t('romstore build | head -1 ends quietly (EPIPE); builds are byte-identical; --built-at changes them', () => {
  assert.is(dl7450(['keys', 'generate', '--out', 'keys']).code, 0);
  const piped = spawnSync('/bin/sh', ['-c', `"${process.execPath}" "${join(root, 'bin', 'dl7450.mjs')}" romstore build "${vendor}" --key keys/factory.key -o f.bin | head -1; echo "status $?"`], { cwd: work, encoding: 'utf8', env: bareEnv });
  noTrace(piped.stderr, 'a closed pipe');
  assert.is(piped.stderr, '');
  assert.match(piped.stdout, /^built f\.bin/);
  assert.is(dl7450(['romstore', 'build', vendor, '--key', 'keys/factory.key', '-o', 'a.bin']).code, 0);
  assert.is(dl7450(['romstore', 'build', vendor, '--key', 'keys/factory.key', '-o', 'b.bin']).code, 0);
  assert.equal(readFileSync(join(work, 'a.bin')), readFileSync(join(work, 'b.bin')), 'same config, images and key: same bytes');
  assert.is(dl7450(['romstore', 'build', vendor, '--key', 'keys/factory.key', '-o', 'c.bin', '--built-at', '2026-11-29T00:00:00Z']).code, 0);
  assert.not.equal(readFileSync(join(work, 'a.bin')), readFileSync(join(work, 'c.bin')));
  assert.is(dl7450(['romstore', 'build', vendor, '--key', 'keys/factory.key', '-o', 'd.bin', '--built-at', 'yesterday']).code, 2);
});

t('secrets: the key 0600 in a 0700 folder, dock folders 0700; .gitignore covers what the README creates', () => {
  assert.is(statSync(join(work, 'keys', 'factory.key')).mode & 0o777, 0o600);
  assert.is(statSync(join(work, 'keys')).mode & 0o777, 0o700);
  assert.is(statSync(join(work, 'npm-start-dock')).mode & 0o777, 0o700);
  const ignored = spawnSync('git', ['check-ignore', '--no-index', 'keys/factory.key', 'pool/data.mdb', 'mydock/otp.json', 'factory.bin', 'app.js', 'dock1/runtime.flash'], { cwd: root, encoding: 'utf8' });
  if (ignored.error) return; // no git here: nothing to check against
  assert.is(ignored.stdout.trim().split('\n').length, 6, ignored.stdout);
});

t('configs: empty refused (unless --allow-empty), a folder named as such, an oversize one refused before parsing', () => {
  writeFileSync(join(work, 'empty.yaml'), '# nothing\n');
  const empty = dl7450(['romstore', 'build', 'empty.yaml', '--key', 'keys/factory.key', '-o', 'e.bin']);
  assert.is(empty.code, 1);
  assert.match(empty.err, /no images, kv_store entries or code.*--allow-empty/);
  assert.not.ok(existsSync(join(work, 'e.bin')));
  assert.is(dl7450(['romstore', 'build', 'empty.yaml', '--key', 'keys/factory.key', '-o', 'e.bin', '--allow-empty']).code, 0);
  const folder = dl7450(['romstore', 'build', 'keys', '--key', 'keys/factory.key', '-o', 'x.bin']);
  assert.is(folder.code, 1);
  assert.match(folder.err, /this is a folder/);
  writeFileSync(join(work, 'huge.yaml'), `kv_store:\n${'  k: v\n'.repeat(1_500_000)}`);
  const started = performance.now();
  const huge = dl7450(['romstore', 'build', 'huge.yaml', '--key', 'keys/factory.key', '-o', 'h.bin']);
  assert.is(huge.code, 1);
  assert.match(huge.err, /the limit is 8388608/);
  assert.ok(performance.now() - started < 60_000, 'refused without parsing');
});

t('one owner per dock directory: a second dock, a factory reset and an in-process sim:// are refused while a dock serves it; the served line takes writes', async () => {
  const dir = join(work, 'owned');
  const server: ChildProcess = spawn(process.execPath, [join(root, 'bin', 'dl7450.mjs'), 'sim', 'start', '--dir', dir, '--serve', 'pty@921600'], { cwd: work, env: bareEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  server.stdout!.on('data', (d: Buffer) => (said += d.toString()));
  try {
    for (let i = 0; i < 1200 && !/serving SMP/.test(said); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(said, /host end of the dock's serial line: serial:\/dev\/pts\/\d+@921600/);
    const second = dl7450(['sim', 'start', '--dir', dir, '--run-ms', '100']);
    assert.is(second.code, 1);
    assert.match(second.err, new RegExp(`in use by process ${server.pid} \\(dl7450 sim start`));
    assert.match(second.err, /sim:\/\//);
    const reset = dl7450(['sim', 'factory-reset', '--dir', dir]);
    assert.is(reset.code, 1);
    assert.match(reset.err, /in use by process/);
    const set = dl7450(['kv', 'set', `sim://${dir}`, 'greeting', 'hello']);
    assert.is(set.code, 0, set.err);
    assert.is(dl7450(['kv', 'get', `sim://${dir}`, 'greeting']).out.trim(), 'hello');
  } finally {
    server.kill('SIGINT');
    await new Promise((r) => server.once('exit', r));
  }
  assert.not.ok(existsSync(join(dir, 'dock.lock')), 'the lock goes with its owner');
  // The acknowledged write survived the serving dock: a new owner reads it from flash.
  assert.is(dl7450(['kv', 'get', `sim://${dir}`, 'greeting']).out.trim(), 'hello');
});

t('splash.png shows the text boxes over the background, at the panel resolution', () => {
  const background = readFileSync(join(root, 'images', 'default-rom-store', 'default.png'));
  const plain = PNG.sync.read(Buffer.from(renderSplash({ bytes: background, type: PNG_TYPE }, [])));
  const withText = PNG.sync.read(Buffer.from(renderSplash({ bytes: background, type: PNG_TYPE }, [{ text: 'DL-7450', x: 40, y: 40 }])));
  assert.is(withText.width, PANEL.width);
  assert.is(withText.height, PANEL.height);
  const bg = PNG.sync.read(background);
  // Without text the panel is the background where the image covers it.
  for (const [x, y] of [[0, 0], [100, 100], [bg.width - 1, bg.height - 1]]) {
    const p = (y * PANEL.width + x) * 4;
    const q = (y * bg.width + x) * 4;
    assert.equal([...plain.data.subarray(p, p + 3)], [...bg.data.subarray(q, q + 3)], `pixel ${x},${y}`);
  }
  // With text: near-white pixels inside the text's box, none changed outside it.
  let white = 0;
  let changedOutside = 0;
  for (let y = 0; y < PANEL.height; y++) {
    for (let x = 0; x < PANEL.width; x++) {
      const p = (y * PANEL.width + x) * 4;
      const differs = withText.data[p] !== plain.data[p] || withText.data[p + 1] !== plain.data[p + 1] || withText.data[p + 2] !== plain.data[p + 2];
      const inBox = x >= 40 && x < 40 + 7 * 20 && y >= 40 && y < 40 + 26;
      if (!differs) continue;
      if (!inBox) changedOutside++;
      else if (withText.data[p] > 240 && withText.data[p + 1] > 240 && withText.data[p + 2] > 240) white++;
    }
  }
  assert.ok(white > 100, `the text is drawn (${white} white pixels)`);
  assert.is(changedOutside, 0);
});

t('the test runner survives a crashing test file and still prints its closing line', () => {
  const dir = join(root, '.tmp', `runner-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'a-crash.test.ts'), "import { test } from 'uvu';\nimport { EventEmitter } from 'node:events';\ntest('dies', async () => { new EventEmitter().emit('error', new Error('boom')); });\ntest.run();\n");
    writeFileSync(join(dir, 'b-ok.test.ts'), "import { test } from 'uvu';\nimport * as assert from 'uvu/assert';\ntest('lives', () => assert.ok(true));\ntest.run();\n");
    writeFileSync(join(dir, 'c-exit.test.ts'), "import { test } from 'uvu';\ntest('exits', () => { process.exit(3); });\ntest.run();\n");
    // A skipped test never hides a failure beside it (uvu's Total leaves skipped tests out).
    writeFileSync(join(dir, 'd-skip.test.ts'), "import { test } from 'uvu';\nimport * as assert from 'uvu/assert';\ntest.skip('later', () => {});\ntest('fails', () => assert.ok(false));\ntest.run();\n");
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'test', 'run.ts')], { cwd: root, encoding: 'utf8', env: { ...process.env, DL7450_TEST_DIR: dir }, timeout: 120_000 });
    const last = r.stdout.trim().split('\n').pop();
    assert.is(last, '1 passed, 3 failed', r.stdout);
    assert.match(r.stdout, /\n1 skipped\n/);
    assert.is(r.status, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

t('a serial port another program holds is refused naming that program; a missing device says so', async () => {
  const pair = await ptyPair();
  const held = await openPort(pair.host, 921600);
  try {
    const busy = dl7450(['kv', 'list', `serial:${pair.host}@921600`]);
    assert.is(busy.code, 1, busy.err);
    assert.match(busy.err, new RegExp(`${pair.host} is in use by pid ${process.pid}: `), 'the holder is named by its pid');
    assert.match(busy.err, /close that one/);
    noTrace(busy.err, 'port in use');
  } finally {
    await new Promise<void>((ok) => held.close(() => ok()));
    pair.close();
  }
  const missing = dl7450(['kv', 'list', 'serial:/dev/dl7450-no-such-port@921600']);
  assert.is(missing.code, 1);
  assert.match(missing.err, /there is no device \/dev\/dl7450-no-such-port: is the dock plugged in/);
  noTrace(missing.err, 'missing port');
});

t.after(() => rmSync(work, { recursive: true, force: true }));
t.run();
