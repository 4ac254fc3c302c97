import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashError } from '../hal/flash.ts';
import { SimFlash } from '../simulator/flash/sim-flash.ts';
import { FileFlash } from '../simulator/flash/file-flash.ts';
import { DEFAULT_TIMING } from '../simulator/flash/timing.ts';

const KiB = 1024;
const geometry = { size: 16 * 4 * KiB, sectorSize: 4 * KiB, programUnit: 16 };

function code(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlashError) return e.code;
    throw e;
  }
  return undefined;
}

function read(f: SimFlash, offset: number, length: number): Uint8Array {
  const b = new Uint8Array(length);
  f.read(offset, b);
  return b;
}

const rules = suite('simulated flash: NOR rules');

rules('a new part reads 0xFF; programming clears bits; erase sets the sector back to 0xFF', () => {
  const f = new SimFlash(geometry);
  assert.ok(read(f, 0, 64).every((b) => b === 0xff));
  f.program(4096, new Uint8Array(16).fill(0x5a));
  assert.ok(read(f, 4096, 16).every((b) => b === 0x5a));
  assert.ok(read(f, 4096 + 16, 16).every((b) => b === 0xff), 'neighbouring unit untouched');
  f.erase(1);
  assert.ok(read(f, 4096, 4096).every((b) => b === 0xff));
});

rules('a program that would set a bit is refused and changes nothing', () => {
  const f = new SimFlash({ ...geometry, strictReprogram: false });
  f.program(0, new Uint8Array(16).fill(0x0f));
  assert.is(code(() => f.program(0, new Uint8Array(16).fill(0xf0))), 'set-bit');
  assert.ok(read(f, 0, 16).every((b) => b === 0x0f));
  f.program(0, new Uint8Array(16).fill(0x03)); // clearing more bits is allowed when not strict
  assert.ok(read(f, 0, 16).every((b) => b === 0x03));
});

rules('strict parts refuse a second program of a unit between erases; erase re-arms it', () => {
  const f = new SimFlash(geometry);
  f.program(32, new Uint8Array(16).fill(0xf0));
  assert.is(code(() => f.program(32, new Uint8Array(16).fill(0x00))), 'reprogram');
  f.erase(0);
  f.program(32, new Uint8Array(16).fill(0x00));
});

rules('misaligned and out-of-range operations are refused', () => {
  const f = new SimFlash(geometry);
  assert.is(code(() => f.program(8, new Uint8Array(16))), 'misaligned');
  assert.is(code(() => f.program(0, new Uint8Array(10))), 'misaligned');
  assert.is(code(() => f.read(geometry.size - 4, new Uint8Array(8))), 'out-of-range');
  assert.is(code(() => f.erase(16)), 'out-of-range');
  assert.throws(() => new SimFlash({ ...geometry, programUnit: 24 }), /power of two/);
});

const counting = suite('simulated flash: counters and time model');

counting('every operation is counted, per sector erase counts included', () => {
  const f = new SimFlash(geometry);
  f.read(0, new Uint8Array(100));
  f.program(0, new Uint8Array(32));
  f.erase(3);
  f.erase(3);
  f.erase(5);
  assert.equal(
    { reads: f.stats.reads, bytesRead: f.stats.bytesRead, programs: f.stats.programs, bytesProgrammed: f.stats.bytesProgrammed, erases: f.stats.erases },
    { reads: 1, bytesRead: 100, programs: 1, bytesProgrammed: 32, erases: 3 },
  );
  const wear = f.wear();
  assert.is(wear.counts[3], 2);
  assert.is(wear.counts[5], 1);
  assert.is(wear.max, 2);
});

counting('time follows the datasheet model: page programs, sector erases, read bandwidth', () => {
  const f = new SimFlash({ ...geometry, programUnit: 256 });
  f.program(0, new Uint8Array(256)); // one whole page
  assert.is(f.stats.timeUs, DEFAULT_TIMING.programSetupUs + DEFAULT_TIMING.pageProgramUs);
  f.resetStats();
  f.erase(1);
  assert.is(f.stats.timeUs, 45_000);
  f.resetStats();
  f.read(0, new Uint8Array(50_000));
  assert.is(f.stats.timeUs, DEFAULT_TIMING.readSetupUs + 1000); // 50 kB at 50 MB/s = 1 ms
  const slow = new SimFlash({ ...geometry, timing: { sectorEraseUs: 300_000 } });
  slow.erase(0);
  assert.is(slow.stats.timeUs, 300_000, 'the model is configurable');
});

