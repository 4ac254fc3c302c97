// The real `dl7450` command in child processes, for end-to-end tests: one
// command run to its end, and a `dl7450 sim start` dock whose output is
// collected and which can be waited on until it serves SMP.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import * as assert from 'uvu/assert';
import { factoryImageFor } from './link-dock.ts';

export const DL7450_BIN = join(resolve(import.meta.dirname, '..', '..'), 'bin', 'dl7450.mjs');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `dl7450 …args` to its end without blocking this process (a dock in this process keeps running meanwhile). */
export function cli(...args: string[]): Promise<CliResult> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [DL7450_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (status) => done({ status, stdout, stderr }));
  });
}

/** `dl7450 …args` run synchronously (for tests with no dock in this process), with optional standard input. */
export function cliSync(args: string[], input?: Uint8Array): CliResult {
  const r = spawnSync(process.execPath, [DL7450_BIN, ...args], { encoding: 'utf8', input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `dl7450 inspect --json` once the dock answers again (after a flash it restarts): its report, or {} after about 10 s. */
export async function inspectWhenBack(conn: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 50; i++) {
    const r = await cli('inspect', conn, '--json');
    if (r.status === 0) return JSON.parse(r.stdout) as Record<string, unknown>;
    await new Promise((res) => setTimeout(res, 200));
  }
  return {};
}

/**
 * `dl7450 flash` of a new factory image (setting dock_name) over the bulk lane: asserts the dock's own
 * SHA-256 equals the file's and the slot it committed, waits for the restart; returns its inspect report.
 */
export async function flashNewFactory(dir: string, conn: string, dockName: string): Promise<Record<string, unknown>> {
  const image = factoryImageFor(dir, dockName);
  const file = join(dir, 'new-factory.bin');
  writeFileSync(file, image);
  const flashed = await cli('flash', conn, file, '--json');
  assert.is(flashed.status, 0, flashed.stderr);
  const f = JSON.parse(flashed.stdout);
  assert.is(f.lane, 'bulk');
  assert.is(f.dockSha256, createHash('sha256').update(image).digest('hex'), 'the dock hashed exactly the bytes sent (its own report)');
  assert.equal([f.slot, f.generation, f.restarted], [1, 1, true]);
  const inspected = await inspectWhenBack(conn);
  assert.match((inspected.boot as { factory: string }).factory, /slot 1, generation 1/);
  return inspected;
}

export interface DockProcess {
  proc: ChildProcess;
  /** Everything the dock printed so far (standard output and error). */
  output(): string;
  /** Resolves once the dock says it serves SMP (a first boot formats 13 MiB: slow on a loaded machine); rejects with its output after `timeoutMs` or when it exits. */
  serving(timeoutMs?: number): Promise<void>;
  /** SIGTERM, then a moment for it to close its files. */
  stop(): Promise<void>;
}

/** `dl7450 sim start …args` as a child process. */
export function simDock(args: string[]): DockProcess {
  const proc = spawn(process.execPath, [DL7450_BIN, 'sim', 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return {
    proc,
    output: () => out,
    async serving(timeoutMs = 90_000) {
      const until = Date.now() + timeoutMs;
      while (!out.includes('serving SMP')) {
        if (Date.now() > until || proc.exitCode !== null) throw new Error(`the dock did not start serving: ${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      proc.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
    },
  };
}
