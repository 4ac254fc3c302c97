// The record log: an append-only byte stream laid over the sector ring.
// Each sector contributes its payload (everything after its 32-byte header);
// records may cross sector boundaries. New bytes collect in a one-sector
// write buffer and reach flash on `flush()` (a commit point) or when the
// sector fills. Sectors are erased only when the head opens them.

import { FlashError, type FlashPartition } from '../../hal/flash.ts';
import {
  closeSpan,
  encodeCloseRecord,
  encodeSectorHeader,
  NONE,
  RecordKind,
  SECTOR_HEADER_SIZE,
} from './format.ts';
import { StoreError } from './errors.ts';
import type { SectorRing } from './sector-ring.ts';

export interface HeadState {
  sector: number;
  seq: number;
  eraseCount: number;
  fresh: boolean;
  /** Bytes of the sector already on flash (unit-aligned). */
  programmed: number;
  /** True if appends may continue in this sector; false after a crash or a forced close. */
  open: boolean;
}

export class RecordLog {
  readonly ring: SectorRing;
  readonly flash: FlashPartition;
  readonly unit: number;
  readonly sectorSize: number;

  // Head sector and its write buffer: buf[0, progPos) is on flash, buf[progPos, bufPos) pending.
  headSector = -1;
  headSeq = 0;
  headEraseCount = 0;
  headFresh = false;
  headOpen = false;
  /**
   * This writer opened the head and every record in it is whole (or the log stopped, `failed`):
   * false after a mount, and after a streamed record was abandoned in the head (abandonRecord).
   */
  private headOpenedHere = false;
  private readonly buf: Uint8Array;
  private progPos = 0;
  private bufPos = 0;
  private recordRemaining = 0;

  /** What the next sector header records. */
  tailSector = 0;
  latestCheckpoint = NONE;
  /** The checkpoint and tail named by the head's own header: what a mount would use. */
  durableCheckpoint = NONE;
  durableTail = 0;
  /**
   * False until the first open after mount or format: that open erases the
   * sector it takes, or spends the token (restoreAhead), before anything is
   * programmed (it may be the sector whose opening a power cut interrupted,
   * its units marked programmed on ECC parts though they read 0xFF).
   */
  trustBlank = false;
  /** Why a program or erase failed (the log's state on flash is then unknown), or null. */
  failed: string | null = null;
  /** Something was programmed since mount: until then a power cut could leave no trace of this session. */
  private sessionProgrammed = false;

  /**
   * Called at a commit point before the padding: `room` bytes are left to the
   * program unit's end, and a record of at most that size may be appended
   * (a slice of the rolling index snapshot) instead of PAD.
   */
  beforePad: ((room: number) => void) | null = null;
  /** Called after a commit point programmed everything pending. */
  onCommitted: (() => void) | null = null;
  /** Called when a commit pads the log: `bytes` of PAD from partition offset `at`. */
  onPad: ((at: number, bytes: number) => void) | null = null;
  /** Called after each sector open (checkpoint policy). */
  onSectorOpened: (() => void) | null = null;
  sectorsOpened = 0;
  /** Erase operations attempted by this log (so a caller can tell whether an operation erased). */
  eraseOps = 0;
  /**
   * Sectors right after the head that this session erased ahead of need, in
   * ring order, with the erase counts their (now erased) headers held. The
   * head opens them without erasing, so a burst of sector opens (a checkpoint,
   * GC) does not pile erases into one write.
   */
  private ahead: { sector: number; eraseCount: number }[] = [];

  constructor(ring: SectorRing) {
    this.ring = ring;
    this.flash = ring.flash;
    this.unit = ring.flash.programUnit;
    this.sectorSize = ring.sectorSize;
    this.buf = new Uint8Array(ring.sectorSize);
  }

  /** Resume appending after mount. */
  restoreHead(h: HeadState): void {
    this.headSector = h.sector;
    this.headSeq = h.seq;
    this.headEraseCount = h.eraseCount;
    this.headFresh = h.fresh;
    this.headOpen = h.open;
    this.headOpenedHere = false;
    this.ahead = [];
    this.buf.fill(0xff);
    this.progPos = this.bufPos = h.programmed;
    this.sessionProgrammed = false;
    this.token = null;
  }