const faults = suite('simulated flash: fault injection');

faults('a clean power cut stops the operation it hits and every later one until power returns', () => {
  const f = new SimFlash(geometry);
  f.armPowerCut({ atOp: 1, effect: 'clean' });
  f.program(0, new Uint8Array(16).fill(0x11)); // op 0 completes
  assert.is(code(() => f.program(16, new Uint8Array(16).fill(0x22))), 'power-loss');
  assert.ok(read((f.powerOn(), f), 16, 16).every((b) => b === 0xff), 'the cut program did nothing');
  assert.ok(read(f, 0, 16).every((b) => b === 0x11));
  f.armPowerCut({ atOp: f.opCount, effect: 'clean' });
  assert.is(code(() => f.erase(0)), 'power-loss');
  assert.is(code(() => f.read(0, new Uint8Array(1))), 'power-loss', 'no power, no reads');
  f.powerOn();
  assert.ok(read(f, 0, 16).every((b) => b === 0x11), 'the cut erase did nothing');
});

faults('a torn program: earlier pages done, one page with some but not all of its bits, later pages untouched', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const f = new SimFlash({ ...geometry, programUnit: 16, seed });
    const data = new Uint8Array(1024).fill(0x00); // four 256-byte pages, every bit to clear
    f.armPowerCut({ atOp: 0, effect: 'torn' });
    assert.is(code(() => f.program(0, data)), 'power-loss');
    f.powerOn();
    const after = read(f, 0, 1024);
    const pageState = [0, 1, 2, 3].map((p) => {
      const page = after.subarray(p * 256, (p + 1) * 256);
      if (page.every((b) => b === 0x00)) return 'done';
      if (page.every((b) => b === 0xff)) return 'none';
      return 'partial';
    });
    const partial = pageState.indexOf('partial');
    assert.ok(partial >= 0, `seed ${seed}: one page is torn (${pageState})`);
    assert.ok(pageState.slice(0, partial).every((s) => s === 'done'), `seed ${seed}: pages before are done`);
    assert.ok(pageState.slice(partial + 1).every((s) => s === 'none'), `seed ${seed}: pages after are untouched`);
  }
});

faults('a torn erase leaves the sector neither as it was nor all 0xFF', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const f = new SimFlash({ ...geometry, seed });
    const old = new Uint8Array(4096).fill(0x00);
    f.program(4096, old);
    f.armPowerCut({ atOp: f.opCount, effect: 'torn' });
    assert.is(code(() => f.erase(1)), 'power-loss');
    f.powerOn();
    const after = read(f, 4096, 4096);
    assert.not.ok(after.every((b) => b === 0xff), `seed ${seed}: not erased`);
    assert.not.ok(after.every((b) => b === 0x00), `seed ${seed}: not the old content`);
  }
});

faults('a cut counted among programs only (or erases only) hits the Nth of that kind', () => {
  const f = new SimFlash(geometry);
  f.armPowerCut({ atOp: 1, effect: 'clean', kind: 'erase' });
  f.erase(0);
  f.program(0, new Uint8Array(16));
  f.program(16, new Uint8Array(16));
  assert.is(code(() => f.erase(1)), 'power-loss');
});

faults('read bit flips change what is returned, never what is stored, at about the set rate', () => {
  const f = new SimFlash({ ...geometry, seed: 3 });
  f.program(0, new Uint8Array(4096).fill(0x00));
  f.setReadBitFlipRate(1e-3);
  let flipped = 0;
  for (let i = 0; i < 20; i++) for (const b of read(f, 0, 4096)) for (let k = 0; k < 8; k++) if (b & (1 << k)) flipped++;
  const bits = 20 * 4096 * 8;
  assert.ok(flipped > bits * 0.5e-3 && flipped < bits * 2e-3, `${flipped} flips in ${bits} bits`);
  assert.is(f.stats.bitFlips, flipped);
  f.setReadBitFlipRate(0);
  assert.ok(read(f, 0, 4096).every((b) => b === 0x00), 'stored bytes unchanged');
});

