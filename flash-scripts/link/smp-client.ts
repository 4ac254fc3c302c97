// The host side of SMP over a serial console: numbered requests, answers
// matched by sequence, a timeout and bounded retries on a noisy line.

import type { SerialPortStream } from '@serialport/stream';
import { encodePacket, decodePacket, SMP_V2 } from '../../firmware/smp/smp-packet.ts';
import { ConsoleFrameDecoder, encodeConsoleFrames } from '../../firmware/smp/smp-console-frame.ts';
import { LinkError, openLine } from './serial-line.ts';

/** What the dock's SMP return codes mean to the person at the keyboard. */
const RC_MEANING: Record<number, string> = {
  1: 'the dock hit an unexpected error; see its console',
  2: 'the dock has no room for this; send less',
  3: 'the request was malformed or missing a field',
  4: 'the dock timed out',
  5: 'no such entry on the dock',
  6: 'the dock is not in a state to do that now',
  7: 'the request is too large for the dock',
  8: 'this dock does not support that command',
  9: 'the data is corrupt or not trusted',
  10: 'the dock is busy; try again',
  11: 'access denied',
};

export class SmpError extends Error {
  constructor(
    readonly group: number,
    readonly rc: number,
    /** The dock's own words, when it gave them (`rsn`). */
    readonly reason?: string,
  ) {
    super(`the dock refused the request (SMP group ${group}, rc ${rc}): ${reason ?? RC_MEANING[rc] ?? 'unknown return code'}`);
    this.name = 'SmpError';
  }
}

export class SmpClient {
  private seq = 0;
  private waiting = new Map<number, (payload: Record<string, unknown>) => void>();
  private decoder = new ConsoleFrameDecoder();
  /** Damaged frames seen (line noise), for reports. */
  damagedFrames = 0;

  private constructor(private readonly port: SerialPortStream) {
    port.on('data', (chunk: Buffer) => {
      for (const e of this.decoder.push(new Uint8Array(chunk))) {
        if (e.kind === 'error') this.damagedFrames++;
        if (e.kind !== 'packet') continue;
        try {
          const { header, payload } = decodePacket(e.packet);
          this.waiting.get(header.sequence)?.(payload);
          this.waiting.delete(header.sequence);
        } catch {
          this.damagedFrames++;
        }
      }
    });
  }

  static async connect(conn: string): Promise<SmpClient> {
    return new SmpClient(await openLine(conn));
  }

  async request(op: 0 | 2, group: number, id: number, body: Record<string, unknown>, timeoutMs = 2000, attempts = 3): Promise<Record<string, unknown>> {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const sequence = this.seq++ & 0xff;
      const answer = new Promise<Record<string, unknown>>((resolve) => this.waiting.set(sequence, resolve));
      this.port.write(encodeConsoleFrames(encodePacket({ op, version: SMP_V2, flags: 0, group, sequence, id }, body)));
      const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), timeoutMs));
      const payload = await Promise.race([answer, timeout]);
      if (payload === null) {
        this.waiting.delete(sequence);
        continue; // lost on the line: send again
      }
      const err = payload.err as { group: number; rc: number } | undefined;
      if (err && err.rc !== 0) throw new SmpError(err.group, err.rc, typeof payload.rsn === 'string' ? payload.rsn : undefined);
      return payload;
    }
    throw new LinkError(`no answer from the dock after ${attempts} attempts of ${timeoutMs} ms (is it running, and is this its port?)`);
  }

  /** Raw bytes onto the line (tests: noise). */
  writeRaw(bytes: Uint8Array): void {
    this.port.write(bytes);
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.port.close(() => resolve()));
  }
}