  /**
   * Sectors right after the head that a clean unmount left erased and
   * untouched (its CLOSE record counts them). The rest open without an erase;
   * the first of them does too if the sector after the list still holds its
   * old header: the first open erases that one first (the next sector the
   * ring would erase anyway), so a session leaves a trace before it programs
   * anything (FORMAT.md §6.4). Otherwise the first open erases the first of
   * them again.
   */
  restoreAhead(count: number): void {
    this.ahead = [];
    this.token = null;
    let x = this.headSector;
    for (let i = 0; i < count && i < this.ring.sectorCount; i++) {
      x = this.ring.next(x);
      if (x === this.tailSector || x === this.durableTail) return;
      this.ahead.push({ sector: x, eraseCount: this.headEraseCount });
    }
    if (this.ahead.length === 0) return;
    const t = this.ring.next(x);
    if (this.ring.between(this.headSector, t) + 2 > this.ring.between(this.headSector, this.durableTail)) return;
    const h = this.ring.readHeader(t);
    if (h.kind === 'valid' && ((h.header.seq - this.headSeq) | 0) < 0) this.token = { sector: t, eraseCount: h.header.eraseCount + 1 };
  }

  /**
   * The sector whose old header says no session began since the clean
   * unmount (see restoreAhead), or null. The first open erases it first.
   */
  private token: { sector: number; eraseCount: number } | null = null;

  /** Erase the token sector and list it as erased ahead; false if it could not be erased. */
  private spendToken(): boolean {
    const t = this.token;
    this.token = null;
    if (!t || !this.eraseOrRetire(t.sector)) return false;
    this.ahead.push(t);
    return true;
  }

  /**
   * Erase the token now, if this session holds one: a format over this store
   * erases the sectors a CLOSE record lists as erased ahead, and without the
   * token's erase first the next mount would still trust them blank.
   */
  leaveSessionTrace(): void {
    if (this.token) this.spendToken();
  }

  /** Sectors after the head known erased and untouched (what a CLOSE record counts). */
  get erasedAhead(): number {
    return this.ahead.length;
  }

  /** Partition offset where the next appended byte goes (the log's end). */
  get endOffset(): number {
    if (!this.headOpen || this.bufPos === this.sectorSize) return NONE;
    return this.headSector * this.sectorSize + this.bufPos;
  }

  /** Bytes that can still be appended to the head sector without opening another. */
  get headRoom(): number {
    return this.headOpen ? this.sectorSize - this.bufPos : 0;
  }

  get pendingBytes(): number {
    return this.bufPos - this.progPos;
  }

  // ---- reading -------------------------------------------------------------

  /** Read a range that lies within one sector; pending head bytes come from the buffer. */
  readSector(offset: number, into: Uint8Array, start = 0, length = into.length - start): void {
    if (length === 0) return;
    const headStart = this.headSector * this.sectorSize;
    const pendFrom = headStart + this.progPos;
    const pendTo = headStart + this.bufPos;
    const end = offset + length;
    if (this.headSector < 0 || end <= pendFrom || offset >= pendTo) {
      this.flash.read(offset, into.subarray(start, start + length));
      return;
    }
    let o = offset;
    let i = start;
    if (o < pendFrom) {
      const n = pendFrom - o;
      this.flash.read(o, into.subarray(i, i + n));
      o += n;
      i += n;
    }
    const n = Math.min(end, pendTo) - o;
    into.set(this.buf.subarray(o - headStart, o - headStart + n), i);
    o += n;
    i += n;
    if (o < end) into.fill(0xff, i, i + (end - o)); // past the log's end reads as erased
  }

  /** Read `length` stream bytes starting at `pos`, following the ring. Returns the position after. */
  read(pos: number, into: Uint8Array, start = 0, length = into.length - start): number {
    let p = pos;
    let i = start;
    let left = length;
    while (left > 0) {
      const sectorEnd = (Math.floor(p / this.sectorSize) + 1) * this.sectorSize;
      const n = Math.min(left, sectorEnd - p);
      this.readSector(p, into, i, n);
      p += n;
      i += n;
      left -= n;
      if (p === sectorEnd) p = this.ring.payloadStart(this.ring.next(p / this.sectorSize - 1));
    }
    return p;
  }

