// A serial line without hardware, made in this process: two pseudo-terminals
// (from node-pty, which ships prebuilt; no socat, no compiler) whose master
// sides are joined here. The simulated dock opens one slave path as its UART,
// host tools open the other, exactly as they would open two ends of a cable.
//
// Why two ptys and a relay rather than one: each end is then an ordinary
// device path that any serial client (ours, mcumgr, a terminal) opens with
// its own termios, and neither end's reads compete with this process.

import { write as writeFd } from 'node:fs';
import { createRequire } from 'node:module';
import type { ReadStream } from 'node:tty';

export interface PtyPair {
  /** Device path the simulated dock opens as its serial port. */
  dock: string;
  /** Device path host tools open. */
  host: string;
  close(): void;
}

export class PtyUnavailableError extends Error {
  readonly code = 'pty-unavailable';
  constructor(reason: string) {
    super(`cannot make a pseudo-terminal pair here (${reason}); use the in-process line instead: sim://<dock dir> without --serve`);
    this.name = 'PtyUnavailableError';
  }
}

interface NodePtyTerminal {
  _fd: number;
  _pty: string;
  _master: ReadStream;
  _slave: ReadStream;
}

interface Pty {
  fd: number;
  path: string;
  master: ReadStream;
  slave: ReadStream;
}

function openPty(): Pty {
  let nodePty: { open(options: { encoding: null }): NodePtyTerminal };
  try {
    nodePty = createRequire(import.meta.url)('node-pty');
  } catch (e) {
    throw new PtyUnavailableError(`node-pty did not load: ${(e as Error).message}`);
  }
  let t: NodePtyTerminal;
  try {
    t = nodePty.open({ encoding: null });
  } catch (e) {
    throw new PtyUnavailableError((e as Error).message);
  }
  // node-pty starts reading the slave in this process; stop that for good
  // (its deferred resume would otherwise steal bytes meant for the client),
  // but keep the slave open so the master never sees a hang-up between
  // clients. Raw mode at once: a cooked slave would echo the dock's output
  // back to it before any client has set its own termios.
  const slave = t._slave;
  slave._read = () => {};
  slave.pause();
  (slave as unknown as { _handle: { readStop(): void } })._handle.readStop();
  slave.removeAllListeners('data');
  slave.setRawMode(true);
  return { fd: t._fd, path: t._pty, master: t._master, slave };
}

/**
 * Writes to a master fd (non-blocking; node's tty stream would block the
 * event loop on a full pty buffer): queued, in order, retried on EAGAIN.
 */
class MasterWriter {
  private queue: Uint8Array[] = [];
  private busy = false;
  private closed = false;

  constructor(private readonly fd: number) {}

  push(bytes: Uint8Array): void {
    if (this.closed) return;
    this.queue.push(bytes);
    this.pump();
  }

  close(): void {
    this.closed = true;
    this.queue = [];
  }

  private pump(): void {
    if (this.busy || this.closed || this.queue.length === 0) return;
    this.busy = true;
    const chunk = this.queue[0];
    writeFd(this.fd, chunk, 0, chunk.length, null, (err, written) => {
      this.busy = false;
      if (this.closed) return;
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return void setTimeout(() => this.pump(), 2);
        this.close(); // the pty is gone: nothing more can pass
        return;
      }
      if (written < chunk.length) this.queue[0] = chunk.subarray(written);
      else this.queue.shift();
      this.pump();
    });
  }
}

export async function ptyPair(): Promise<PtyPair> {
  const a = openPty();
  let b: Pty;
  try {
    b = openPty();
  } catch (e) {
    closePty(a);
    throw e;
  }
  const toA = new MasterWriter(a.fd);
  const toB = new MasterWriter(b.fd);
  // Bytes written by the dock (into a's slave) come out of a's master: hand them to b, and back.
  a.master.on('data', (chunk: Buffer) => toB.push(new Uint8Array(chunk)));
  b.master.on('data', (chunk: Buffer) => toA.push(new Uint8Array(chunk)));
  // A client closing its end is not an error of the line.
  a.master.on('error', () => {});
  b.master.on('error', () => {});
  let closed = false;
  return {
    dock: a.path,
    host: b.path,
    close() {
      if (closed) return;
      closed = true;
      toA.close();
      toB.close();
      closePty(a);
      closePty(b);
    },
  };
}

function closePty(p: Pty): void {
  p.master.destroy();
  p.slave.destroy();
}
