// A simulated flash partition lent to the JerryScript host, which runs its
// NOR rules in C on the partition's data file (the dock directory's file for
// a FileFlash, a copy in the host's directory for one kept in memory). The C
// host keeps the bookkeeping in a state file (FORMAT.md, "Flash state
// file"); after each request this mirrors what changed back into the SimFlash
// object (cells, programmed units, erase counts, stats, modelled time), so
// inspect, wear figures and benches read the same partition either way.
// Changes made through the SimFlash object meanwhile go the other way before
// the next request. A partition with faults injected is not lent: the
// simulator's flash is the one that models them.

import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { SimFlash } from '../../flash/sim-flash.ts';
import { FileFlash } from '../../flash/file-flash.ts';

/** State file layout (FORMAT.md): f64 counters in a 128-byte header, then dirty sectors, erase counts, programmed units. */
const HEADER = 128;
const COUNTERS = 8;
const C = { reads: 0, bytesRead: 1, programs: 2, bytesProgrammed: 3, erases: 4, mutatingOps: 5, pageTouches: 6, bytesHashed: 7 } as const;

/** Which host has a partition now: two engines running one partition in C would each miss the other's changes. */
const lentTo = new WeakMap<SimFlash, NativePartition>();

export interface AttachRequest {
  name: string;
  dataPath: string;
  statePath: string;
  size: number;
  sectorSize: number;
  programUnit: number;
  pageSize: number;
  timingPageSize: number;
  strictReprogram: boolean;
}

export class NativePartition {
  private dataFd = -1;
  private stateFd = -1;
  private last = new Float64Array(COUNTERS);
  private nodeChanged = new Set<number>();
  private readonly stop: () => void;
  private readonly sectors: number;
  private readonly countsAt: number;
  private readonly programmedAt: number;
  attached = false;

  constructor(
    readonly name: string,
    readonly flash: SimFlash,
    private readonly dir: string,
    /** Flash bytes hashed by the C host are added here (NodeCrypto.flashBytesHashed). */
    private readonly onHashed: (bytes: number) => void,
  ) {
    this.sectors = flash.size / flash.sectorSize;
    this.countsAt = HEADER + ((this.sectors + 3) & ~3);
    this.programmedAt = this.countsAt + this.sectors * 4;
    this.stop = flash.onChange((offset, length) => {
      if (!this.attached || length === 0) return;
      for (let s = Math.floor(offset / flash.sectorSize); s <= Math.floor((offset + length - 1) / flash.sectorSize); s++) this.nodeChanged.add(s);
    });
  }

  /** Whether the C host may run this partition now: no fault injected, and no other engine host runs it. */
  get eligible(): boolean {
    const holder = lentTo.get(this.flash);
    return !this.flash.faultsInjected && (holder === undefined || holder === this);
  }

  /** Write the state file (and, for a partition kept in memory, its data file) for an attach request. */
  prepareAttach(): AttachRequest {
    const f = this.flash;
    const { cells, programmed, eraseCounts } = f.liveState();
    const dataPath = f instanceof FileFlash ? f.path : join(this.dir, `${this.name}.flash`);
    const statePath = join(this.dir, `${this.name}.state`);
    this.closeFiles();
    this.dataFd = openSync(dataPath, f instanceof FileFlash ? 'r+' : 'w+');
    if (!(f instanceof FileFlash)) writeSync(this.dataFd, cells, 0, cells.length, 0);
    this.stateFd = openSync(statePath, 'w+');
    const state = new Uint8Array(this.programmedAt + programmed.length);
    new Uint32Array(state.buffer, this.countsAt, this.sectors).set(eraseCounts);
    state.set(programmed, this.programmedAt);
    writeSync(this.stateFd, state, 0, state.length, 0);
    this.last.fill(0);
    this.nodeChanged.clear();
    this.attached = true;
    lentTo.set(f, this);
    return { name: this.name, dataPath, statePath, size: f.size, sectorSize: f.sectorSize, programUnit: f.programUnit, pageSize: f.pageSize, timingPageSize: f.timing.pageSize, strictReprogram: f.strictReprogram };
  }