  /** Position `length` stream bytes after `pos`. */
  advance(pos: number, length: number): number {
    let p = pos;
    let left = length;
    for (;;) {
      const sectorEnd = (Math.floor(p / this.sectorSize) + 1) * this.sectorSize;
      if (left < sectorEnd - p) return p + left;
      left -= sectorEnd - p;
      p = this.ring.payloadStart(this.ring.next(sectorEnd / this.sectorSize - 1));
    }
  }

  // ---- appending -------------------------------------------------------------

  /** Start a record of `size` bytes; returns its partition offset. */
  beginRecord(size: number): number {
    if (!this.headOpen) this.openNext(0);
    else if (this.bufPos === this.sectorSize) this.nextSector(0);
    this.recordRemaining = size;
    return this.headSector * this.sectorSize + this.bufPos;
  }

  /**
   * Drop the record begun at partition offset `at` (a streamed value that was
   * aborted). If none of it reached flash it is simply cut from the write
   * buffer. Otherwise what is pending is programmed as it stands (the rest of
   * its units left 0xFF, never PAD: the record must not check) and the head is
   * closed: the next record starts a fresh sector with carry 0, exactly as
   * after a write a power cut tore, so a mount skips the dropped record.
   */
  abandonRecord(at: number): void {
    this.recordRemaining = 0;
    const inHead = Math.floor(at / this.sectorSize) === this.headSector && this.headOpen;
    const start = at - this.headSector * this.sectorSize;
    if (inHead && start >= this.progPos && start <= this.bufPos) {
      this.buf.fill(0xff, start, this.bufPos);
      this.bufPos = start;
      return;
    }
    if (!this.headOpen) return;
    // The record's header is on flash, its trailer never will be: the next sector must not
    // claim FOLLOWS for this one (a mount would take the record's program as complete and
    // apply a value that was never committed, FORMAT.md §2.1).
    this.headOpenedHere = false;
    this.programPending(Math.min(this.sectorSize, Math.ceil(this.bufPos / this.unit) * this.unit));
    this.headOpen = false;
  }

  put(bytes: Uint8Array, start = 0, length = bytes.length - start): void {
    let i = start;
    let left = length;
    while (left > 0) {
      const n = this.room(left);
      this.buf.set(bytes.subarray(i, i + n), this.bufPos);
      this.bufPos += n;
      this.recordRemaining -= n;
      i += n;
      left -= n;
    }
  }

  /** Append `length` bytes produced by `fill` straight into the write buffer (no extra copy). */
  putFrom(length: number, fill: (into: Uint8Array) => void): void {
    let left = length;
    while (left > 0) {
      const n = this.room(left);
      fill(this.buf.subarray(this.bufPos, this.bufPos + n));
      this.bufPos += n;
      this.recordRemaining -= n;
      left -= n;
    }
  }

  /** Commit point: pad to the program unit and program everything pending. */
  flush(): void {
    if (!this.headOpen || this.bufPos === this.progPos) return;
    const end = Math.min(this.sectorSize, Math.ceil(this.bufPos / this.unit) * this.unit);
    if (end > this.bufPos && this.beforePad && this.recordRemaining <= 0) this.beforePad(end - this.bufPos);
    if (end > this.bufPos) {
      const at = this.headSector * this.sectorSize + this.bufPos;
      this.buf.fill(RecordKind.Pad, this.bufPos, end);
      this.bufPos = end;
      this.onPad?.(at, end - (at - this.headSector * this.sectorSize));
    }
    this.programPending(end);
    this.onCommitted?.();
  }

  /** Flush and stop appending to the head sector; the next append opens a new one. */
  closeHead(): void {
    this.flush();
    this.headOpen = false;
  }

  /** Open a new head sector holding only its header, and program it. */
  openEmpty(): void {
    this.closeHead();
    this.openNext(0);
    this.flush();
  }

  private room(wanted: number): number {
    if (this.bufPos === this.sectorSize) this.nextSector(Math.min(this.recordRemaining, this.ring.payloadSize));
    return Math.min(wanted, this.sectorSize - this.bufPos);
  }

