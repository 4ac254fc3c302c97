// SMP (Simple Management Protocol, version 2) packets: an 8-byte header and
// a CBOR map payload. Plain CBOR only (no cbor-x record tags), so any SMP
// client decodes every reply. Spec: FORMAT.md beside this file.

import { plainCbor } from '../../datastore/value-codec.ts';

/** The version field of an SMP v2 header (bits 3-4 of the op byte). */
export const SMP_V2 = 1;

export interface SmpHeader {
  op: number;
  version: number;
  flags: number;
  length: number;
  group: number;
  sequence: number;
  id: number;
}

export const HEADER_SIZE = 8;

const cbor = plainCbor;

export function encodePacket(h: Omit<SmpHeader, 'length'>, payload: Record<string, unknown>): Uint8Array {
  const body = cbor.encode(payload) as Uint8Array;
  if (body.length > 0xffff) throw new SmpPacketError(`the payload is ${body.length} bytes; an SMP packet carries at most 65535`);
  const out = new Uint8Array(HEADER_SIZE + body.length);
  out[0] = ((h.version & 3) << 3) | (h.op & 7);
  out[1] = h.flags & 0xff;
  out[2] = (body.length >> 8) & 0xff;
  out[3] = body.length & 0xff;
  out[4] = (h.group >> 8) & 0xff;
  out[5] = h.group & 0xff;
  out[6] = h.sequence & 0xff;
  out[7] = h.id & 0xff;
  out.set(body, HEADER_SIZE);
  return out;
}

export class SmpPacketError extends Error {
  readonly code = 'smp-packet';
}

export function decodePacket(bytes: Uint8Array): { header: SmpHeader; payload: Record<string, unknown> } {
  if (bytes.length < HEADER_SIZE) throw new SmpPacketError(`an SMP packet needs 8 header bytes, got ${bytes.length}`);
  const header: SmpHeader = {
    op: bytes[0] & 7,
    version: (bytes[0] >> 3) & 3,
    flags: bytes[1],
    length: (bytes[2] << 8) | bytes[3],
    group: (bytes[4] << 8) | bytes[5],
    sequence: bytes[6],
    id: bytes[7],
  };
  if (HEADER_SIZE + header.length !== bytes.length) throw new SmpPacketError(`the header says ${header.length} payload bytes, the packet has ${bytes.length - HEADER_SIZE}`);
  let payload: unknown = {};
  if (header.length > 0) {
    try {
      payload = cbor.decode(bytes.subarray(HEADER_SIZE));
    } catch (e) {
      throw new SmpPacketError(`the payload is not CBOR (${(e as Error).message})`);
    }
  }
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new SmpPacketError('the payload is not a CBOR map');
  return { header, payload: payload as Record<string, unknown> };
}
