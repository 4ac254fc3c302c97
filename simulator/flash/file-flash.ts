// A simulated partition whose bytes live in a file, so a simulated dock's
// runtime partition survives a process restart. Same rules and faults as
// SimFlash; every successful change is written through with pwrite.
// Programmed-unit tracking is not persisted: on open, any unit that is not
// all 0xFF counts as programmed.

import { closeSync, existsSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { SimFlash, type SimFlashOptions } from './sim-flash.ts';

export class FileFlash extends SimFlash {
  private fd: number;

  private constructor(
    fd: number,
    options: SimFlashOptions,
    /** The file the cells live in. */
    readonly path: string,
  ) {
    super(options);
    this.fd = fd;
  }

  static open(path: string, options: Omit<SimFlashOptions, 'image'>): FileFlash {
    const created = !existsSync(path);
    const fd = openSync(path, created ? 'w+' : 'r+');
    let image: Uint8Array | undefined;
    if (created) {
      const blank = new Uint8Array(options.size).fill(0xff);
      writeSync(fd, blank, 0, blank.length, 0);
    } else {
      const size = fstatSync(fd).size;
      if (size !== options.size) {
        closeSync(fd);
        throw new RangeError(`${path} is ${size} bytes but the partition is ${options.size}: wrong file or geometry`);
      }
      image = new Uint8Array(size);
      readSync(fd, image, 0, size, 0);
    }
    return new FileFlash(fd, { ...options, image }, path);
  }

  protected override onWrite(offset: number, length: number): void {
    if (this.fd >= 0) writeSync(this.fd, this.cells, offset, length, offset);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