  /** The head is full: put all of it on flash, then open the next sector. */
  private nextSector(carry: number): void {
    this.programPending(this.sectorSize);
    this.openNext(carry);
  }

  private programPending(end: number): void {
    if (end <= this.progPos) return;
    this.assertHealthy();
    const at = this.headSector * this.sectorSize + this.progPos;
    try {
      this.flash.program(at, this.buf.subarray(this.progPos, end));
    } catch (e) {
      // Which units the failed program touched is unknown: nothing more may be programmed
      // from this state (a retry could program a unit twice, or make a write durable that
      // the caller was told failed). The store refuses writes until it is mounted again.
      this.failed = e instanceof Error ? e.message : String(e);
      if (e instanceof FlashError && e.code === 'worn') {
        throw new StoreError('flash-failure', `flash program failed at offset ${at} (sector ${this.headSector} worn); the write did not complete. Remount the store: the sector will be retired.`);
      }
      throw e;
    }
    this.progPos = end;
    this.sessionProgrammed = true;
  }

  /**
   * Clean unmount: a CLOSE record in the last program units of the head sector
   * names `checkpoint` (FORMAT.md §5.1); the units between stay erased and the
   * sector is never appended to again. A head with no room for it (or none
   * open) is followed by a new sector that holds only its header and the CLOSE.
   */
  close(record: { checkpoint: number }): void {
    this.flush();
    const span = closeSpan(this.unit);
    if (!this.headOpen || this.sectorSize - this.bufPos < span) {
      this.closeHead();
      this.openNext(0);
      this.flush();
    }
    const at = this.sectorSize - span;
    this.buf.fill(0xff, at, this.sectorSize);
    encodeCloseRecord({ checkpoint: record.checkpoint, erasedAhead: this.ahead.length }, this.buf, at);
    this.progPos = at;
    this.bufPos = this.sectorSize;
    this.programPending(this.sectorSize);
    this.headOpen = false;
    this.durableCheckpoint = record.checkpoint;
  }

  /**
   * Open the next usable sector as head. Erases it unless it is known blank;
   * a sector that fails to erase is retired and the next one is tried.
   */
  openNext(carry: number, newLog = false): void {
    const ring = this.ring;
    let x = this.headSector < 0 ? 0 : ring.next(this.headSector);
    for (let tries = 0; tries < ring.sectorCount; tries++) {
      if (!newLog && x === this.tailSector && this.headSector !== this.tailSector) {
        throw new StoreError('partition-full', 'internal: the log head reached its tail (no free sector); the reserve was not kept');
      }
      // Erasing the tail that the newest header names would leave a cut during that erase
      // with nothing to mount: refuse (the data stays readable) rather than risk it.
      if (!newLog && x === this.durableTail && this.headSector !== this.durableTail) {
        throw new StoreError('partition-full', 'internal: the log head reached the tail its last sector header names (no free sector); the reserve was not kept');
      }
      // Only a sector after the head in the first pass since a fresh format may be trusted blank by its header.
      const fresh = newLog ? this.headFresh : this.headFresh && x > this.headSector;
      let erase: boolean;
      let eraseCount: number;
      const listed = !newLog && this.ahead.length > 0 && this.ahead[0].sector === x ? this.ahead.shift()! : null;
      if (!listed) this.ahead = [];
      const prev = listed ? null : ring.readHeader(x);
      if (listed) {
        // Erased ahead by this session, or by the session a clean unmount closed. The first open
        // after mount erases it again (a session that died before programming anything may have
        // begun on it and left no other trace), unless erasing the token sector first says
        // whether one did.
        erase = !this.trustBlank && !this.spendToken();
        eraseCount = listed.eraseCount + (erase ? 1 : 0);
      } else if (prev!.kind === 'valid') {
        erase = true;
        eraseCount = prev!.header.eraseCount + 1;
      } else if (prev!.kind === 'blank') {
        // Reading blank proves little about a sector no completed erase of a known session
        // left blank: an interrupted program may have marked its units (ECC parts) and an
        // interrupted erase may have left weak bits that read 1 today and 0 later. Only the
        // first pass after a format trusts the format's own blank check.
        erase = !(this.trustBlank && fresh);
        eraseCount = erase ? Math.max(1, this.headEraseCount) : 0;
      } else {
        erase = true;
        eraseCount = this.headEraseCount; // lost with the header: neighbours wear alike in a ring
      }
      if (erase && !this.eraseOrRetire(x)) {
        x = ring.next(x);
        continue;
      }
      if (newLog) this.tailSector = x;
      this.buf.fill(0xff);
      this.headSeq = (this.headSeq + 1) >>> 0;
      encodeSectorHeader(
        { seq: this.headSeq, eraseCount, carry, tailSector: this.tailSector, checkpoint: this.latestCheckpoint, fresh, follows: this.headOpenedHere && !newLog },
        this.buf,
      );
      this.headOpenedHere = true;
      this.headFresh = fresh;
      this.headSector = x;
      this.headEraseCount = eraseCount;
      this.headOpen = true;
      this.progPos = 0;
      this.bufPos = SECTOR_HEADER_SIZE;
      this.durableCheckpoint = this.latestCheckpoint;
      this.durableTail = this.tailSector;
      this.trustBlank = true;
      this.sectorsOpened++;
      this.onSectorOpened?.();
      return;
    }
    throw new StoreError('flash-failure', 'every sector of the partition is worn out');
  }

