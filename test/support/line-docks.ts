// Docks for factory-line tests: new simulated docks whose OTP trusts one
// manufacturer key (as on a real line), made once and stopped, so that a
// test reaches them through sim://<dir> (in-process) or a dock process.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SimulatedDock } from '../../simulator/simulated-dock.ts';
import { generateSigningKeys } from '../../flash-scripts/signing-keys.ts';
import { SimOtp } from '../../simulator/security/sim-otp.ts';
import { SmpClient } from '../../flash-scripts/link/smp-client.ts';
import { DOCK, GROUP_DOCK } from '../../firmware/smp/smp-server.ts';
import { mountFactorySlots } from '../../datastore/factory/factory-slots.ts';
import { readPerDockSection } from '../../datastore/factory/per-dock-section.ts';
import { NodeCrypto } from '../../simulator/security/node-crypto.ts';
import { SimKeystore } from '../../simulator/security/sim-keystore.ts';
import type { PtyPair } from '../../simulator/uart/pty-pair.ts';

export interface Line {
  root: string;
  keys: string;
  /** The common image's ROM store (the built-in one). */
  config: string;
}

export async function factoryLine(): Promise<Line> {
  const root = mkdtempSync(join(tmpdir(), 'dl7450-line-'));
  const keys = join(root, 'keys');
  generateSigningKeys(keys);
  return { root, keys, config: '' };
}

/** A new dock on the line: booted once (OTP burnt, built-in image flashed), then stopped. Returns its dir and id. */
export async function newDock(line: Line, name: string): Promise<{ dir: string; dockId: string }> {
  const dir = join(line.root, name);
  mkdirSync(dir, { recursive: true });
  const dock = new SimulatedDock({ dir, keys: line.keys, log: () => {} });
  await dock.boot();
  dock.shutdown();
  if (!line.config) line.config = join(dir, 'rom', 'config.yaml');
  return { dir, dockId: SimOtp.load(join(dir, 'otp.json')).dockId() };
}

export function tokenCsv(line: Line, count: number, prefix = 'tok'): string {
  const path = join(line.root, `${prefix}-${count}.csv`);
  const rows = ['id,token'];
  for (let i = 0; i < count; i++) rows.push(`${prefix}-${String(i).padStart(4, '0')},secret-${prefix}-${i}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, rows.join('\n') + '\n');
  return path;
}

/** What a stopped dock holds (asked in-process through sim://): its token and the digest of the token it opens. */
export async function dockView(dir: string): Promise<{ dockId: string; token: string | null; tokenSha256: string | null }> {
  const client = await SmpClient.connect(`sim://${dir}`);
  try {
    const id = await client.request(0, GROUP_DOCK, DOCK.IDENTITY, {});
    const per = id.perDock as { token: string } | null;
    if (!per) return { dockId: id.dockId as string, token: null, tokenSha256: null };
    const check = await client.request(0, GROUP_DOCK, DOCK.PER_DOCK_CHECK, {});
    return { dockId: id.dockId as string, token: per.token, tokenSha256: Buffer.from(check.tokenSha256 as Uint8Array).toString('hex') };
  } finally {
    await client.close();
  }
}

export const LINE_BAUD = 921600;
const bin = join(resolve(import.meta.dirname, '..', '..'), 'bin', 'dl7450.mjs');

/** A dock this process serves on a pty pair, so it outlives the station processes that provision it. */
export interface ServedDock {
  pair: PtyPair;
  dock: SimulatedDock;
  dir: string;
  dockId: string;
}

export async function serveNewDock(line: Line, pair: PtyPair, name: string): Promise<ServedDock> {
  const dir = join(line.root, name);
  const dock = new SimulatedDock({ dir, keys: line.keys, log: () => {} });
  await dock.boot();
  if (!line.config) line.config = join(dir, 'rom', 'config.yaml');
  await dock.serveSerial(`serial:${pair.dock}@${LINE_BAUD}`);
  return { pair, dock, dir, dockId: SimOtp.load(join(dir, 'otp.json')).dockId() };
}

/** The token a dock would serve from its newest committed slot, or null (untouched); throws if its section is bad. */
export function tokenOnDock(d: ServedDock): string | null {
  const otp = SimOtp.load(join(d.dir, 'otp.json'));
  const flashes = [d.dock.partition('factory'), d.dock.partition('factory-b')];
  const m = mountFactorySlots(flashes, new NodeCrypto(), otp);
  if (!m.partition) throw new Error(`dock ${d.dockId.slice(0, 8)}: no factory image verifies: ${m.error?.message}`);
  const section = readPerDockSection(flashes[m.active!], m.partition, new NodeCrypto(), otp, new SimKeystore(otp));
  if (!section) return null;
  section.open(); // a dock either opens its own section or holds none
  return section.tokenId;
}

/** `dl7450 provision` as its own process (so a test can kill it), on the docks' host ends. */
export function provisionProcess(line: Line, db: string, station: string, docks: ServedDock[]): { proc: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const conns = docks.map((d) => `serial:${d.pair.host}@${LINE_BAUD}`);
  const proc = spawn(process.execPath, [bin, 'provision', '--config', line.config, '--key', join(line.keys, 'factory.key'), '--db', db, '--station', station, '--json', ...conns], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, done: new Promise((ok) => proc.on('close', (code) => ok({ code, out }))) };
}