faults('a sector wears out after its endurance: the erase fails and reports it', () => {
  const f = new SimFlash({ ...geometry, endurance: 3 });
  for (let i = 0; i < 3; i++) f.erase(2);
  assert.is(code(() => f.erase(2)), 'worn');
  f.erase(3); // others still fine
  f.setSectorEndurance(4, 0);
  assert.is(code(() => f.erase(4)), 'worn');
});

faults('clone and snapshot are independent copies', () => {
  const f = new SimFlash(geometry);
  f.program(0, new Uint8Array(16).fill(1));
  const c = f.clone();
  c.erase(0);
  assert.is(read(f, 0, 1)[0], 1);
  const snap = f.snapshot();
  f.erase(0);
  assert.is(snap[0], 1);
});

faults('an interrupted program changes no bit, yet its units count as programmed (strict parts refuse a second program)', () => {
  const f = new SimFlash(geometry);
  f.armPowerCut({ atOp: 0, effect: 'interrupted' });
  assert.is(code(() => f.program(4096, new Uint8Array(64).fill(0x12))), 'power-loss');
  f.powerOn();
  assert.ok(read(f, 4096, 64).every((b) => b === 0xff), 'reads erased');
  assert.is(code(() => f.program(4096 + 32, new Uint8Array(16))), 'reprogram', 'a unit of the interrupted write');
  f.program(4096 + 64, new Uint8Array(16)); // the next unit was not part of it
  f.erase(1);
  f.program(4096, new Uint8Array(16)); // erase re-arms
});

faults('a torn erase can leave random zero bits: bytes that are neither 0xFF nor the old content', () => {
  let foreign = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const f = new SimFlash({ ...geometry, seed });
    f.program(0, new Uint8Array(4096).fill(0xf0)); // old content: low nibble set
    f.armPowerCut({ atOp: f.opCount, effect: 'torn' });
    assert.is(code(() => f.erase(0)), 'power-loss');
    f.powerOn();
    const s = read(f, 0, 4096);
    foreign += s.filter((b) => b !== 0xff && b !== 0xf0).length;
    assert.is(code(() => f.program(0, new Uint8Array(16))), 'reprogram', 'indeterminate cells are not programmable');
  }
  assert.ok(foreign > 0, `${foreign} bytes with new zero bits`);
});

faults('a weak erase reads erased at first, then some bits read 0 on later reads, until the next erase', () => {
  const f = new SimFlash({ ...geometry, seed: 5 });
  f.program(4096, new Uint8Array(4096));
  f.armPowerCut({ atOp: f.opCount, effect: 'weak' });
  assert.is(code(() => f.erase(1)), 'power-loss');
  f.powerOn();
  assert.ok(f.weakBits >= 1 && f.weakBits <= 8, `${f.weakBits} weak bits`);
  let differing = 0;
  let erasedReads = 0;
  for (let i = 0; i < 20; i++) {
    const s = read(f, 4096, 4096);
    const zeros = s.filter((b) => b !== 0xff).length;
    if (zeros > 0) differing++;
    else erasedReads++;
    assert.ok(zeros <= 8, 'only weak bits differ');
  }
  assert.ok(differing > 0 && erasedReads > 0, `${erasedReads} reads erased, ${differing} with weak bits read 0`);
  f.erase(1);
  assert.is(f.weakBits, 0);
  assert.ok(read(f, 4096, 4096).every((b) => b === 0xff));
});

const file = suite('simulated flash: file-backed partition');

file('a file-backed partition keeps its bytes and rules across reopen', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-flash-'));
  try {
    const path = join(dir, 'runtime.flash');
    const a = FileFlash.open(path, geometry);
    a.program(4096, new Uint8Array(16).fill(0x42));
    a.close();
    const b = FileFlash.open(path, geometry);
    assert.ok(read(b, 4096, 16).every((x) => x === 0x42));
    assert.is(code(() => b.program(4096, new Uint8Array(16).fill(0x40))), 'reprogram', 'programmed units are known after reopen');
    b.erase(1);
    b.close();
    const c = FileFlash.open(path, geometry);
    assert.ok(read(c, 4096, 16).every((x) => x === 0xff));
    c.close();
    assert.throws(() => FileFlash.open(path, { ...geometry, size: geometry.size * 2 }), /wrong file or geometry/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

rules.run();
counting.run();
faults.run();
file.run();
