// The host side of SMP over any transport: numbered requests, answers matched
// by sequence, a timeout and bounded retries on a noisy line. The line may
// also carry bulk-lane frames (firmware/link/FORMAT.md); those go to whoever
// is sending a bulk transfer.

import { encodePacket, decodePacket, SMP_V2 } from '../../firmware/smp/smp-packet.ts';
import { ConsoleFrameDecoder, encodeConsoleFrames } from '../../firmware/smp/smp-console-frame.ts';
import { SerialDemux } from '../../firmware/link/serial-demux.ts';
import type { BulkFrame } from '../../firmware/link/bulk-frame.ts';
import { LinkError, openTransport, type Transport } from './transport.ts';
import './serial-line.ts';
import './sim-transport.ts';

/** What the dock's SMP return codes mean (Zephyr's MGMT_ERR numbering), when it gave no reason. */
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
    /** mcumgr_err_t for an SMP error (`groupError` false), else the group's own code. */
    readonly rc: number,
    /** The dock's own words, when it gave them (`rsn`). */
    readonly reason?: string,
    /** true: an `err: {group, rc}` answer (SMP v2 group error); false: a top-level `rc`. */
    readonly groupError = false,
  ) {
    super(`the dock refused the request (${groupError ? `SMP group ${group} error ${rc}` : `SMP rc ${rc}`}): ${reason ?? (groupError ? 'see the group\'s error codes' : RC_MEANING[rc]) ?? 'unknown return code'}`);
    this.name = 'SmpError';
  }
}

/** The error in an SMP answer, in either version's form, or null (firmware/smp/FORMAT.md "Errors"). */
export function answerError(group: number, payload: Record<string, unknown>): SmpError | null {
  const rsn = typeof payload.rsn === 'string' ? payload.rsn : undefined;
  if (typeof payload.rc === 'number' && payload.rc !== 0) return new SmpError(group, payload.rc, rsn, false);
  const err = payload.err as { group?: unknown; rc?: unknown } | undefined;
  if (err && typeof err.rc === 'number' && err.rc !== 0) return new SmpError(typeof err.group === 'number' ? err.group : group, err.rc, rsn, true);
  return null;
}

export interface RequestOptions {
  timeoutMs?: number;
  attempts?: number;
  /** SMP version bits: 1 (v2, the default) or 0 (v1, as older mcumgr clients send). */
  version?: 0 | 1;
}

export class SmpClient {
  private seq = 0;
  private waiting = new Map<number, (payload: Record<string, unknown>) => void>();
  private demux = new SerialDemux();
  private decoder = new ConsoleFrameDecoder();
  private bulkListener: ((frame: BulkFrame) => void) | null = null;
  /** Damaged frames seen (line noise), for reports. */
  damagedFrames = 0;
  /** Requests sent again after a timeout. */
  retries = 0;

  constructor(readonly transport: Transport) {
    transport.onData((chunk) => {
      for (const ev of this.demux.push(chunk)) {
        if (ev.kind === 'damaged') this.damagedFrames++;
        else if (ev.kind === 'bulk') this.bulkListener?.(ev.frame);
        else this.smpLine(ev.bytes);
      }
    });
  }

  private smpLine(bytes: Uint8Array): void {
    for (const e of this.decoder.push(bytes)) {
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
  }

  static async connect(conn: string): Promise<SmpClient> {
    return new SmpClient(await openTransport(conn));
  }

  /** Bulk frames from the dock (ACK, ABORT) go here while a transfer runs. */
  onBulkFrame(listener: ((frame: BulkFrame) => void) | null): void {
    this.bulkListener = listener;
  }

  async request(op: 0 | 2, group: number, id: number, body: Record<string, unknown>, options: RequestOptions = {}): Promise<Record<string, unknown>> {
    const timeoutMs = options.timeoutMs ?? 2000;
    const attempts = options.attempts ?? 3;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const sequence = this.seq++ & 0xff;
      const answer = new Promise<Record<string, unknown>>((resolve) => this.waiting.set(sequence, resolve));
      // The timer runs from before the write: a port that never drains must not hang the request.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
      let payload: Record<string, unknown> | null;
      try {
        const written = this.transport.write(encodeConsoleFrames(encodePacket({ op, version: options.version ?? SMP_V2, flags: 0, group, sequence, id }, body)));
        payload = await Promise.race([written.then(() => Promise.race([answer, timeout])), timeout]);
      } catch (e) {
        this.waiting.delete(sequence);
        throw e;
      } finally {
        clearTimeout(timer);
      }
      if (payload === null) {
        this.waiting.delete(sequence);
        if (attempt < attempts) this.retries++;
        continue; // lost on the line: send again
      }
      const refused = answerError(group, payload);
      if (refused) throw refused;
      return payload;
    }
    throw new LinkError(`no answer from the dock on ${this.transport.description} after ${attempts} attempts of ${timeoutMs} ms (is it powered and running, and is this its port?)`);
  }

  /** Ask until the dock answers (after a restart): an echo every `pollMs`, for at most `withinMs`. */
  async awaitDock(withinMs = 30_000, pollMs = 200): Promise<void> {
    const until = Date.now() + withinMs;
    for (;;) {
      try {
        await this.request(2, 0, 0, { d: 'up?' }, { timeoutMs: Math.min(500, withinMs), attempts: 1 });
        return;
      } catch (e) {
        if (!(e instanceof LinkError) || Date.now() >= until) throw e instanceof LinkError ? new LinkError(`the dock did not answer within ${withinMs / 1000} s of its restart`) : e;
        await new Promise((r) => setTimeout(r, pollMs));
      }
    }
  }

  /** Raw bytes onto the line (tests: noise). */
  writeRaw(bytes: Uint8Array): Promise<void> {
    return this.transport.write(bytes);
  }

  close(): Promise<void> {
    return this.transport.close();
  }
}
