// `dl7450`: the host command for factory and development work.
//   dl7450 keys generate --out <dir>
//   dl7450 romstore build <config.yaml> --key <private key> -o <factory.bin> [--json]
//   dl7450 romstore inspect <factory.bin> [--pubkey <file>] [--json]
//   dl7450 build <app.ts> -o <app.js>
//   dl7450 sim start|restart --dir <dock dir> [--keys <dir>] [--factory <factory.bin> --otp <otp.json>] [--serve <conn>|pty[@baud] [--unthrottled]] [--run-ms N] [--power-cut-after N] [--bitflips RATE]
//   dl7450 sim factory-reset --dir <dock dir>
//   dl7450 ping|flash|send-code|kv|events|inspect|reset|factory-reset|lock <conn> … (link-commands.ts)
//   dl7450 provision …; tokens import|status|release …; fleet query|sync … (factory-line/)
// Errors print one clear message (every problem, for a config) and exit 1;
// usage errors exit 2. Nothing is written unless the whole command succeeds.

import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { generateSigningKeys, KeyFileError, loadPrivateKey, loadPublicKeyRaw } from './signing-keys.ts';
import { loadRomStoreConfig, RomStoreConfigError } from './romstore/romstore-config.ts';
import { buildFactoryImage, FactoryImageTooLargeError } from './romstore/factory-image-builder.ts';
import { inspectFactoryImage } from './romstore/factory-image-inspector.ts';
import { imageTypeName, type ImageType } from '../images/image-type.ts';
import { AppBuildError, buildApp } from './toolchain/app-build.ts';
import { SimulatedDock } from './sim/simulated-dock.ts';
import { SmpClient, SmpError } from './link/smp-client.ts';
import { LinkError, listPorts } from './link/serial-line.ts';
import { parseArgs, UsageError } from './cli-args.ts';
import { ptyPair, type PtyPair } from '../simulator/uart/pty-pair.ts';
import { linkCommand, LINK_USAGE, isLinkCommand } from './link-commands.ts';
import { FactoryFlashError } from './link/factory-flash.ts';
import { BulkTransferError } from './link/bulk-sender.ts';
import { provisionCommand, PROVISION_USAGE } from './factory-line/provision-command.ts';
import { ProvisionError } from './factory-line/provision.ts';
import { fleetQueryCommand, tokensCommand, TOKEN_USAGE } from './factory-line/token-commands.ts';
import { TokenPoolError } from './factory-line/token-pool.ts';
import { fleetSync } from './factory-line/fleet-sync.ts';
import { PerDockValuesError } from './factory-line/per-dock-values.ts';

const USAGE = `usage:
  dl7450 keys generate --out <dir>
  dl7450 romstore build <config.yaml> --key <factory.key> -o <factory.bin> [--json]
  dl7450 romstore inspect <factory.bin> [--pubkey <factory.pub>] [--json]
  dl7450 build <app.ts> -o <app.js>
  dl7450 sim start|restart --dir <dock dir> [--keys <dir>] [--factory <factory.bin> --otp <otp.json>] [--serve <conn>|pty[@baud] [--unthrottled]] [--run-ms N] [--power-cut-after N] [--bitflips RATE]
  dl7450 sim factory-reset --dir <dock dir>
  dl7450 ports
${LINK_USAGE}
${PROVISION_USAGE}
${TOKEN_USAGE}
  dl7450 fleet sync <conn>… --db <dir|postgres://…> [--json]
  dl7450 db migrate --to postgres://user@host:5432/db [--from <LMDB pool dir>] [--json]`;

function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}

