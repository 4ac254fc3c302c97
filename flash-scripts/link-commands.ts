// The `dl7450` commands that talk to a dock over a transport (serial port or
// sim://): ping, flash, send-code, kv, events, inspect, reset, factory-reset,
// lock, and the older smp/settings forms. Every command takes --json.

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { flagText, parseArgs, UsageError, type Args } from './cli-args.ts';
import { SmpClient } from './link/smp-client.ts';
import { flashFactoryImage, type Lane } from './link/factory-flash.ts';
import { downloadFile, uploadFile } from './link/fs-transfer.ts';
import { getValue, setValue, type ValueType } from './link/kv-transfer.ts';
import { ProgressBar } from './progress-bar.ts';
import { AppBuildError, buildApp } from './toolchain/app-build.ts';
import { DOCK, GROUP_DOCK, GROUP_OS, GROUP_SETTINGS, OS_INFO, OS_RESET } from '../firmware/smp/smp-server.ts';

export const LINK_USAGE = `  dl7450 ping <conn> [--json]
  dl7450 flash <conn> <factory.bin> [--lane auto|bulk|smp] [--no-reset] [--json]
  dl7450 send-code <conn> <app.ts|app.js> [--json]
  dl7450 kv get <conn> <key> [--file <out>]; dl7450 kv delete <conn> <key>; dl7450 kv list <conn> [prefix] [--json]
  dl7450 kv set <conn> <key> <value>|-|--file <path> [--type text|json|bytes]   (- reads standard input; default type: text for a value, bytes for a file or -)
  dl7450 fs upload <conn> <file> /images/<tag>|/code/app.js; dl7450 fs download <conn> /images/<tag>|/code/app.js <file> [--json]
  dl7450 events <conn> [--all] [--for <ms>] [--json]   (a serial port has one user: stop events before other commands)
  dl7450 inspect <conn> [--json]
  dl7450 reset|factory-reset <conn> [--json]
  dl7450 lock <conn> --yes [--json]      (ends factory mode for good)
  dl7450 smp echo|info --conn <conn> [text]; dl7450 settings get|set|delete --conn <conn> <name> [value]
  <conn>: serial:///dev/ttyUSB0?baud=921600, serial:/dev/ttyUSB0@921600, /dev/ttyUSB0, or sim://<dock dir>`;

const COMMANDS = ['fs', 'ping', 'flash', 'send-code', 'kv', 'events', 'inspect', 'reset', 'factory-reset', 'lock', 'smp', 'settings'];

export function isLinkCommand(group: string | undefined): boolean {
  return group !== undefined && COMMANDS.indexOf(group) >= 0;
}

const VALUE_FLAGS = ['conn', 'lane', 'for', 'timeout', 'file', 'type', 'namespace'];

/** The connection: --conn, else the first positional (which is then removed). */
function connectionOf(a: Args, usage: string): string {
  const flag = flagText(a, 'conn');
  if (flag) return flag;
  const first = a.positional.shift();
  if (!first) throw new UsageError(`${usage}: which dock? give a connection (e.g. serial:///dev/ttyUSB0?baud=921600 or sim://.dock)`);
  return first;
}

const hex = (b: unknown) => (b instanceof Uint8Array ? Buffer.from(b).toString('hex') : null);

