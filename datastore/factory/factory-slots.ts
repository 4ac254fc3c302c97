// The factory tier lives in one of two slots (A/B). The slot whose commit
// record has the highest generation, and whose image verifies, is served; a
// new image is always staged into the other slot, so the served image stays
// intact until the new one is complete, verified and committed. Slot 0 may
// also hold an image flashed on the line without a record (generation 0).

import type { Crypto } from '../../hal/crypto.ts';
import type { FlashPartition } from '../../hal/flash.ts';
import type { Otp } from '../../hal/otp.ts';
import { FactoryPartition, FactoryVerificationError } from './factory-partition.ts';
import { decodeSlotRecord, SLOT_RECORD_SIZE, slotRecordOffset, type SlotRecord } from './slot-record.ts';

export interface SlotState {
  index: number;
  /** null: no commit record (erased, torn, or flashed on the line). */
  record: SlotRecord | null;
}

export interface MountedSlots {
  partition: FactoryPartition | null;
  /** The slot served, or null when none verifies. */
  active: number | null;
  generation: number;
  slots: SlotState[];
  /** Why nothing is served (the best candidate's failure), when partition is null. */
  error: FactoryVerificationError | null;
}

export function readSlotRecord(flash: FlashPartition): SlotRecord | null {
  const b = new Uint8Array(SLOT_RECORD_SIZE);
  flash.read(slotRecordOffset(flash), b);
  return decodeSlotRecord(b);
}

export function mountFactorySlots(slots: FlashPartition[], crypto: Crypto, otp: Otp): MountedSlots {
  const states: SlotState[] = slots.map((flash, index) => ({ index, record: readSlotRecord(flash) }));
  const candidates = states
    .filter((s) => s.record !== null || s.index === 0)
    .map((s) => ({ index: s.index, generation: s.record ? s.record.generation : 0, record: s.record }))
    .sort((a, b) => b.generation - a.generation || a.index - b.index);
  let error: FactoryVerificationError | null = null;
  for (const c of candidates) {
    try {
      // Mount hashes the image and checks the signature: the record only says which slot is current.
      const partition = FactoryPartition.mount(slots[c.index], crypto, otp);
      return { partition, active: c.index, generation: c.generation, slots: states, error: null };
    } catch (e) {
      if (!(e instanceof FactoryVerificationError)) throw e;
      if (!error) error = e;
    }
  }
  return { partition: null, active: null, generation: 0, slots: states, error: error ?? new FactoryVerificationError('blank', 'no factory slot holds an image') };
}
