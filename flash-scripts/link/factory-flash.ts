// Writing a factory image to a dock over the link: the bulk lane when the dock
// offers it (SMP otherwise), then commit, which makes the dock hash exactly
// the bytes it stored and check the manufacturer's signature before the
// one-program commit (datastore/factory/FORMAT.md §7). A transfer cut short
// (noise past the retry budget, a pulled cable, a dock restart) is resumed:
// the dock says how much it holds, and the host sends the rest, or all of it
// again if the dock restarted.

import { createHash } from 'node:crypto';
import { GROUP_DOCK, GROUP_IMAGE, DOCK, IMAGE_UPLOAD, RC } from '../../firmware/smp/smp-server.ts';
import { IMG_ERR } from '../../firmware/smp/smp-errors.ts';
import { inspectFactoryImage } from '../romstore/factory-image-inspector.ts';
import { SmpClient, SmpError } from './smp-client.ts';
import { BulkTransferError, sendBulk } from './bulk-sender.ts';
import { LinkError } from './transport.ts';

export type Lane = 'bulk' | 'smp';

export interface FlashProgress {
  lane: Lane;
  sent: number;
  total: number;
}

export interface FlashOptions {
  /** 'auto': the bulk lane if the dock offers it. */
  lane?: Lane | 'auto';
  /** SMP lane: image bytes per upload request. */
  chunkBytes?: number;
  frameSize?: number;
  window?: number;
  /** Whole-transfer attempts (each resumes where the dock is). */
  attempts?: number;
  /** Bulk lane: resend the oldest unacknowledged frame after this long, at most maxRetries times. */
  bulkTimeoutMs?: number;
  maxRetries?: number;
  /** SMP requests: wait this long for each answer. */
  requestTimeoutMs?: number;
  onProgress?(p: FlashProgress): void;
  log?(line: string): void;
  /** false: skip the host's checks against the dock's key and slot (tests of the dock's own refusals). */
  precheck?: boolean;
}

export interface FlashResult {
  lane: Lane;
  bytes: number;
  sha256: string;
  /** The SHA-256 the dock itself reported for the bytes it stored (its commit answer). */
  dockSha256: string;
  slot: number;
  generation: number;
  elapsedMs: number;
  /** Bytes of payload per second over the transfer (not the commit). */
  payloadBytesPerSecond: number;
  transferMs: number;
  resumes: number;
  /** Where the dock said the transfer stood when this run began (bytes it already held). */
  resumedFrom: number;
  retransmittedFrames: number;
}

export class FactoryFlashError extends Error {
  readonly code = 'factory-flash';
  constructor(message: string) {
    super(message);
    this.name = 'FactoryFlashError';
  }
}

const sameHex = (a: Uint8Array, hex: string) => Buffer.from(a).toString('hex') === hex;

