// The factory tier lives in one of two slots (A/B). The slot whose commit
// record has the highest generation, and whose image verifies, is served; a
// new image is always staged into the other slot, so the served image stays
// intact until the new one is complete, verified and committed. Slot 0 may
// also hold an image flashed on the line without a record (generation 0).
// An on-approval record boots only when tested (one trial boot: a reset
// without confirm reverts) or confirmed, as MCUboot's test/confirm
// (FORMAT.md §7).

import type { Crypto } from '../../hal/crypto.ts';
import type { FlashPartition } from '../../hal/flash.ts';
import type { Otp } from '../../hal/otp.ts';
import { FactoryPartition, FactoryVerificationError } from './factory-partition.ts';
import { decodeMark, decodeSlotRecord, encodeMark, MARK_BOOTED, MARK_CONFIRM, MARK_TEST, markOffset, MODE_PERMANENT, SLOT_RECORD_SIZE, slotRecordOffset, type SlotRecord } from './slot-record.ts';

/**
 * What a slot's record and marks say:
 * - `permanent`: committed for good (a permanent record, or confirmed);
 * - `staged`: verified and recorded, but asked for by nobody (never booted);
 * - `test`: boots once at the next restart;
 * - `trial`: its one trial boot began; without a confirm it is passed over from the next boot on;
 * - `none`: no record.
 */
export type SlotApproval = 'permanent' | 'staged' | 'test' | 'trial' | 'none';

export interface SlotState {
  index: number;
  /** null: no commit record (erased, torn, or flashed on the line). */
  record: SlotRecord | null;
  approval: SlotApproval;
}

export interface MountedSlots {
  partition: FactoryPartition | null;
  /** The slot served, or null when none verifies. */
  active: number | null;
  generation: number;
  /** The served image is on its trial boot: a restart without a confirm reverts it. */
  trial: boolean;
  slots: SlotState[];
  /** Why nothing is served (the best candidate's failure), when partition is null. */
  error: FactoryVerificationError | null;
}

export function readSlotRecord(flash: FlashPartition): SlotRecord | null {
  const b = new Uint8Array(SLOT_RECORD_SIZE);
  flash.read(slotRecordOffset(flash), b);
  return decodeSlotRecord(b);
}

function readMark(flash: FlashPartition, mark: number): 'set' | 'erased' | 'torn' {
  const b = new Uint8Array(8);
  flash.read(markOffset(flash, mark), b);
  return decodeMark(b, mark);
}

export function slotState(flash: FlashPartition, index: number): SlotState {
  const record = readSlotRecord(flash);
  if (!record) return { index, record, approval: 'none' };
  if (record.mode === MODE_PERMANENT) return { index, record, approval: 'permanent' };
  // Only an exact confirm counts (a torn one is no confirm); any trace of a booted mark counts (the trial was spent).
  if (readMark(flash, MARK_CONFIRM) === 'set') return { index, record, approval: 'permanent' };
  const test = readMark(flash, MARK_TEST) === 'set';
  if (!test) return { index, record, approval: 'staged' };
  return { index, record, approval: readMark(flash, MARK_BOOTED) === 'erased' ? 'test' : 'trial' };
}

/** Program one mark into a slot's erased record sector. */
export function programMark(flash: FlashPartition, mark: number): void {
  flash.program(markOffset(flash, mark), encodeMark(mark, flash.programUnit));
}

/**
 * Pick the slot to serve, as the boot does: candidates by generation, the
 * first that verifies wins. A `test` slot chosen here gets its booted mark
 * before it is served (its one trial); a `trial` slot (trial spent, never
 * confirmed) is passed over: that is the revert.
 */
export function mountFactorySlots(slots: FlashPartition[], crypto: Crypto, otp: Otp): MountedSlots {
  const states: SlotState[] = slots.map((flash, index) => slotState(flash, index));
  const candidates = states
    .filter((s) => s.approval === 'permanent' || s.approval === 'test' || (s.approval === 'none' && s.index === 0))
    .map((s) => ({ index: s.index, generation: s.record ? s.record.generation : 0, state: s }))
    .sort((a, b) => b.generation - a.generation || a.index - b.index);
  let error: FactoryVerificationError | null = null;
  for (const c of candidates) {
    try {
      // Mount hashes the image and checks the signature: the record only says which slot is current.
      const partition = FactoryPartition.mount(slots[c.index], crypto, otp);
      const trial = c.state.approval === 'test';
      if (trial) {
        // Spend the trial before serving: a cut from here on reverts at the next boot.
        programMark(slots[c.index], MARK_BOOTED);
        c.state.approval = 'trial';
      }
      return { partition, active: c.index, generation: c.generation, trial, slots: states, error: null };
    } catch (e) {
      if (!(e instanceof FactoryVerificationError)) throw e;
      if (!error) error = e;
    }
  }
  return { partition: null, active: null, generation: 0, trial: false, slots: states, error: error ?? new FactoryVerificationError('blank', 'no factory slot holds an image') };
}
