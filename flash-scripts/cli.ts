// `dl7450`: the host command for factory and development work.
//   dl7450 keys generate --out <dir>
//   dl7450 romstore build <config.yaml> --key <private key> -o <factory.bin> [--json]
//   dl7450 romstore inspect <factory.bin> [--pubkey <file>] [--json]
//   dl7450 build <app.ts> -o <app.js>
//   dl7450 sim start|restart --dir <dock dir> [--keys <dir>] [--factory <factory.bin> --otp <otp.json>] [--serve <conn>|pty[@baud] [--unthrottled]] [--run-ms N] [--power-cut-after N] [--bitflips RATE] [--engine quickjs|jerryscript]
//   dl7450 sim factory-reset --dir <dock dir>
//   dl7450 ping|flash|send-code|kv|events|inspect|reset|factory-reset|lock <conn> … (link-commands.ts)
//   dl7450 provision …; tokens import|status|release …; fleet query|sync … (factory-line/)
// Errors print one clear message (every problem, for a config) and exit 1;
// usage errors exit 2. Nothing is written unless the whole command succeeds.
// Each command's modules are imported when it runs: `dl7450 --version` loads
// neither LMDB nor the engine nor the serial bindings.

import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs, UsageError } from './cli-args.ts';
import { formatHelp, helpFor, overview } from './cli-help.ts';
import { describeFailure } from './cli-errors.ts';
import type { PtyPair } from '../simulator/uart/pty-pair.ts';
import type { ImageType } from '../images/image-type.ts';

