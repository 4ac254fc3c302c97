// cli.startup: how long `dl7450` takes to answer, beside bare Node on the same
// machine (median of 9 runs each, wall clock). The first run builds the
// bundle when sources changed; it is run once before measuring and reported.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchLine } from './runtime.ts';
import { median } from './median.ts';

const root = resolve(import.meta.dirname, '..');
const bin = join(root, 'bin', 'dl7450.mjs');
const RUNS = 9;

function wall(args: string[], cwd: string): number {
  const t = performance.now();
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  return performance.now() - t;
}

export function cliStartup(): BenchLine[] {
  const work = mkdtempSync(join(tmpdir(), 'dl7450-bench-cli-'));
  try {
    const firstRunMs = wall([bin, '--version'], work); // may build dist/cli
    wall([bin, 'keys', 'generate', '--out', 'keys'], work);
    writeFileSync(join(work, 'small.yaml'), 'kv_store:\n  dock_name: "Bench Dock"\n  timezone: "CET"\n');
    wall([bin, 'romstore', 'build', 'small.yaml', '--key', 'keys/factory.key', '-o', 'small.bin'], work);
    const measure = (args: string[]) => median(Array.from({ length: RUNS }, () => wall(args, work)));
    const node = measure(['-e', '0']);
    const version = measure([bin, '--version']);
    const inspect = measure([bin, 'romstore', 'inspect', 'small.bin', '--pubkey', 'keys/factory.pub']);
    const line = (command: string, ms: number, targetMs: number | null): BenchLine => ({
      bench: 'cli.startup',
      command,
      medianMs: Math.round(ms),
      overNodeMs: Math.round(ms - node),
      ...(targetMs ? { targetMs, met: ms < targetMs } : {}),
      runs: RUNS,
    });
    return [line('node -e 0', node, null), line('dl7450 --version', version, 500), line('dl7450 romstore inspect (small image)', inspect, 1000), { bench: 'cli.startup', command: 'first run after a source change (builds dist/cli)', ms: Math.round(firstRunMs) }];
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
