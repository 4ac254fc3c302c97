// hal/ephemeral.ts in the simulator: an LMDB environment on a RAM-backed
// filesystem (/dev/shm), outside the engine's heap and process-independent,
// so host tools can read it while the dock runs and it survives an engine
// crash. A dock restart opens it with `fresh: true`, which wipes it.
//
// Layout: one LMDB database; each item is key -> [16-byte item header | value];
// the header holds encoding, writtenAt, version. A meta key (NUL-prefixed, so
// it sorts before every app key) holds the used-bytes count and the version
// counter, updated in the same transaction as the item.

import { mkdirSync, rmSync } from 'node:fs';
import { open, type RootDatabase } from 'lmdb';
import type { EphemeralArea, EphemeralItemInfo } from '../../hal/ephemeral.ts';
import { EphemeralFullError, EphemeralUnavailableError } from '../../datastore/tiers/tier-errors.ts';

const ITEM_HEADER = 16;
const META = '\u0000meta';
export const DEFAULT_EPHEMERAL_CAPACITY = 128 * 1024 * 1024;

export interface LmdbEphemeralOptions {
  capacityBytes?: number;
  /** Wipe whatever is there (a dock restart). */
  fresh?: boolean;
  /** Bounded connect-with-retries. */
  attempts?: number;
  retryDelayMs?: number;
}

interface Meta {
  used: number;
  version: number;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export class LmdbEphemeral implements EphemeralArea {
  readonly capacityBytes: number;

  private constructor(
    private readonly db: RootDatabase<Buffer, string>,
    readonly path: string,
    capacityBytes: number,
  ) {
    this.capacityBytes = capacityBytes;
  }

  static open(path: string, options: LmdbEphemeralOptions = {}): LmdbEphemeral {
    const capacity = options.capacityBytes ?? DEFAULT_EPHEMERAL_CAPACITY;
    const attempts = Math.max(1, options.attempts ?? 3);
    let last = '';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        if (options.fresh && attempt === 1) rmSync(path, { recursive: true, force: true });
        mkdirSync(path, { recursive: true });
        // Map size: capacity plus room for LMDB's own pages and the copy-on-write of a full value.
        const db = open<Buffer, string>({ path, mapSize: Math.max(capacity * 2 + 64 * 1024 * 1024, 128 * 1024 * 1024), encoding: 'binary', noSubdir: false });
        return new LmdbEphemeral(db, path, capacity);
      } catch (e) {
        last = (e as Error).message;
        if (attempt < attempts) sleepSync(options.retryDelayMs ?? 50);
      }
    }
    throw new EphemeralUnavailableError(attempts, last);
  }

  close(): void {
    this.db.close();
  }

  usedBytes(): number {
    return this.readMeta().used; // another process (a host tool) may have written
  }

  get(key: string): Uint8Array | undefined {
    const raw = this.db.getBinaryFast(key); // a view of the map: copied once, here
    if (!raw) return undefined;
    return new Uint8Array(raw.subarray(ITEM_HEADER));
  }

  info(key: string): EphemeralItemInfo | undefined {
    const raw = this.db.getBinaryFast(key);
    if (!raw) return undefined;
    return decodeItemHeader(raw);
  }

  readRange(key: string, offset: number, into: Uint8Array): number {
    const raw = this.db.getBinaryFast(key); // a view of the map: nothing copied until `set`
    if (!raw) return 0;
    const start = ITEM_HEADER + offset;
    const n = Math.max(0, Math.min(into.length, raw.length - start));
    if (n > 0) into.set(raw.subarray(start, start + n));
    return n;
  }

  put(key: string, value: Uint8Array, encoding: number, writtenAt: number): number {
    return this.db.transactionSync(() => {
      const meta = this.readMeta();
      const old = this.db.getBinaryFast(key);
      const oldSize = old ? old.length - ITEM_HEADER + key.length : 0; // before any other read reuses the buffer
      const size = value.length + key.length;
      const free = this.capacityBytes - meta.used + oldSize;
      if (size > free) throw new EphemeralFullError(key, size, Math.max(0, free));
      const version = meta.version + 1;
      const record = Buffer.allocUnsafe(ITEM_HEADER + value.length);
      record.writeUInt32LE(value.length, 0);
      record.writeUInt32LE(encoding, 4);
      record.writeUInt32LE(writtenAt >>> 0, 8);
      record.writeUInt32LE(version, 12);
      record.set(value, ITEM_HEADER);
      void this.db.put(key, record); // inside transactionSync: applied in this transaction
      this.writeMeta({ used: meta.used - oldSize + size, version });
      return version;
    });
  }

  delete(key: string): boolean {
    return this.db.transactionSync(() => {
      // getBinaryFast's buffer is reused by the next read: take the size first.
      const old = this.db.getBinaryFast(key);
      if (!old) return false;
      const oldSize = old.length - ITEM_HEADER + key.length;
      const meta = this.readMeta();
      void this.db.remove(key);
      this.writeMeta({ used: meta.used - oldSize, version: meta.version });
      return true;
    });
  }

  keys(prefix = ''): string[] {
    const out: string[] = [];
    for (const key of this.db.getKeys({ start: prefix || '\u0001' })) {
      if (!key.startsWith(prefix)) break;
      out.push(key);
    }
    return out;
  }

  clear(): void {
    this.db.transactionSync(() => {
      const version = this.readMeta().version;
      for (const key of this.db.getKeys()) void this.db.remove(key);
      this.writeMeta({ used: 0, version }); // versions keep rising: old tokens stay invalid
    });
  }

  private readMeta(): Meta {
    const raw = this.db.getBinary(META);
    if (!raw || raw.length < 16) return { used: 0, version: 0 };
    return { used: Number(raw.readBigUInt64LE(0)), version: Number(raw.readBigUInt64LE(8)) };
  }

  private writeMeta(m: Meta): void {
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(BigInt(m.used), 0);
    b.writeBigUInt64LE(BigInt(m.version), 8);
    void this.db.put(META, b);
  }
}

function decodeItemHeader(raw: Buffer): EphemeralItemInfo {
  return { size: raw.readUInt32LE(0), encoding: raw.readUInt32LE(4), writtenAt: raw.readUInt32LE(8), version: raw.readUInt32LE(12) };
}
