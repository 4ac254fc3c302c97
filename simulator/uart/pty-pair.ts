// A serial line without hardware: two pseudo-terminals joined by a small relay
// process (simulator/uart/pty-relay.mjs, node-pty inside: no socat, no
// compiler). The simulated dock opens one end's device path as its UART,
// host tools open the other, as they would the two ends of a cable. The relay
// ends when close() is called or when this process exits.

import { spawn } from 'node:child_process';
import { join } from 'node:path';

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

export function ptyPair(): Promise<PtyPair> {
  const relay = spawn(process.execPath, [join(import.meta.dirname, 'pty-relay.mjs')], { stdio: ['pipe', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail('the relay did not start within 10 s'), 10_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      relay.kill();
      reject(new PtyUnavailableError(why));
    };
    relay.on('error', (e) => fail(e.message));
    relay.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    relay.on('exit', (code) => fail(`the relay exited (${code}): ${err.trim().split('\n').pop() ?? ''}`));
    relay.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      relay.removeAllListeners('exit');
      const { dock, host } = JSON.parse(out.slice(0, nl)) as { dock: string; host: string };
      // The relay must not keep this process alive, nor die with a broken pipe when this one exits.
      relay.stdout!.removeAllListeners('data');
      relay.stdout!.destroy();
      relay.stderr!.destroy();
      relay.unref();
      (relay.stdin as unknown as { unref?: () => void }).unref?.();
      let closed = false;
      resolve({
        dock,
        host,
        close() {
          if (closed) return;
          closed = true;
          relay.kill();
        },
      });
    });
  });
}