function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(resolve(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The switches every command takes, wherever they stand (before a `--`). */
function globalSwitches(argv: string[]): { json: boolean; verbose: boolean; quiet: boolean; help: boolean } {
  const end = argv.indexOf('--');
  const opts = end < 0 ? argv : argv.slice(0, end);
  const has = (...names: string[]) => names.some((n) => opts.indexOf(n) >= 0);
  return { json: has('--json'), verbose: has('-v', '--verbose'), quiet: has('-q', '--quiet'), help: has('-h', '--help') };
}

export async function main(argv: string[], out: (s: string) => void = console.log): Promise<number> {
  const sw = globalSwitches(argv);
  if (sw.quiet) process.env.DL7450_QUIET = '1';
  const first = argv[0];
  if (first === '--version' || first === '-V' || first === 'version') {
    out(sw.json ? JSON.stringify({ version: version() }) : `dl7450 ${version()}`);
    return 0;
  }
  const words = argv.filter((a) => !a.startsWith('-'));
  if (first === undefined || first === 'help' || sw.help) {
    const asked = first === 'help' ? words.slice(1) : words;
    if (asked.length === 0) {
      out(overview(version()));
      return first === undefined ? 2 : 0;
    }
    const entries = helpFor(asked);
    if (entries.length === 0) return report(new UsageError(`unknown command: ${asked.slice(0, 2).join(' ')}`), sw, out);
    out(formatHelp(entries));
    return 0;
  }
  try {
    return await run(argv, out);
  } catch (e) {
    return report(e, sw, out);
  }
}

function report(e: unknown, sw: { json: boolean; verbose: boolean }, out: (s: string) => void): number {
  const f = describeFailure(e);
  if (sw.json) out(JSON.stringify({ ok: false, error: { code: f.code, message: f.message, exitCode: f.exitCode } }));
  else {
    const hint = f.exitCode === 2 ? `\n${hintFor(e)}` : '';
    console.error(`dl7450: ${f.message}${hint}`);
  }
  if (sw.verbose && e instanceof Error && e.stack) console.error(e.stack);
  return f.exitCode;
}

/** After a usage error: the command's own usage lines, or where to look. */
function hintFor(e: unknown): string {
  const words = (e as { command?: string[] }).command;
  const entries = words ? helpFor(words) : [];
  return entries.length ? `usage:\n${entries.map((c) => c.usage.map((u) => `  ${u}`).join('\n')).join('\n')}\n(dl7450 ${entries[0].name} --help for options and examples)` : 'dl7450 --help lists the commands; dl7450 <command> --help shows one';
}

async function run(argv: string[], out: (s: string) => void): Promise<number> {
  const [group, command, ...rest] = argv;
  try {
    if (group === 'build') {
      const a = parseArgs([command, ...rest].filter((x) => x !== undefined), ['o', 'out']);
      const [entry] = a.positional;
      const target = a.flags.get('o') ?? a.flags.get('out');
      if (!entry || typeof target !== 'string') throw new UsageError('build needs <app.ts> -o <app.js>');
      const { buildApp } = await import('./toolchain/app-build.ts');
      const app = await buildApp(entry);
      if (app.violations.length > 0) {
        console.error(`dl7450: ${entry} uses what the dock's engine lacks:\n${app.violations.map((v) => `  ${v.rule}: ${v.text}`).join('\n')}`);
        return 1;
      }
      writeFileSync(target, app.code);
      out(`built ${target}: ${app.bytes} bytes (the SDK modules come from the firmware)`);
      return 0;
    }
    if (group === 'sim' && (command === 'start' || command === 'restart' || command === 'factory-reset')) {
      const { SimulatedDock } = await import('../simulator/simulated-dock.ts');
      const { ptyPair } = await import('../simulator/uart/pty-pair.ts');
      const a = parseArgs(rest, ['dir', 'factory', 'otp', 'run-ms', 'power-cut-after', 'bitflips', 'serve', 'keys', 'engine']);
      const engine = a.flags.get('engine') ?? 'quickjs';
      if (engine !== 'quickjs' && engine !== 'jerryscript') throw new UsageError(`--engine ${String(engine)}: use quickjs or jerryscript`);
      const dir = a.flags.get('dir');
      if (typeof dir !== 'string') throw new UsageError(`sim ${command} needs --dir <dock dir>`);
      const factory = a.flags.get('factory');
      const otp = a.flags.get('otp');
      if (typeof factory === 'string' && typeof otp !== 'string') throw new UsageError('--factory needs --otp <otp.json>: the OTP of a dock that trusts the key the image was signed with');
      if (command === 'factory-reset') {
        SimulatedDock.factoryReset(dir);
        out('factory reset done: runtime partition reformatted, ephemeral area wiped, factory image untouched');
        return 0;
      }
      const cut = a.flags.get('power-cut-after');
      const flips = a.flags.get('bitflips');
      const dock = new SimulatedDock({
        dir,
        factory: typeof factory === 'string' ? factory : undefined,
        otp: typeof otp === 'string' ? otp : undefined,
        keys: typeof a.flags.get('keys') === 'string' ? (a.flags.get('keys') as string) : undefined,
        log: (l) => out(`app> ${l}`),
        onStatus: (l) => console.error(l),
        role: `dl7450 sim ${command}`,
        powerCutAfter: typeof cut === 'string' ? Number(cut) : undefined,
        bitFlipRate: typeof flips === 'string' ? Number(flips) : undefined,
        engine,
      });
      let booted;
      try {
        booted = await dock.boot();
      } catch (e) {
        if (!dock.poweredOff) throw e;
        dock.shutdown();
        out('power cut during boot: the dock is off; start it again to see it recover');
        return 0;
      }
      const { report, splashPath } = booted;
      const serve = a.flags.get('serve');
      let pair: PtyPair | null = null;
      if (typeof serve === 'string') {
        let line = serve;
        if (serve === 'pty' || serve.startsWith('pty@')) {
          // The dock makes its own pty pair: the host end is printed, and sim://<dir> attaches to it.
          pair = await ptyPair();
          const baud = serve.startsWith('pty@') ? serve.slice(4) : '115200';
          line = `serial:${pair.dock}@${baud}`;
          await dock.serveSerial(line, { unthrottled: a.flags.has('unthrottled'), hostEnd: `serial:${pair.host}@${baud}` });
          out(`host end of the dock's serial line: serial:${pair.host}@${baud} (or sim://${dir})`);
        } else await dock.serveSerial(line, { unthrottled: a.flags.has('unthrottled') });
        out(`serving SMP and the bulk lane on ${line}${a.flags.has('unthrottled') ? ' (unthrottled)' : ''}`);
      }
      out(`runtime: ${report.runtime}\nfactory: ${report.factory}\nephemeral: ${report.ephemeral}\nper-dock: ${report.perDock}\napp: ${report.appTier ?? 'none'}${report.failedApps.map((f) => `\nfallback: ${f}`).join('')}\ndurability: ${report.durability}\nsplash: ${splashPath}`);
      const runMs = a.flags.get('run-ms');
      // Ctrl-C or a kill stops the dock cleanly (checkpoint written, its RAM released).
      const stop = () => {
        dock.shutdown();
        pair?.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      await dock.run(typeof runMs === 'string' ? Number(runMs) : Infinity);
      if (dock.poweredOff) out('power cut: the dock is off; start it again to see it recover');
      dock.shutdown();
      pair?.close();
      return 0;
    }
    if (group === 'keys' && command === 'generate') {
      const { generateSigningKeys } = await import('./signing-keys.ts');
      const a = parseArgs(rest, ['out']);
      const dir = a.flags.get('out');
      if (typeof dir !== 'string') throw new UsageError('keys generate needs --out <dir>');
      const k = generateSigningKeys(dir);
      out(`wrote ${k.privatePath} (private, mode 0600: keep it off the factory floor's shared drives)\nwrote ${k.publicPath} (public: burn into each dock's OTP)`);
      return 0;
    }
    if (group === 'romstore' && command === 'build') {
      const { loadPrivateKey } = await import('./signing-keys.ts');
      const { loadRomStoreConfig } = await import('./romstore/romstore-config.ts');
      const { buildFactoryImage } = await import('./romstore/factory-image-builder.ts');
      const { imageTypeName } = await import('../images/image-type.ts');
      const a = parseArgs(rest, ['key', 'o', 'out', 'built-at']);
      const [config] = a.positional;
      const builtAtText = a.flags.get('built-at');
      let builtAt: number | undefined;
      if (typeof builtAtText === 'string') {
        builtAt = /^\d+$/.test(builtAtText) ? Number(builtAtText) : Math.floor(Date.parse(builtAtText) / 1000);
        if (!Number.isFinite(builtAt) || builtAt < 0 || builtAt > 0xffffffff) throw new UsageError(`--built-at ${builtAtText}: give seconds since 1970 or an ISO 8601 time (e.g. 2026-11-29T12:00:00Z)`);
      }
      const key = a.flags.get('key');
      const target = a.flags.get('o') ?? a.flags.get('out');
      if (!config || typeof key !== 'string' || typeof target !== 'string') throw new UsageError('romstore build needs <config.yaml> --key <file> -o <file>');
      const loaded = loadRomStoreConfig(config, { allowEmpty: a.flags.has('allow-empty') });
      const built = buildFactoryImage(loaded, loadPrivateKey(key), { builtAt });
      // Write whole or not at all.
      if (!existsSync(dirname(resolve(target)))) throw new UsageError(`${target}: the folder ${dirname(target)} does not exist; create it or write elsewhere`);
      const tmp = `${target}.partial`;
      writeFileSync(tmp, built.image);
      renameSync(tmp, target);
      if (a.flags.has('json')) {
        out(JSON.stringify({ ok: true, output: target, bytes: built.image.length, partitionSize: built.header.partitionSize, freeBytes: built.freeBytes, sha256: Buffer.from(built.digest).toString('hex'), items: built.items.map((i) => ({ kind: i.kind, name: i.name, length: i.length, ...(i.kind === 'image' ? { type: imageTypeName(i.type as ImageType), width: i.width, height: i.height } : {}) })) }));
      } else {
        out(`built ${target}: ${built.items.length} items, ${kib(built.image.length)} of a ${kib(built.header.partitionSize)} partition, ${kib(built.freeBytes)} free`);
        for (const i of built.items) out(`  ${i.kind.padEnd(5)} ${i.name.padEnd(24)} ${kib(i.length).padStart(12)}${i.kind === 'image' ? `  ${imageTypeName(i.type as ImageType)} ${i.width}x${i.height}` : ''}`);
        out(`  sha256 ${Buffer.from(built.digest).toString('hex')}`);
      }
      return 0;
    }
    if (group === 'romstore' && command === 'inspect') {
      const { loadPublicKeyRaw } = await import('./signing-keys.ts');
      const { inspectFactoryImage } = await import('./romstore/factory-image-inspector.ts');
      const a = parseArgs(rest, ['pubkey']);
      const [file] = a.positional;
      if (!file) throw new UsageError('romstore inspect needs <factory.bin>');
      if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`${file}: no such file (give the factory image file romstore build wrote)`);
      const pub = a.flags.get('pubkey');
      const report = inspectFactoryImage(new Uint8Array(readFileSync(file)), typeof pub === 'string' ? loadPublicKeyRaw(pub) : null);
      if (a.flags.has('json')) out(JSON.stringify(report));
      else {
        out(`${file}: ${report.verdict}`);
        for (const i of report.items) out(`  ${i.kind.padEnd(5)} ${i.name.padEnd(24)} ${kib(i.length).padStart(12)}  ${i.checksum}${i.width ? `  ${i.type} ${i.width}x${i.height}` : ''}`);
      }
      return report.accepted || report.failedCheck === 'unsigned-check' ? 0 : 1;
    }
    if (group === 'ports') {
      const { listPorts } = await import('./link/serial-line.ts');
      const ports = await listPorts();
      out(ports.length ? ports.join('\n') : 'no serial ports listed (none attached, or no udev here: pass a device path with --conn anyway)');
      return 0;
    }
    if (group === 'provision') return await (await import('./factory-line/provision-command.ts')).provisionCommand([command, ...rest].filter((x) => x !== undefined), out);
    if (group === 'tokens') return await (await import('./factory-line/token-commands.ts')).tokensCommand(command, rest, out);
    if (group === 'fleet' && command === 'query') return await (await import('./factory-line/token-commands.ts')).fleetQueryCommand(rest, out);
    if (group === 'db') return await (await import('./factory-line/db-commands.ts')).dbCommand(command, rest, out);
    if (group === 'fleet' && command === 'sync') {
      const { fleetSync } = await import('./factory-line/fleet-sync.ts');
      const a = parseArgs(rest, ['db', 'conn']);
      const db = a.flags.get('db');
      const conns = [...a.positional, ...(typeof a.flags.get('conn') === 'string' ? [a.flags.get('conn') as string] : [])];
      if (typeof db !== 'string' || conns.length === 0) throw new UsageError('fleet sync needs <conn>… --db <pool dir|postgres://…>');
      for (const conn of conns) {
        const r = await fleetSync(conn, db);
        out(a.flags.has('json') ? JSON.stringify({ conn, ...r }) : `${conn}: dock ${r.dockId.slice(0, 12)}… ${r.action}${r.tokenId ? ` (token ${r.tokenId}, image ${r.imageDigest!.slice(0, 16)}…)` : ''}${r.note ? `: ${r.note}` : ''}`);
      }
      return 0;
    }
    const link = await import('./link-commands.ts');
    if (link.isLinkCommand(group)) return await link.linkCommand(group, [command, ...rest].filter((x) => x !== undefined), out);
    throw new UsageError(group ? `unknown command: ${[group, command].filter(Boolean).join(' ')}` : 'no command');
  } catch (e) {
    // Usage errors name the command they belong to, for the hint after the message.
    if (e instanceof UsageError) (e as UsageError & { command?: string[] }).command = [group, command].filter((w): w is string => w !== undefined && !w.startsWith('-'));
    throw e;
  }
}