export async function flashFactoryImage(client: SmpClient, image: Uint8Array, options: FlashOptions = {}): Promise<FlashResult> {
  const started = performance.now();
  const sha = new Uint8Array(createHash('sha256').update(image).digest());
  const shaHex = Buffer.from(sha).toString('hex');
  const status = await client.request(0, GROUP_DOCK, DOCK.FACTORY_STATUS, {}, { timeoutMs: options.requestTimeoutMs ?? 2000 });
  if (status.locked === true) throw new FactoryFlashError('the dock is locked (its factory-lock fuse is burnt): its factory image can no longer be written over the link');
  if (options.precheck !== false) checkBeforeSending(image, status);
  let lane: Lane = options.lane === 'smp' ? 'smp' : 'bulk';
  const attempts = options.attempts ?? 4;
  let resumes = 0;
  let resumedFrom = -1;
  let retransmitted = 0;
  let transferStart = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      if (lane === 'bulk') {
        const offered = await openBulk(client, image.length, sha, options);
        if (offered === null) {
          if (options.lane === 'bulk') throw new FactoryFlashError('the dock does not offer the bulk lane; use --lane smp');
          options.log?.('the dock does not offer the bulk lane: using SMP');
          lane = 'smp';
          continue;
        }
        if (attempt === 1) transferStart = performance.now();
        const from = offered.off;
        if (resumedFrom < 0) resumedFrom = from;
        const stats = await sendBulk({
          session: offered.session,
          data: image.subarray(from),
          frameSize: offered.frame,
          window: offered.window,
          write: (wire) => client.transport.write(wire),
          subscribe: (listener) => {
            client.onBulkFrame(listener);
            return () => client.onBulkFrame(null);
          },
          timeoutMs: options.bulkTimeoutMs ?? 1500,
          maxRetries: options.maxRetries,
          onProgress: (p) => options.onProgress?.({ lane, sent: from + p.bytesAcked, total: image.length }),
        });
        retransmitted += stats.framesRetransmitted;
      } else {
        if (attempt === 1) transferStart = performance.now();
        const from = await uploadSmp(client, image, sha, options);
        if (resumedFrom < 0) resumedFrom = from;
      }
      break;
    } catch (e) {
      // A lost line, a noisy one, or a dock that restarted (its bulk session or SMP upload is gone): go again from where the dock is.
      const retryable = e instanceof LinkError || (e instanceof BulkTransferError && (e.kind === 'too-noisy' || e.reason === 2)) || (lane === 'smp' && e instanceof SmpError && e.group === GROUP_IMAGE && e.rc === IMG_ERR.FLASH_CONTEXT_NOT_SET && /no factory write in progress/.test(e.message));
      if (!retryable || attempt >= attempts) {
        if (e instanceof BulkTransferError) throw new FactoryFlashError(`the transfer failed: ${e.message}`);
        throw e;
      }
      resumes++;
      options.log?.(`transfer interrupted (${(e as Error).message}); resuming where the dock is`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const transferMs = performance.now() - transferStart;
  // Commit: the dock hashes exactly what it stored, checks the signature, then writes the commit record.
  const committed = await client.request(2, GROUP_DOCK, DOCK.FACTORY_COMMIT, { sha }, { timeoutMs: 60_000, attempts: 1 });
  if (!(committed.sha instanceof Uint8Array) || !sameHex(committed.sha, shaHex)) throw new FactoryFlashError('the dock committed an image whose SHA-256 is not the one sent');
  return {
    lane,
    bytes: image.length,
    sha256: shaHex,
    dockSha256: Buffer.from(committed.sha).toString('hex'),
    slot: committed.slot as number,
    generation: committed.generation as number,
    elapsedMs: performance.now() - started,
    payloadBytesPerSecond: image.length / (transferMs / 1000),
    transferMs,
    resumes,
    resumedFrom: Math.max(0, resumedFrom),
    retransmittedFrames: retransmitted,
  };
}

/**
 * The checks the dock would make, made here first against what the dock
 * reports (its slot size and its OTP key): a wrong-key, truncated, damaged or
 * oversize image is refused in milliseconds, before a byte is sent.
 */
export function checkBeforeSending(image: Uint8Array, status: Record<string, unknown>): void {
  const room = status.slotBytes;
  if (typeof room === 'number' && image.length > room) throw new FactoryFlashError(`the image is ${image.length} bytes; this dock's factory slot holds ${room} (${image.length - room} bytes too many): rebuild it with fewer or smaller images`);
  // A dock too old to report its key is left to check for itself (it does, at commit).
  if (!(status.trustedKey instanceof Uint8Array) || status.trustedKey.length !== 32) return;
  const report = inspectFactoryImage(image, status.trustedKey);
  if (!report.accepted) throw new FactoryFlashError(`the dock would refuse this image (${report.failedCheck}): ${report.verdict}; nothing was sent`);
}

/** Ask for a bulk session; null when the dock does not offer one. The first ask may wait for an erase. */
async function openBulk(client: SmpClient, length: number, sha: Uint8Array, o: FlashOptions): Promise<{ off: number; session: number; frame: number; window: number } | null> {
  try {
    const r = await client.request(2, GROUP_DOCK, DOCK.BULK_OPEN, { len: length, sha, frame: o.frameSize ?? 1024, window: o.window ?? 16 }, { timeoutMs: o.requestTimeoutMs ?? 10_000 });
    return { off: r.off as number, session: r.session as number, frame: r.frame as number, window: r.window as number };
  } catch (e) {
    if (e instanceof SmpError && e.rc === RC.NOT_SUPPORTED) return null;
    throw e;
  }
}

/** The SMP lane: image-group upload, each answer saying where the dock is (so resends and resumes are free). */
async function uploadSmp(client: SmpClient, image: Uint8Array, sha: Uint8Array, o: FlashOptions): Promise<number> {
  const chunk = o.chunkBytes ?? 2048;
  // The first chunk starts (or resumes) the staging; the dock may erase first, so it gets a longer timeout.
  const first = Math.min(chunk, image.length);
  let off = (await client.request(2, GROUP_IMAGE, IMAGE_UPLOAD, { off: 0, len: image.length, sha, data: image.subarray(0, first) }, { timeoutMs: 10_000 })).off as number;
  const resumedFrom = off === first ? 0 : off;
  while (off < image.length) {
    o.onProgress?.({ lane: 'smp', sent: off, total: image.length });
    const r = await client.request(2, GROUP_IMAGE, IMAGE_UPLOAD, { off, data: image.subarray(off, off + chunk) }, { timeoutMs: o.requestTimeoutMs ?? 3000, attempts: 5 });
    off = r.off as number;
  }
  o.onProgress?.({ lane: 'smp', sent: off, total: image.length });
  return resumedFrom;
}
