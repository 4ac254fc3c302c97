// The dock's SMP server: decodes request packets and answers them. Groups:
// OS (echo, reset, info), image (factory image upload and state), settings
// (the runtime KvStore), file system (pushed code) and the dock's user group
// 64 (inspect, bulk lane, factory commit, lock, factory reset, events, key
// list). Errors follow SMP v2, { err: { group, rc } }, with the reason in `rsn`.

import { decodePacket, encodePacket, SMP_V2, SmpPacketError, type SmpHeader } from './smp-packet.ts';
import { KvStore } from '../../datastore/kv-store.ts';
import { decodeValue, encodeValue } from '../../datastore/value-codec.ts';
import type { TierSet } from '../../datastore/tiers/tier-set.ts';
import { APPLICATION_DATA, EPHEMERAL_DATA } from '../../datastore/tiers/tier-set.ts';
import { CodeStore } from '../../datastore/code-store.ts';
import { utf8Decode, utf8Encode } from '../../datastore/runtime/key-text.ts';
import { ImageStore } from '../../datastore/image-store.ts';
import { ImageInvalidError, sniffImageType } from '../../images/image-check.ts';
import { NONE } from '../../images/image-type.ts';
import { FactoryWriteError, type FactoryWriteProblem } from '../../datastore/factory/factory-staging.ts';
import type { FactoryService } from '../factory-service.ts';
import { PerDockError } from '../../datastore/factory/per-dock-section.ts';
import type { EventLog } from '../event-log.ts';

export const GROUP_OS = 0;
export const GROUP_IMAGE = 1;
export const GROUP_SETTINGS = 3;
export const GROUP_FS = 8;
/** The datastore's own group (user groups start at 64). */
export const GROUP_DOCK = 64;
/** Command ids in GROUP_DOCK (firmware/smp/FORMAT.md). */
/** Most keys in one key-list answer. */
const KV_PAGE_MAX = 250;

export const DOCK = { RESTART_APP: 0, INSPECT: 1, BULK_OPEN: 2, FACTORY_COMMIT: 3, LOCK: 4, FACTORY_RESET: 5, EVENTS: 6, KV_LIST: 7, FACTORY_STATUS: 8, IDENTITY: 9, PER_DOCK_CHECK: 10 } as const;
export const DOCK_RESTART_APP = DOCK.RESTART_APP;
export const OS_RESET = 5;
export const OS_PARAMS = 6;
export const OS_INFO = 7;
/** The largest SMP packet the dock assembles (a 2 KiB upload chunk plus its CBOR). */
export const SMP_BUFFER_BYTES = 4096;
export const IMAGE_STATE = 0;
export const IMAGE_UPLOAD = 1;

/** Code pushed for development is small; factory images go through the image group or the bulk lane. */
const MAX_CODE_UPLOAD = 256 * 1024;
/** An uploaded image is assembled in the heap before it is checked and stored: bounded well inside 512 KiB. */
const MAX_IMAGE_UPLOAD = 192 * 1024;
/** Bytes per download answer: about 2.8 KB of console frames. */
const DOWNLOAD_CHUNK = 2048;

/** SMP return codes (Zephyr's MGMT_ERR_* numbering, 0 = ok). */
export const RC = { OK: 0, UNKNOWN: 1, NO_MEMORY: 2, INVALID: 3, TIMEOUT: 4, NO_ENTRY: 5, BAD_STATE: 6, MSG_SIZE: 7, NOT_SUPPORTED: 8, CORRUPT: 9, BUSY: 10, ACCESS_DENIED: 11 } as const;

/** A refusal with its reason: `rsn` travels beside `err` (generic clients ignore it; ours prints it). */
class Refusal extends Error {
  constructor(
    readonly rc: number,
    message: string,
  ) {
    super(message);
  }
}

const FACTORY_RC: Record<FactoryWriteProblem, number> = {
  locked: RC.ACCESS_DENIED,
  'one-slot': RC.NOT_SUPPORTED,
  'too-large': RC.NO_MEMORY,
  'out-of-order': RC.INVALID,
  incomplete: RC.BAD_STATE,
  mismatch: RC.CORRUPT,
  untrusted: RC.CORRUPT,
  'not-verified': RC.BAD_STATE,
};

export interface BulkOffer {
  session: number;
  frameSize: number;
  window: number;
}

