// The flash time model: a datasheet-typical SPI NOR (e.g. a 128 Mbit part at
// 104 MHz quad read). Explicit and configurable; benches quote modelled time.

export interface TimingModel {
  /** The chip's program page; a program op pays per page it touches. */
  pageSize: number;
  /** Programming a whole page (typ. 0.4 ms). Partial pages pay pro rata. */
  pageProgramUs: number;
  /** Fixed cost per page touched by a program (command, address, status poll). */
  programSetupUs: number;
  /** 4 KiB sector erase (typ. 45 ms). */
  sectorEraseUs: number;
  readBytesPerSecond: number;
  /** Command and address per read op. */
  readSetupUs: number;
}

export const DEFAULT_TIMING: TimingModel = {
  pageSize: 256,
  pageProgramUs: 400,
  programSetupUs: 8,
  sectorEraseUs: 45_000,
  readBytesPerSecond: 50e6,
  readSetupUs: 1,
};

export function programTimeUs(m: TimingModel, offset: number, length: number): number {
  let t = 0;
  let o = offset;
  const end = offset + length;
  while (o < end) {
    const pageEnd = (Math.floor(o / m.pageSize) + 1) * m.pageSize;
    const n = Math.min(end, pageEnd) - o;
    t += m.programSetupUs + (m.pageProgramUs * n) / m.pageSize;
    o += n;
  }
  return t;
}

export function eraseTimeUs(m: TimingModel): number {
  return m.sectorEraseUs;
}

export function readTimeUs(m: TimingModel, length: number): number {
  return m.readSetupUs + (length * 1e6) / m.readBytesPerSecond;
}