export async function linkCommand(group: string, argv: string[], out: (s: string) => void): Promise<number> {
  // kv / smp / settings have a sub-command before the connection.
  const sub = group === 'kv' || group === 'smp' || group === 'settings' || group === 'fs' ? argv[0] : undefined;
  const a = parseArgs(sub === undefined ? argv : argv.slice(1), VALUE_FLAGS);
  const json = a.flags.has('json');
  const conn = connectionOf(a, `${group}${sub ? ` ${sub}` : ''}`);
  const client = await SmpClient.connect(conn);
  const emit = (human: string, machine: Record<string, unknown>) => out(json ? JSON.stringify(machine) : human);
  try {
    switch (group) {
      case 'ping': {
        const t = performance.now();
        await client.request(2, GROUP_OS, 0, { d: 'ping' }, { timeoutMs: Number(flagText(a, 'timeout') ?? 2000) });
        const ms = performance.now() - t;
        const info = String((await client.request(0, GROUP_OS, OS_INFO, {})).output);
        emit(`${info}: answered in ${ms.toFixed(1)} ms over ${client.transport.description}`, { ok: true, roundTripMs: ms, info, transport: client.transport.description });
        return 0;
      }
      case 'flash': {
        const [file] = a.positional;
        if (!file) throw new UsageError('flash needs <conn> <factory.bin>');
        if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
        const lane = flagText(a, 'lane') ?? 'auto';
        if (lane !== 'auto' && lane !== 'bulk' && lane !== 'smp') throw new UsageError('--lane is auto, bulk or smp');
        const image = new Uint8Array(readFileSync(file));
        const bar = new ProgressBar(`flash ${file}`, !json);
        const r = await flashFactoryImage(client, image, {
          lane: lane as Lane | 'auto',
          onProgress: (p) => bar.update(p.sent, p.total, p.lane),
          log: (l) => (json ? undefined : console.error(l)),
        });
        bar.done();
        const restart = !a.flags.has('no-reset');
        if (restart) await client.request(2, GROUP_OS, OS_RESET, {});
        emit(
          `flashed ${file}: ${r.bytes} bytes over the ${r.lane} lane in ${(r.transferMs / 1000).toFixed(1)} s (${(r.payloadBytesPerSecond / 1024).toFixed(1)} KiB/s${r.resumes ? `, ${r.resumes} resumes` : ''}${r.retransmittedFrames ? `, ${r.retransmittedFrames} frames resent` : ''})\nverified on the dock: SHA-256 ${r.dockSha256} (the dock's own) of exactly the bytes stored, signature checked against its OTP key\ncommitted to factory slot ${r.slot} (generation ${r.generation}); ${restart ? 'the dock restarts to serve it' : 'served after the next restart (dl7450 reset)'}`,
          { ok: true, ...r, restarted: restart },
        );
        return 0;
      }
      case 'send-code': {
        const [file] = a.positional;
        if (!file) throw new UsageError('send-code needs <conn> <app.ts|app.js>');
        let code: Uint8Array;
        if (/\.tsx?$/.test(file)) {
          const app = await buildApp(file);
          if (app.violations.length > 0) throw new AppBuildError(`${file} uses what the dock's engine lacks: ${app.violations.map((v) => v.rule).join('; ')}`);
          code = new TextEncoder().encode(app.code);
        } else code = new Uint8Array(readFileSync(file));
        await uploadFile(client, '/code/app.js', code);
        const answer = await client.request(2, GROUP_DOCK, DOCK.RESTART_APP, {});
        emit(`sent ${code.length} bytes of code to the ephemeral tier; the dock now runs the ${String(answer.app)} app (a restart returns to the stored one)`, { ok: true, bytes: code.length, app: answer.app });
        return 0;
      }
      case 'kv':
      case 'settings': {
        const [name, value] = a.positional;
        // An app's namespace (KvStore({ namespace })): its keys are addressed as the app wrote them.
        const ns = flagText(a, 'namespace');
        if (ns !== undefined && (ns === '' || /[\u0000-\u001f]/.test(ns))) throw new UsageError(`--namespace names an app's namespace: non-empty text without control characters, not ${JSON.stringify(ns)}`);
        const key = { name: name ?? '', ...(ns ? { ns } : {}) };
        const shown = ns ? `${name} (namespace ${ns})` : name;
        if (sub === 'list') {
          // The dock answers a page at a time (its heap never holds the whole list): follow `next` to the end.
          const keys: string[] = [];
          let after: string | undefined;
          for (;;) {
            const page = await client.request(0, GROUP_DOCK, DOCK.KV_LIST, { prefix: name ?? '', limit: 100, ...(ns ? { ns } : {}), ...(after !== undefined ? { after } : {}) });
            const got = (page.keys as string[]) ?? [];
            keys.push(...got);
            if (!json && got.length) out(got.join('\n'));
            if (typeof page.next !== 'string' || got.length === 0) break;
            after = page.next;
          }
          if (json) out(JSON.stringify({ ok: true, keys }));
          return 0;
        }
        if (!name) throw new UsageError(`${group} ${sub ?? ''} needs a key`);
        if (sub === 'get') {
          const { bytes, type } = await getValue(client, key);
          const outFile = flagText(a, 'file');
          if (outFile) {
            writeFileSync(outFile, bytes);
            emit(`${shown}: ${bytes.length} bytes (${type}) written to ${outFile}`, { ok: true, key: name, ...(ns ? { namespace: ns } : {}), type, bytes: bytes.length, file: outFile });
            return 0;
          }
          const text = type === 'bytes' ? '' : new TextDecoder().decode(bytes);
          if (type === 'json') {
            const value: unknown = JSON.parse(text);
            emit(JSON.stringify(value, null, 2), { ok: true, key: name, type, value });
          } else if (type === 'text') emit(text, { ok: true, key: name, type, value: text });
          else emit(Buffer.from(bytes).toString('hex'), { ok: true, key: name, type, hex: Buffer.from(bytes).toString('hex') });
          return 0;
        }
        if (sub === 'set') {
          const file = flagText(a, 'file');
          if (file !== undefined && value !== undefined) throw new UsageError(`${group} set takes the value or --file, not both`);
          if (file === undefined && value === undefined) throw new UsageError(`${group} set needs a key and a value (or - for standard input, or --file <path>)`);
          if (file !== undefined && !existsSync(file)) throw new UsageError(`${file}: no such file`);
          const typeFlag = flagText(a, 'type');
          if (typeFlag !== undefined && typeFlag !== 'text' && typeFlag !== 'json' && typeFlag !== 'bytes') throw new UsageError(`--type is text, json or bytes, not ${typeFlag}`);
          const fromBytes = file !== undefined || value === '-';
          const bytes = file !== undefined ? new Uint8Array(readFileSync(file)) : value === '-' ? new Uint8Array(readFileSync(0)) : new TextEncoder().encode(value);
          const type: ValueType = (typeFlag as ValueType | undefined) ?? (fromBytes ? 'bytes' : 'text');
          if (type === 'json') {
            try {
              JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
            } catch (e) {
              throw new UsageError(`the value is not JSON (${(e as Error).message}); use --type text or bytes`);
            }
          }
          const r = await setValue(client, key, bytes, type);
          emit(`${shown} set: ${bytes.length} bytes as ${type}${r.parts > 1 ? ` in ${r.parts} parts` : ''} (committed to the dock's runtime flash)`, { ok: true, key: name, ...(ns ? { namespace: ns } : {}), type, bytes: bytes.length, parts: r.parts });
          return 0;
        }
        if (sub === 'delete') {
          await client.request(2, GROUP_SETTINGS, 1, { ...key });
          emit(`${shown} deleted`, { ok: true, key: name, ...(ns ? { namespace: ns } : {}) });
          return 0;
        }
        throw new UsageError(`unknown command: ${group} ${sub ?? ''}`);
      }
      case 'fs': {
        if (sub === 'upload') {
          const [file, remote] = a.positional;
          if (!file || !remote) throw new UsageError('fs upload needs <conn> <file> <remote name>');
          if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
          const bytes = new Uint8Array(readFileSync(file));
          if (bytes.length === 0) throw new UsageError(`${file} is empty: there is nothing to upload`);
          const bar = new ProgressBar(`upload ${remote}`, !json);
          await uploadFile(client, remote, bytes, (sent, total) => bar.update(sent, total));
          bar.done();
          emit(`uploaded ${file} to ${remote} (${bytes.length} bytes, checked and stored by the dock)`, { ok: true, name: remote, bytes: bytes.length });
          return 0;
        }
        if (sub === 'download') {
          const [remote, file] = a.positional;
          if (!remote || !file) throw new UsageError('fs download needs <conn> <remote name> <file>');
          const all = await downloadFile(client, remote);
          writeFileSync(`${file}.partial`, all);
          renameSync(`${file}.partial`, file);
          emit(`downloaded ${remote} to ${file} (${all.length} bytes)`, { ok: true, name: remote, bytes: all.length, sha256: createHash('sha256').update(all).digest('hex') });
          return 0;
        }
        throw new UsageError(`unknown command: fs ${sub ?? ''}`);
      }
      case 'smp': {
        if (sub === 'echo') {
          const r = await client.request(2, GROUP_OS, 0, { d: a.positional.join(' ') || 'hello' });
          emit(String(r.r), { ok: true, r: r.r });
          return 0;
        }
        if (sub === 'info') {
          const r = await client.request(0, GROUP_OS, OS_INFO, {});
          emit(String(r.output), { ok: true, output: r.output });
          return 0;
        }
        throw new UsageError(`unknown command: smp ${sub ?? ''}`);
      }
      case 'events': {
        const forMs = flagText(a, 'for');
        const until = forMs === undefined ? Infinity : Date.now() + Number(forMs);
        // From what the dock has now (only new events), or with --all from the oldest it still holds.
        let since = a.flags.has('all') ? 0 : (((await client.request(0, GROUP_DOCK, DOCK.EVENTS, { since: 0x7fffffff })).next as number) ?? 0);
        if (!json) console.error(`watching events on ${client.transport.description}${forMs ? ` for ${forMs} ms` : ' (Ctrl-C stops)'}`);
        while (Date.now() < until) {
          const r = await client.request(0, GROUP_DOCK, DOCK.EVENTS, { since });
          if ((r.missed as number) > 0) emit(`(${r.missed} events missed: the dock's event ring overflowed)`, { kind: 'missed', count: r.missed });
          for (const e of r.events as { id: number; kind: string; at: number; detail: string }[]) emit(`${new Date(e.at * 1000).toISOString()} ${e.kind} ${e.detail}`, e);
          since = r.next as number;
          await new Promise((res) => setTimeout(res, Math.max(0, Math.min(250, until - Date.now()))));
        }
        return 0;
      }
      case 'inspect': {
        const r = await client.request(0, GROUP_DOCK, DOCK.INSPECT, {}, { timeoutMs: 10_000 });
        if (json) {
          out(JSON.stringify(r));
          return 0;
        }
        out(describeInspect(r));
        return 0;
      }
      case 'reset':
        await client.request(2, GROUP_OS, OS_RESET, {});
        emit('the dock is restarting', { ok: true });
        return 0;
      case 'factory-reset':
        await client.request(2, GROUP_DOCK, DOCK.FACTORY_RESET, {}, { timeoutMs: 30_000 });
        emit('factory reset: the app stopped, runtime and ephemeral tiers emptied; the dock now runs its factory app and serves what its factory image holds', { ok: true });
        return 0;
      case 'lock':
        if (!a.flags.has('yes')) throw new UsageError('lock burns the dock\'s factory-lock fuse: its factory image can never again be written over the link. Add --yes to do it');
        await client.request(2, GROUP_DOCK, DOCK.LOCK, {});
        emit('locked: factory mode has ended for good on this dock', { ok: true, locked: true });
        return 0;
    }
    throw new UsageError(`unknown command: ${group}`);
  } finally {
    await client.close();
  }
}