export async function main(argv: string[], out: (s: string) => void = console.log): Promise<number> {
  const [group, command, ...rest] = argv;
  try {
    if (group === 'build') {
      const a = parseArgs([command, ...rest].filter((x) => x !== undefined), ['o', 'out']);
      const [entry] = a.positional;
      const target = a.flags.get('o') ?? a.flags.get('out');
      if (!entry || typeof target !== 'string') throw new UsageError('build needs <app.ts> -o <app.js>');
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
      const a = parseArgs(rest, ['dir', 'factory', 'otp', 'run-ms', 'power-cut-after', 'bitflips', 'serve', 'keys']);
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
        powerCutAfter: typeof cut === 'string' ? Number(cut) : undefined,
        bitFlipRate: typeof flips === 'string' ? Number(flips) : undefined,
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
      out(`runtime: ${report.runtime}\nfactory: ${report.factory}\nephemeral: ${report.ephemeral}\nper-dock: ${report.perDock}\napp: ${report.appTier ?? 'none'}${report.failedApps.map((f) => `\nfallback: ${f}`).join('')}\nsplash: ${splashPath}`);
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
      const a = parseArgs(rest, ['out']);
      const dir = a.flags.get('out');
      if (typeof dir !== 'string') throw new UsageError('keys generate needs --out <dir>');
      const k = generateSigningKeys(dir);
      out(`wrote ${k.privatePath} (private, mode 0600: keep it off the factory floor's shared drives)\nwrote ${k.publicPath} (public: burn into each dock's OTP)`);
      return 0;
    }
    if (group === 'romstore' && command === 'build') {
      const a = parseArgs(rest, ['key', 'o', 'out']);
      const [config] = a.positional;
      const key = a.flags.get('key');
      const target = a.flags.get('o') ?? a.flags.get('out');
      if (!config || typeof key !== 'string' || typeof target !== 'string') throw new UsageError('romstore build needs <config.yaml> --key <file> -o <file>');
      const loaded = loadRomStoreConfig(config);
      const built = buildFactoryImage(loaded, loadPrivateKey(key));
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
      const ports = await listPorts();
      out(ports.length ? ports.join('\n') : 'no serial ports listed (none attached, or no udev here: pass a device path with --conn anyway)');
      return 0;
    }
    if (isLinkCommand(group)) return await linkCommand(group, [command, ...rest].filter((x) => x !== undefined), out);
    if (group === 'provision') return await provisionCommand([command, ...rest].filter((x) => x !== undefined), out);
    if (group === 'tokens') return await tokensCommand(command, rest, out);
    if (group === 'fleet' && command === 'query') return await fleetQueryCommand(rest, out);
    if (group === 'db') return await (await import('./factory-line/db-commands.ts')).dbCommand(command, rest, out);
    if (group === 'fleet' && command === 'sync') {
      const a = parseArgs(rest, ['db', 'conn']);
      const db = a.flags.get('db');
      const conns = [...a.positional, ...(typeof a.flags.get('conn') === 'string' ? [a.flags.get('conn') as string] : [])];
      if (typeof db !== 'string' || conns.length === 0) throw new UsageError('fleet sync needs <conn>… --db <dir>');
      for (const conn of conns) {
        const r = await fleetSync(conn, db);
        out(a.flags.has('json') ? JSON.stringify({ conn, ...r }) : `${conn}: dock ${r.dockId.slice(0, 12)}… ${r.action}${r.tokenId ? ` (token ${r.tokenId}, image ${r.imageDigest!.slice(0, 16)}…)` : ''}${r.note ? `: ${r.note}` : ''}`);
      }
      return 0;
    }
    throw new UsageError(group ? `unknown command: ${[group, command].filter(Boolean).join(' ')}` : 'no command');
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`dl7450: ${e.message}\n${USAGE}`);
      return 2;
    }
    if (e instanceof RomStoreConfigError || e instanceof KeyFileError || e instanceof FactoryImageTooLargeError || e instanceof AppBuildError || e instanceof LinkError || e instanceof SmpError || e instanceof FactoryFlashError || e instanceof BulkTransferError || e instanceof ProvisionError || e instanceof TokenPoolError || e instanceof PerDockValuesError) {
      console.error(`dl7450: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
