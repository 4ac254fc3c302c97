// One owner per dock directory. Every process that opens a simulated dock's
// files (a dock serving its line, an in-process dock behind sim://, a
// factory reset of a stopped dock) takes <dir>/dock.lock first; a second
// opener is refused with the owner's PID and how to reach it, so two engines
// never write the same partitions and acknowledged writes are never lost.
//
// The lock is a file created exclusively (O_EXCL) holding its owner's PID and,
// once the dock serves a pty line, that line's host end (sim://<dir> reads it
// to attach). A lock whose PID is no longer alive was left by a killed
// process: the next opener takes it over.

import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface DockOwner {
  pid: number;
  /** What the owner is doing, for messages: "sim start", "npm start", "sim:// in-process dock"… */
  role: string;
  /** The line the dock serves (its own end, a connection string), or null. */
  serves: string | null;
  /** The host end of that line, when the dock made the line (a pty pair), or null. */
  hostEnd: string | null;
  since: string;
}

export class DockBusyError extends Error {
  readonly code = 'dock-busy';
  constructor(
    readonly dir: string,
    readonly owner: DockOwner,
  ) {
    super(
      `the dock in ${dir} is in use by process ${owner.pid} (${owner.role}, since ${owner.since})` +
        (owner.hostEnd ? `; it serves its serial line at ${owner.hostEnd}: talk to it with  dl7450 <command> sim://${dir}` : '; stop that process first (Ctrl-C), or give this command another --dir'),
    );
    this.name = 'DockBusyError';
  }
}

const LOCK = 'dock.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

function readOwner(dir: string): DockOwner | null {
  try {
    const o = JSON.parse(readFileSync(join(dir, LOCK), 'utf8')) as DockOwner;
    return typeof o.pid === 'number' ? o : null;
  } catch {
    return null;
  }
}

/** The live process holding the dock in `dir`, if any. */
export function dockOwner(dir: string): DockOwner | null {
  const o = readOwner(dir);
  return o && alive(o.pid) ? o : null;
}

export class DockLock {
  private released = false;

  private constructor(
    readonly dir: string,
    private owner: DockOwner,
  ) {}

  /** Take the dock in `dir` (which must exist) or throw DockBusyError naming its owner. */
  static acquire(dir: string, role: string): DockLock {
    const owner: DockOwner = { pid: process.pid, role, serves: null, hostEnd: null, since: new Date().toISOString() };
    const path = join(dir, LOCK);
    for (let attempt = 0; attempt < 3; attempt++) {
      let fd: number;
      try {
        fd = openSync(path, 'wx', 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const held = readOwner(dir);
        if (held && alive(held.pid)) throw new DockBusyError(dir, held);
        // Left by a process that died (or half-written by one that died creating it): take it over.
        rmSync(path, { force: true });
        continue;
      }
      try {
        writeSync(fd, JSON.stringify(owner));
      } finally {
        closeSync(fd);
      }
      return new DockLock(dir, owner);
    }
    const held = readOwner(dir);
    throw new DockBusyError(dir, held ?? { pid: -1, role: 'unknown', serves: null, hostEnd: null, since: 'unknown' });
  }

  /** Record the line this dock now serves and, when known, its host end (sim://<dir> attaches to it). */
  setLine(serves: string, hostEnd: string | null): void {
    if (this.released) return;
    this.owner = { ...this.owner, serves, hostEnd };
    const tmp = join(this.dir, `${LOCK}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(this.owner), { mode: 0o600 });
    renameSync(tmp, join(this.dir, LOCK));
  }

  /** Give the dock up; only the owner's own lock file is removed. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const held = readOwner(this.dir);
    if (held && held.pid === this.owner.pid && held.since === this.owner.since) rmSync(join(this.dir, LOCK), { force: true });
  }
}