function describeInspect(r: Record<string, unknown>): string {
  const lines: string[] = [];
  const dock = r.dock as { id: string; firmware: string };
  lines.push(`dock ${dock.id} firmware ${dock.firmware}`);
  const boot = r.boot as Record<string, string>;
  for (const k of Object.keys(boot)) lines.push(`  ${k}: ${boot[k]}`);
  lines.push('tiers:');
  for (const t of r.tiers as { tier: string; usedBytes: number; freeBytes: number; capacityBytes: number; available: boolean }[]) {
    lines.push(`  ${t.tier.padEnd(10)} ${t.available ? `${(t.usedBytes / 1024).toFixed(1)} KiB used, ${(t.freeBytes / 1024).toFixed(1)} KiB free of ${(t.capacityBytes / 1024).toFixed(1)} KiB` : 'unavailable'}`);
  }
  const keys = r.keys as { count: number; names: string[]; truncated: boolean };
  lines.push(`keys: ${keys.count}${keys.count ? ` (${keys.names.slice(0, 20).join(', ')}${keys.count > 20 ? ', …' : ''})` : ''}`);
  lines.push('images:');
  for (const i of r.images as { tag: string; tier: string; type: string; bytes: number; width?: number; height?: number }[]) lines.push(`  ${i.tag.padEnd(24)} ${i.tier.padEnd(9)} ${i.type} ${i.width ?? '?'}x${i.height ?? '?'} ${(i.bytes / 1024).toFixed(1)} KiB`);
  const f = r.factory as { locked: boolean | null; activeSlot: number | null; generation: number; items: { kind: string; name: string }[] };
  lines.push(`factory: slot ${f.activeSlot ?? 'none'}, generation ${f.generation}, ${f.locked === null ? 'no link writes' : f.locked ? 'locked' : 'factory mode (unlocked)'}, ${f.items.length} items (per-dock data redacted)`);
  const w = r.wear as { min: number; max: number; mean: number; sectors: number; blank: number } | null;
  if (w) lines.push(`runtime wear: erase counts min ${w.min} / mean ${w.mean.toFixed(2)} / max ${w.max} over ${w.sectors - w.blank} written sectors (${w.blank} blank)`);
  return lines.join('\n');
}
