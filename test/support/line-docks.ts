// Docks for factory-line tests: new simulated docks whose OTP trusts one
// manufacturer key (as on a real line), made once and stopped, so that a
// test reaches them through sim://<dir> (in-process) or a dock process.

import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedDock } from '../../simulator/simulated-dock.ts';
import { generateSigningKeys } from '../../flash-scripts/signing-keys.ts';
import { SimOtp } from '../../simulator/security/sim-otp.ts';

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