  /** Before a request: what changed through the SimFlash object since the last one goes to the files the C host runs on. */
  pushNodeChanges(): void {
    if (!this.attached || this.nodeChanged.size === 0) return;
    const f = this.flash;
    const { cells, programmed, eraseCounts } = f.liveState();
    const perSector = f.sectorSize / f.programUnit;
    for (const s of this.nodeChanged) {
      const at = s * f.sectorSize;
      writeSync(this.dataFd, cells, at, f.sectorSize, at);
      writeSync(this.stateFd, new Uint8Array(new Uint32Array([eraseCounts[s]]).buffer), 0, 4, this.countsAt + s * 4);
      writeSync(this.stateFd, programmed, s * perSector, perSector, this.programmedAt + s * perSector);
    }
    this.nodeChanged.clear();
  }

  /** After a request: the C host's changes and counters into the SimFlash object. */
  pullEngineChanges(): void {
    if (!this.attached) return;
    const f = this.flash;
    const head = new Uint8Array(HEADER + this.sectors);
    readSync(this.stateFd, head, 0, head.length, 0);
    const now = new Float64Array(head.buffer, 0, COUNTERS);
    const d = now.map((v, i) => v - this.last[i]);
    this.last.set(now);
    const s = f.stats;
    const t = f.timing;
    s.reads += d[C.reads];
    s.bytesRead += d[C.bytesRead];
    s.programs += d[C.programs];
    s.bytesProgrammed += d[C.bytesProgrammed];
    s.erases += d[C.erases];
    s.mutatingOps += d[C.mutatingOps];
    // The same time model as SimFlash's (flash/timing.ts), from the counts.
    s.timeUs += d[C.reads] * t.readSetupUs + (d[C.bytesRead] * 1e6) / t.readBytesPerSecond + d[C.pageTouches] * t.programSetupUs + (d[C.bytesProgrammed] * t.pageProgramUs) / t.pageSize + d[C.erases] * t.sectorEraseUs;
    if (d[C.bytesHashed]) this.onHashed(d[C.bytesHashed]);
    const dirty = head.subarray(HEADER);
    if (!dirty.includes(1)) return;
    const { cells, programmed, eraseCounts } = f.liveState();
    const tail = new Uint8Array(this.sectors * 4 + programmed.length);
    readSync(this.stateFd, tail, 0, tail.length, this.countsAt);
    const counts = new Uint32Array(tail.buffer, 0, this.sectors);
    const perSector = f.sectorSize / f.programUnit;
    for (let from = 0; from < this.sectors; from++) {
      if (!dirty[from]) continue;
      let to = from;
      while (to + 1 < this.sectors && dirty[to + 1]) to++;
      const at = from * f.sectorSize;
      readSync(this.dataFd, cells, at, (to + 1 - from) * f.sectorSize, at);
      eraseCounts.set(counts.subarray(from, to + 1), from);
      programmed.set(tail.subarray(this.sectors * 4 + from * perSector, this.sectors * 4 + (to + 1) * perSector), from * perSector);
      from = to;
    }
    writeSync(this.stateFd, new Uint8Array(this.sectors), 0, this.sectors, HEADER);
  }

  /** Mirror the last changes and stop lending (the C host was told to forget it, or is gone). */
  detach(): void {
    this.pullEngineChanges();
    this.attached = false;
    if (lentTo.get(this.flash) === this) lentTo.delete(this.flash);
    this.closeFiles();
  }

  dispose(): void {
    if (this.attached) this.detach();
    this.stop();
  }

  private closeFiles(): void {
    for (const fd of [this.dataFd, this.stateFd]) if (fd >= 0) closeSync(fd);
    this.dataFd = this.stateFd = -1;
  }
}