  /**
   * Erase the next sector the head will open, ahead of need, if it holds old
   * data and lies well inside the free space: at least two sectors before the
   * tail a mount would replay from, so nothing a mount reads is touched.
   * Returns true if it erased (or tried to). At most `max` sectors are kept
   * erased ahead.
   */
  eraseAhead(max: number): boolean {
    const ring = this.ring;
    // Not before this session has programmed something: a session that leaves no trace must
    // have erased nothing but the sector its first open takes (a clean mount trusts the rest).
    // Nor before the head's own header is on flash: until then a mount relies on the tail the
    // previous header names, and the free sectors may end earlier than durableTail says.
    if (this.headSector < 0 || this.ahead.length >= max || !this.sessionProgrammed || this.progPos === 0) return false;
    const x = ring.next(this.ahead.length > 0 ? this.ahead[this.ahead.length - 1].sector : this.headSector);
    // Steps from the head: x must come at least two before the durable tail (and so the tail).
    if (ring.between(this.headSector, x) + 2 > ring.between(this.headSector, this.durableTail)) return false;
    // A sector the format left blank opens without an erase in the first pass.
    if (this.headFresh && x > this.headSector) return false;
    const prev = ring.readHeader(x);
    // Only a sector holding an old header of this store: one no session has opened (blank, or
    // foreign bytes in the first pass) is erased by its open. Erased ahead, it could not serve
    // as a token (FORMAT.md §6.4: erasing it leaves no trace of a new session), and the first
    // open after a mount would erase it a second time.
    if (prev.kind !== 'valid') return false;
    const eraseCount = prev.kind === 'valid' ? prev.header.eraseCount + 1 : Math.max(1, this.headEraseCount);
    if (this.eraseOrRetire(x)) this.ahead.push({ sector: x, eraseCount });
    return true;
  }

  /** Erase a sector; if it is worn out, retire it instead and return false. */
  private eraseOrRetire(sector: number): boolean {
    this.assertHealthy();
    try {
      this.eraseOps++;
      this.flash.erase(sector);
      return true;
    } catch (e) {
      if (e instanceof FlashError && e.code === 'worn') {
        this.ring.retire(sector);
        this.spoilHeader(sector);
        return false;
      }
      this.failed = e instanceof Error ? e.message : String(e);
      throw e;
    }
  }

  /** No program or erase after one failed: the state on flash is unknown until a mount reads it. */
  private assertHealthy(): void {
    if (this.failed !== null) {
      throw new StoreError('flash-failure', `a flash operation failed (${this.failed}); nothing was written after it. Mount the store again: recovery finds what reached flash and retires a worn sector.`);
    }
  }

  /** Best effort: clear a retired sector's header so no mount mistakes it for live. */
  private spoilHeader(sector: number): void {
    try {
      this.flash.program(sector * this.sectorSize, new Uint8Array(Math.max(this.unit, SECTOR_HEADER_SIZE)));
    } catch {
      // A worn sector may refuse; its header is garbage after the failed erase anyway.
    }
  }
}