export interface SmpServerContext {
  tiers: TierSet;
  dockId: string;
  firmwareVersion: string;
  /** Start the app again (after code was pushed): the firmware's app loader. */
  restartApp?: () => string;
  /** Factory writes over the link; absent on a dock with one factory slot. */
  factory?: FactoryService | null;
  events?: EventLog;
  /** Restart the dock once the answer has gone out. */
  requestReset?: () => void;
  /** Open a bulk-lane session that hands `total` bytes, in order, to `sink`; null when the line has no bulk lane. */
  openBulk?: (total: number, sink: (offset: number, bytes: Uint8Array) => void, frameSize: number, window: number) => BulkOffer | null;
  /** What `inspect` reports (tiers, usage, wear). */
  inspect?: () => Record<string, unknown>;
  /** Who this dock is, for provisioning: id, per-dock public key, served image, per-dock section. */
  identity?: () => Record<string, unknown>;
  /** Open this dock's per-dock secrets and report their digest (never the secrets); null when not provisioned. */
  perDockCheck?: () => Record<string, unknown> | null;
}

type Body = Record<string, unknown>;

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
    const reply = (body: Body) => encodePacket({ op: header.op + 1, version: header.version, flags: 0, group: header.group, sequence: header.sequence, id: header.id }, body);
    const err = (rc: number, reason?: string) => reply(reason ? { err: { group: header.group, rc }, rsn: reason } : { err: { group: header.group, rc } });
    try {
      const body = this.dispatch(header, payload);
      return body === null ? err(RC.NOT_SUPPORTED) : reply(body);
    } catch (e) {
      if (e instanceof Refusal) return err(e.rc, e.message);
      if (e instanceof FactoryWriteError) return err(FACTORY_RC[e.problem], e.message);
      if (e instanceof PerDockError) return err(RC.CORRUPT, e.message);
      return err(RC.UNKNOWN, e instanceof Error ? e.message : String(e));
    }
  }

  /** The answer's body, or null for a command this dock does not serve. */
  private dispatch(h: SmpHeader, p: Body): Body | null {
    const write = h.op === 2;
    switch (h.group) {
      case GROUP_OS:
        if (h.id === 0 && write) {
          if (typeof p.d !== 'string') throw new Refusal(RC.INVALID, 'echo needs a text field d');
          return { r: p.d };
        }
        if (h.id === OS_RESET && write) {
          if (!this.ctx.requestReset) return null;
          this.ctx.requestReset();
          return {};
        }
        if (h.id === OS_INFO && !write) return { output: `DL-7450 dock ${this.ctx.dockId} firmware ${this.ctx.firmwareVersion}` };
        // MCUmgr parameters: clients size their upload chunks from buf_size.
        if (h.id === OS_PARAMS && !write) return { buf_size: SMP_BUFFER_BYTES, buf_count: 1 };
        return null;
      case GROUP_IMAGE:
        return this.image(h, p);
      case GROUP_SETTINGS:
        return this.settings(h, p);
      case GROUP_FS:
        return this.fs(h, p);
      case GROUP_DOCK:
        return this.dock(h, p);
      default:
        return null;
    }
  }

  private factory(): FactoryService {
    if (!this.ctx.factory) throw new Refusal(RC.NOT_SUPPORTED, 'this dock cannot take a factory image over the link (one factory slot)');
    return this.ctx.factory;
  }

  /**
   * Image group, mapped onto the factory slots: upload (id 1) stages an
   * image, `{off, data, len and sha on the first chunk}` → `{off}`; a first
   * chunk naming an unfinished upload with the same len and sha resumes it
   * (the answer's off says where). State (id 0) read lists the slots; state
   * write `{hash, confirm: true}` verifies and commits the staged image.
   */
  private image(h: SmpHeader, p: Body): Body | null {
    if (h.id === IMAGE_UPLOAD && h.op === 2) {
      const f = this.factory();
      const off = p.off;
      const data = p.data;
      if (typeof off !== 'number' || !(data instanceof Uint8Array)) throw new Refusal(RC.INVALID, 'upload needs off (number) and data (bytes)');
      if (off === 0) {
        if (typeof p.len !== 'number' || !(p.sha instanceof Uint8Array)) throw new Refusal(RC.INVALID, 'the first upload chunk needs len and sha (the SHA-256 of the whole image)');
        const resumeAt = f.begin(p.len, p.sha);
        if (resumeAt > 0) return { off: resumeAt };
      } else if (off < f.received) {
        return { off: f.received }; // a retried chunk: acknowledged, not written twice
      }
      return { off: f.write(off, data) };
    }
    if (h.id === IMAGE_STATE && h.op === 0) {
      const st = this.factory().status();
      return {
        images: st.slots.map((s) => ({ slot: s.slot, version: String(s.generation ?? 0), ...(s.sha256 ? { hash: s.sha256 } : {}), active: s.slot === st.active, confirmed: s.slot === st.active, pending: st.pendingRestart && s.generation !== null && s.generation > st.generation })),
      };
    }
    if (h.id === IMAGE_STATE && h.op === 2) {
      if (!(p.hash instanceof Uint8Array)) throw new Refusal(RC.INVALID, 'image state write needs hash (the SHA-256 of the staged image)');
      this.commitFactory(p.hash);
      return this.image({ ...h, op: 0 }, {});
    }
    return null;
  }

  private commitFactory(sha: Uint8Array): Body {
    const done = this.factory().commit(sha);
    this.ctx.events?.add('factory-committed', `slot ${done.slot} generation ${done.generation}`);
    return { slot: done.slot, generation: done.generation, sha: done.sha256 };
  }

  /**
   * File-system group (id 0). Upload (write) `{name, off, data, len on the
   * first chunk}` → `{off}`: `/code/app.js` lands in the ephemeral tier (pushed
   * code runs from there; a dock restart returns to the stored app);
   * `/images/<tag>` is checked (PNG, BMP or JPEG, told by its bytes) and stored
   * in the runtime tier. A repeated chunk is acknowledged, not appended twice.
   * Download (read) `{name, off}` → `{off, data, len on the first answer}`
   * streams `/images/<tag>` through a token (never whole in the heap) or the
   * app's code.
   */
  private fs(h: SmpHeader, p: Body): Body | null {
    if (h.id !== 0) return null;
    const name = p.name;
    const off = p.off;
    if (typeof name !== 'string' || typeof off !== 'number' || off < 0) throw new Refusal(RC.INVALID, 'the file system group needs name and off');
    if (h.op === 0) return this.download(name, off);
    const data = p.data;
    if (!(data instanceof Uint8Array)) throw new Refusal(RC.INVALID, 'upload needs data (bytes)');
    const isCode = name === '/code/app.js';
    const tag = name.indexOf('/images/') === 0 ? name.slice(8) : '';
    if (!isCode && !tag) throw new Refusal(RC.NOT_SUPPORTED, `${name}: upload /code/app.js or /images/<tag> (factory images go through the image group)`);
    if (off === 0) {
      const len = p.len;
      const limit = isCode ? MAX_CODE_UPLOAD : MAX_IMAGE_UPLOAD;
      if (typeof len !== 'number' || len <= 0) throw new Refusal(RC.INVALID, 'the first chunk needs len');
      if (len > limit) throw new Refusal(RC.NO_MEMORY, `${name} is ${len} bytes; an upload through the file system group may be at most ${limit} (it is assembled in the dock's heap); put larger images in the factory image`);
      this.upload = { name, total: len, received: 0, chunks: [] };
    }
    const up = this.upload;
    if (!up || up.name !== name) throw new Refusal(RC.BAD_STATE, 'no upload in progress: start at off 0 with len');
    if (off < up.received) return { off: up.received };
    if (off > up.received || up.received + data.length > up.total) throw new Refusal(RC.INVALID, `expected off ${up.received}`);
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
      if (isCode) new CodeStore({ tiers: this.ctx.tiers, tier: EPHEMERAL_DATA }).put(utf8Decode(all));
      else {
        const type = sniffImageType(all);
        if (type === NONE) throw new Refusal(RC.INVALID, `${name}: the bytes are not a PNG, BMP or JPEG file (by their first bytes)`);
        try {
          new ImageStore({ tiers: this.ctx.tiers }).put(tag, all, type, { durability: 'immediate' });
        } catch (e) {
          if (e instanceof ImageInvalidError) throw new Refusal(RC.INVALID, e.message);
          throw e;
        }
      }
    }
    return { off: up.received };
  }

  private download(name: string, off: number): Body {
    if (name === '/code/app.js') {
      const code = utf8Encode(new CodeStore({ tiers: this.ctx.tiers }).get());
      if (code.length === 0) throw new Refusal(RC.NO_ENTRY, 'this dock holds no app');
      const data = code.subarray(off, off + DOWNLOAD_CHUNK);
      return off === 0 ? { off, data, len: code.length } : { off, data };
    }
    if (name.indexOf('/images/') !== 0) throw new Refusal(RC.NOT_SUPPORTED, `${name}: download /images/<tag> or /code/app.js`);
    const images = new ImageStore({ tiers: this.ctx.tiers });
    const tag = name.slice(8);
    if (!images.info(tag)) throw new Refusal(RC.NO_ENTRY, `no image tagged ${tag}`);
    const token = images.getToken(tag);
    const buffer = new Uint8Array(Math.max(0, Math.min(DOWNLOAD_CHUNK, token.size - off)));
    const n = buffer.length > 0 ? images.readToken(token, off, buffer) : 0;
    const data = buffer.subarray(0, n);
    return off === 0 ? { off, data, len: token.size } : { off, data };
  }

  private dock(h: SmpHeader, p: Body): Body | null {
    const write = h.op === 2;
    switch (h.id) {
      case DOCK.RESTART_APP:
        if (!write || !this.ctx.restartApp) return null;
        return { app: this.ctx.restartApp() };
      case DOCK.INSPECT:
        if (write || !this.ctx.inspect) return null;
        return this.ctx.inspect();
      case DOCK.BULK_OPEN: {
        if (!write) return null;
        const f = this.factory();
        if (typeof p.len !== 'number' || !(p.sha instanceof Uint8Array)) throw new Refusal(RC.INVALID, 'bulk open needs len and sha (the SHA-256 of the whole image)');
        const from = f.begin(p.len, p.sha);
        const frameSize = typeof p.frame === 'number' ? p.frame : 1024;
        const window = typeof p.window === 'number' ? p.window : 16;
        if (!this.ctx.openBulk) return null;
        const offer = this.ctx.openBulk(p.len - from, (offset, bytes) => f.write(from + offset, bytes), frameSize, window);
        if (!offer) return null; // the host falls back to the image group
        return { off: from, session: offer.session, frame: offer.frameSize, window: offer.window };
      }
      case DOCK.FACTORY_COMMIT:
        if (!write) return null;
        if (!(p.sha instanceof Uint8Array)) throw new Refusal(RC.INVALID, 'commit needs sha (the SHA-256 of the staged image)');
        return this.commitFactory(p.sha);
      case DOCK.LOCK:
        if (!write) return null;
        this.factory().lock();
        return { locked: true };
      case DOCK.FACTORY_RESET:
        if (!write) return null;
        this.ctx.tiers.factoryReset();
        return {};
      case DOCK.EVENTS: {
        if (write || !this.ctx.events) return null;
        const r = this.ctx.events.since(typeof p.since === 'number' ? p.since : 0);
        return { events: r.events.map((e) => ({ id: e.id, kind: e.kind, at: e.at, detail: e.detail })), next: r.next, missed: r.missed };
      }
      case DOCK.KV_LIST: {
        if (write) return null;
        // One page (the key list never sits whole in the engine heap); `next` is the `after` of the next page.
        const prefix = typeof p.prefix === 'string' ? p.prefix : '';
        const limit = typeof p.limit === 'number' && p.limit >= 1 ? Math.min(p.limit, KV_PAGE_MAX) : KV_PAGE_MAX;
        const keys = new KvStore({ tiers: this.ctx.tiers }).list({ prefix, after: typeof p.after === 'string' ? p.after : undefined, limit });
        return keys.length === limit ? { keys, next: keys[keys.length - 1] } : { keys };
      }
      case DOCK.FACTORY_STATUS: {
        if (write) return null;
        const st = this.factory().status();
        return { locked: st.locked, active: st.active, generation: st.generation, pendingRestart: st.pendingRestart, ...(st.staging ? { staging: st.staging } : {}) };
      }
      case DOCK.IDENTITY:
        if (write || !this.ctx.identity) return null;
        return this.ctx.identity();
      case DOCK.PER_DOCK_CHECK: {
        if (write || !this.ctx.perDockCheck) return null;
        const r = this.ctx.perDockCheck();
        if (!r) throw new Refusal(RC.NO_ENTRY, 'this dock holds no per-dock data (not provisioned)');
        return r;
      }
      default:
        return null;
    }
  }

  private settings(h: SmpHeader, p: Body): Body | null {
    const name = p.name;
    if (typeof name !== 'string' || name === '') throw new Refusal(RC.INVALID, 'settings need a name');
    const kv = new KvStore({ tiers: this.ctx.tiers });
    if (h.id === 0 && h.op === 0) {
      const found = this.ctx.tiers.fetch('kv', name);
      if (!found) throw new Refusal(RC.NO_ENTRY, `no setting named ${name}`);
      const value = decodeValue(found.ref.encoding, found.bytes);
      return { val: value instanceof Uint8Array ? value : encodeValue(value).bytes };
    }
    if (h.id === 0 && h.op === 2) {
      if (!(p.val instanceof Uint8Array)) throw new Refusal(RC.INVALID, 'settings write needs val (bytes)');
      // Settings values are bytes on the wire; UTF-8 text is stored as a string.
      const text = utf8OrNull(p.val);
      kv.set(name, text === null ? p.val : text, { tier: APPLICATION_DATA, durability: 'immediate' });
      return {};
    }
    if (h.id === 1 && h.op === 2) {
      if (!kv.delete(name, { tier: APPLICATION_DATA, durability: 'immediate' })) throw new Refusal(RC.NO_ENTRY, `no setting named ${name} in the runtime tier`);
      return {};
    }
    return null;
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

