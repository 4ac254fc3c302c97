// The dock's serial port: one byte stream carrying SMP console frames and,
// while a transfer runs, bulk-lane frames (FORMAT.md here). The demux is
// always on, so a lost "bulk done" answer can never strand the line in the
// wrong mode; a bulk session is opened by an SMP command and only frames of
// that session are taken.

import { ConsoleFrameDecoder, encodeConsoleFrames } from '../smp/smp-console-frame.ts';
import { SerialDemux } from './serial-demux.ts';
import { BulkReceiver } from './bulk-receiver.ts';
import { abortPayload, ABORT_UNKNOWN_SESSION, BULK_ABORT, BULK_DATA, encodeBulkFrame } from './bulk-frame.ts';
import { refusalTo, SMP_BUFFER_BYTES, type BulkOffer } from '../smp/smp-server.ts';
import { RC, SmpRefusal } from '../smp/smp-errors.ts';

/** The dock buffers at most window × frame bytes of out-of-order frames: bounded for a 512 KiB heap. */
const MAX_FRAME = 2048;
const MAX_WINDOW = 32;

export class DockSerial {
  private readonly demux = new SerialDemux();
  private readonly smp = new ConsoleFrameDecoder(SMP_BUFFER_BYTES);
  private bulk: BulkReceiver | null = null;
  private lastSession = 0;
  /** Frames dropped as damaged (line noise), for inspect. */
  damaged = 0;

  /**
   * `seed` starts the session numbers somewhere new at each boot (the clock
   * will do): a host's stragglers from before a restart must not match the
   * first session opened after it.
   */
  constructor(
    private readonly handleSmp: (packet: Uint8Array) => Uint8Array | null,
    seed = 0,
  ) {
    this.lastSession = Math.floor(Math.abs(seed)) % 0xffff;
  }

  /** Bytes from the UART; returns what to send back (may be empty). */
  rx(bytes: Uint8Array): Uint8Array {
    const out: Uint8Array[] = [];
    for (const ev of this.demux.push(bytes)) {
      if (ev.kind === 'damaged') {
        this.damaged++;
      } else if (ev.kind === 'smp') {
        for (const f of this.smp.push(ev.bytes)) {
          if (f.kind === 'error') this.damaged++;
          if (f.kind === 'oversize' && f.header) {
            // Silence would look like a dead dock: answer MGMT_ERR_EMSGSIZE, with the buffer size in rsn.
            const reply = this.handleOversize(f.header, f.announced);
            if (reply) out.push(encodeConsoleFrames(reply));
          }
          if (f.kind !== 'packet') continue;
          const reply = this.handleSmp(f.packet);
          if (reply) out.push(encodeConsoleFrames(reply));
        }
      } else if (this.bulk && ev.frame.session === this.bulk.session) {
        for (const w of this.bulk.receive(ev.frame)) out.push(w);
      } else if (ev.frame.type === BULK_DATA) {
        out.push(encodeBulkFrame({ type: BULK_ABORT, session: ev.frame.session, seq: 0, payload: abortPayload(ABORT_UNKNOWN_SESSION, `bulk session ${ev.frame.session} is not open on this dock (it may have restarted): open a new one`) }));
      }
    }
    if (out.length === 1) return out[0];
    let n = 0;
    for (const o of out) n += o.length;
    const all = new Uint8Array(n);
    n = 0;
    for (const o of out) {
      all.set(o, n);
      n += o.length;
    }
    return all;
  }

  /** The answer to a request too long for the buffer: rc 7 (MGMT_ERR_EMSGSIZE, an error of SMP itself) in the request's own header. */
  private handleOversize(h: Uint8Array, announced: number): Uint8Array | null {
    const op = h[0] & 7;
    if (op === 1 || op === 3) return null; // a response: nobody to answer
    return refusalTo(h, new SmpRefusal(RC.MSG_SIZE, `the request is ${announced} bytes; this dock takes SMP packets of at most ${SMP_BUFFER_BYTES} (OS parameters, buf_size): send it in parts`));
  }

  /** A new session replaces any earlier one (its frames then get ABORT: unknown session). */
  openBulk(total: number, sink: (offset: number, bytes: Uint8Array) => void, frameSize: number, window: number): BulkOffer {
    const frame = Math.max(64, Math.min(MAX_FRAME, Math.floor(frameSize)));
    const win = Math.max(1, Math.min(MAX_WINDOW, Math.floor(window)));
    this.lastSession = (this.lastSession % 0xffff) + 1;
    this.bulk = new BulkReceiver({ session: this.lastSession, totalBytes: total, frameSize: frame, window: win, sink: { write: sink } });
    return { session: this.lastSession, frameSize: frame, window: win };
  }

  get bulkProgress(): { session: number; received: number; total: number } | null {
    return this.bulk && { session: this.bulk.session, received: this.bulk.bytesReceived, total: this.bulk.totalBytes };
  }
}
