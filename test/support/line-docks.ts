// Docks for factory-line tests: new simulated docks whose OTP trusts one
// manufacturer key (as on a real line), made once and stopped, so that a
// test reaches them through sim://<dir> (in-process) or a dock process.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedDock } from '../../simulator/simulated-dock.ts';
import { generateSigningKeys } from '../../flash-scripts/signing-keys.ts';
import { SimOtp } from '../../simulator/security/sim-otp.ts';
import { SmpClient } from '../../flash-scripts/link/smp-client.ts';
import { DOCK, GROUP_DOCK } from '../../firmware/smp/smp-server.ts';

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
