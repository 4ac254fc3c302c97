// The dock's SMP server: decodes request packets and answers them. Groups so
// far: OS (0: echo, info) and settings (3: read/write/delete on the runtime
// KvStore). Errors follow SMP v2: { err: { group, rc } }.

import { decodePacket, encodePacket, SMP_V2, SmpPacketError, type SmpHeader } from './smp-packet.ts';
import { KvStore } from '../../datastore/kv-store.ts';
import { decodeValue, encodeValue } from '../../datastore/value-codec.ts';
import type { TierSet } from '../../datastore/tiers/tier-set.ts';
import { APPLICATION_DATA, EPHEMERAL_DATA } from '../../datastore/tiers/tier-set.ts';
import { CodeStore } from '../../datastore/code-store.ts';
import { utf8Decode } from '../../datastore/runtime/key-text.ts';

export const GROUP_OS = 0;
export const GROUP_SETTINGS = 3;
export const GROUP_FS = 8;
/** The datastore's own group (user groups start at 64). */
export const GROUP_DOCK = 64;
export const DOCK_RESTART_APP = 0;

/** Code pushed for development is small; larger uploads go through the bulk lane (to come). */
const MAX_CODE_UPLOAD = 256 * 1024;

/** SMP v2 group return codes used here (0 = ok). */
export const RC = { OK: 0, UNKNOWN: 1, NO_ENTRY: 5, INVALID: 3, NOT_SUPPORTED: 8, READ_ONLY: 7, NO_MEMORY: 2 } as const;

export interface SmpServerContext {
  tiers: TierSet;
  dockId: string;
  firmwareVersion: string;
  /** Start the app again (after code was pushed): the firmware's app loader. */
  restartApp?: () => string;
}

export class SmpServer {
  private upload: { name: string; total: number; received: number; chunks: Uint8Array[] } | null = null;

  constructor(private readonly ctx: SmpServerContext) {}

  /** Answer one request packet; returns the response packet (or null for a response packet we received). */
  handle(packet: Uint8Array): Uint8Array | null {
    let request;
    try {
      request = decodePacket(packet);
    } catch (e) {
      if (e instanceof SmpPacketError && packet.length >= 8) {
        return encodePacket({ op: (packet[0] & 7) | 1, version: SMP_V2, flags: 0, group: (packet[4] << 8) | packet[5], sequence: packet[6], id: packet[7] }, { err: { group: (packet[4] << 8) | packet[5], rc: RC.INVALID } });
      }
      return null;
    }
    const { header, payload } = request;
    if (header.op === 1 || header.op === 3) return null; // a response, not a request
    const reply = (body: Record<string, unknown>) => encodePacket({ op: header.op + 1, version: header.version, flags: 0, group: header.group, sequence: header.sequence, id: header.id }, body);
    const err = (rc: number) => reply({ err: { group: header.group, rc } });
    try {
      if (header.group === GROUP_OS) return this.os(header, payload, reply, err);
      if (header.group === GROUP_SETTINGS) return this.settings(header, payload, reply, err);
      if (header.group === GROUP_FS) return this.fs(header, payload, reply, err);
      if (header.group === GROUP_DOCK) return this.dock(header, reply, err);
      return err(RC.NOT_SUPPORTED);
    } catch {
      return err(RC.UNKNOWN);
    }
  }

  private os(h: SmpHeader, p: Record<string, unknown>, reply: (b: Record<string, unknown>) => Uint8Array, err: (rc: number) => Uint8Array): Uint8Array {
    if (h.id === 0) {
      if (typeof p.d !== 'string') return err(RC.INVALID);
      return reply({ r: p.d });
    }
    if (h.id === 7 && h.op === 0) return reply({ output: `DL-7450 dock ${this.ctx.dockId} firmware ${this.ctx.firmwareVersion}` });
    return err(RC.NOT_SUPPORTED);
  }

  /**
   * File-system group, upload (id 0, write): `{name, off, data, len (first chunk)}` → `{off}`.
   * `/code/app.js` lands in the ephemeral tier: code pushed for development runs from
   * there, and a dock restart returns to the stored app.
   */
  private fs(h: SmpHeader, p: Record<string, unknown>, reply: (b: Record<string, unknown>) => Uint8Array, err: (rc: number) => Uint8Array): Uint8Array {
    if (h.id !== 0 || h.op !== 2) return err(RC.NOT_SUPPORTED);
    const name = p.name;
    const off = p.off;
    const data = p.data;
    if (typeof name !== 'string' || typeof off !== 'number' || !(data instanceof Uint8Array)) return err(RC.INVALID);
    if (name !== '/code/app.js') return err(RC.NOT_SUPPORTED);
    if (off === 0) {
      const len = p.len;
      if (typeof len !== 'number' || len <= 0) return err(RC.INVALID);
      if (len > MAX_CODE_UPLOAD) return err(RC.NO_MEMORY);
      this.upload = { name, total: len, received: 0, chunks: [] };
    }
    const up = this.upload;
    if (!up || up.name !== name) return err(RC.INVALID);
    // A repeated chunk (the host retried after a lost answer) is acknowledged, not appended twice.
    if (off < up.received) return reply({ off: up.received });
    if (off > up.received || up.received + data.length > up.total) return err(RC.INVALID);
    up.chunks.push(data.slice());
    up.received += data.length;
    if (up.received === up.total) {
      const all = new Uint8Array(up.total);
      let at = 0;
      for (const c of up.chunks) {
        all.set(c, at);
        at += c.length;
      }
      this.upload = null;
      new CodeStore({ tiers: this.ctx.tiers, tier: EPHEMERAL_DATA }).put(utf8Decode(all));
    }
    return reply({ off: up.received });
  }

  private dock(h: SmpHeader, reply: (b: Record<string, unknown>) => Uint8Array, err: (rc: number) => Uint8Array): Uint8Array {
    if (h.id === DOCK_RESTART_APP && h.op === 2) {
      if (!this.ctx.restartApp) return err(RC.NOT_SUPPORTED);
      return reply({ app: this.ctx.restartApp() });
    }
    return err(RC.NOT_SUPPORTED);
  }

  private settings(h: SmpHeader, p: Record<string, unknown>, reply: (b: Record<string, unknown>) => Uint8Array, err: (rc: number) => Uint8Array): Uint8Array {
    const name = p.name;
    if (typeof name !== 'string' || name === '') return err(RC.INVALID);
    const kv = new KvStore({ tiers: this.ctx.tiers });
    if (h.id === 0 && h.op === 0) {
      const found = this.ctx.tiers.fetch('kv', name);
      if (!found) return err(RC.NO_ENTRY);
      const value = decodeValue(found.ref.encoding, found.bytes);
      return reply({ val: value instanceof Uint8Array ? value : encodeValue(value).bytes });
    }
    if (h.id === 0 && h.op === 2) {
      if (!(p.val instanceof Uint8Array)) return err(RC.INVALID);
      // Settings values are bytes on the wire; UTF-8 text is stored as a string.
      const text = utf8OrNull(p.val);
      kv.set(name, text === null ? p.val : text, { tier: APPLICATION_DATA, durability: 'immediate' });
      return reply({});
    }
    if (h.id === 1 && h.op === 2) return kv.delete(name, { tier: APPLICATION_DATA, durability: 'immediate' }) ? reply({}) : err(RC.NO_ENTRY);
    return err(RC.NOT_SUPPORTED);
  }
}

function utf8OrNull(b: Uint8Array): string | null {
  let s = '';
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c < 0x20 || c > 0x7e) return null; // printable ASCII is taken as text; anything else stays bytes
    s += String.fromCharCode(c);
  }
  return s;
}

