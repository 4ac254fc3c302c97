// The dock's SMP server: decodes request packets and answers them. Groups:
// OS (smp-os-group.ts), image (smp-image-group.ts: the factory slots),
// settings (the runtime KvStore), file system (pushed code, images) and the
// dock's user group 64 (inspect, bulk lane, factory commit, lock, factory
// reset, events, key list). Errors in the form the request's SMP version
// expects (smp-errors.ts): v1 a top-level rc, v2 err {group, rc}; the reason
// rides in rsn.

import { decodePacket, encodePacket, SMP_V2, SmpPacketError, type SmpHeader } from './smp-packet.ts'
import { KvStore, kvName } from '../../datastore/kv-store.ts';
import { decodeValue, ValueEncoding, type DockValue } from '../../datastore/value-codec.ts';
import type { TierSet } from '../../datastore/tiers/tier-set.ts';
import { APPLICATION_DATA, EPHEMERAL_DATA } from '../../datastore/tiers/tier-set.ts';
import { CodeStore } from '../../datastore/code-store.ts';
import { utf8Decode, utf8Encode } from '../../bytes/utf8.ts';
import { ImageStore } from '../../datastore/image-store.ts';
import { ImageInvalidError, sniffImageType } from '../../images/image-check.ts';
import { NONE } from '../../images/image-type.ts';
import { FactoryWriteError } from '../../datastore/factory/factory-staging.ts';
import { RuntimeReformatError } from '../../datastore/tiers/tier-errors.ts';
import { KeyInvalidError, KeyTooLongError } from '../../datastore/runtime/errors.ts';
import { errorBody, FS_ERR, RC, SETTINGS_ERR, SmpRefusal } from './smp-errors.ts';
import { osGroup, OS_RESET, OS_PARAMS, OS_INFO, SMP_BUFFER_BYTES, type OsContext } from './smp-os-group.ts';
import { imageGroup, imageRefusal, IMAGE_STATE, IMAGE_UPLOAD } from './smp-image-group.ts';
import { PartUpload } from './smp-upload.ts';
import { ValueStream } from './smp-value-stream.ts';

export { RC, OS_RESET, OS_PARAMS, OS_INFO, SMP_BUFFER_BYTES, IMAGE_STATE, IMAGE_UPLOAD };
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
/** Settings group command ids (smp_group_3). */
export const SETTINGS = { READ_WRITE: 0, DELETE: 1, COMMIT: 2, LOAD_SAVE: 3 } as const;

/** Code pushed for development is small; factory images go through the image group or the bulk lane. */
const MAX_CODE_UPLOAD = 256 * 1024;
/** An uploaded image is assembled in the heap before it is checked and stored: bounded well inside 512 KiB. */
const MAX_IMAGE_UPLOAD = 192 * 1024;
/** Bytes per download answer: about 2.8 KB of console frames. */
const DOWNLOAD_CHUNK = 2048;
/** A value sent in parts is assembled in the heap: bounded well inside 512 KiB. */
const MAX_VALUE_UPLOAD = 256 * 1024;
/** Settings names as Zephyr's SETTINGS_MAX_NAME_LEN default. */
const MAX_SETTING_NAME = 255;

/** A refusal of the dock's own group: its codes are mcumgr_err_t numbers, sent as `err` to v2 clients. */
class Refusal extends SmpRefusal {
  constructor(rc: number, message: string) {
    super(rc, message, rc);
  }
}

/** Factory-write problems in the dock's own group (mcumgr_err_t numbers). */
const DOCK_FACTORY_RC: Record<string, number> = {
  locked: RC.ACCESS_DENIED,
  'one-slot': RC.NOT_SUPPORTED,
  'too-large': RC.NO_MEMORY,
  'out-of-order': RC.INVALID,
  incomplete: RC.BAD_STATE,
  mismatch: RC.CORRUPT,
  untrusted: RC.CORRUPT,
  'not-verified': RC.BAD_STATE,
  'on-trial': RC.BAD_STATE,
  pending: RC.BAD_STATE,
};

/** A file-system group error: `code` from fs_mgmt_err_code_t. */
const fsRefusal = (code: number, message: string) => new SmpRefusal(RC.UNKNOWN, message, code);

export interface BulkOffer {
  session: number;
  frameSize: number;
  window: number;
}

export interface SmpServerContext extends OsContext {
  /** A clock no datetime write moves (the dock's monotonic ms), for stalls; default: `clock`. */
  ticks?: { now(): number };
  tiers: TierSet;
  /** Start the app again (after code was pushed): the firmware's app loader. */
  restartApp?: () => string;
  /** Factory writes over the link; absent on a dock with one factory slot. */
  factory?: FactoryService | null;
  events?: EventLog;
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
  /** The file-system upload in progress, and the settings value sent in parts: one of each at a time. */
  private upload: PartUpload | null = null;
  private valueUpload: PartUpload | null = null;
  /** A value larger than the heap being written to the runtime tier as it arrives. */
  private valueStream: ValueStream | null = null;

  private now(): number {
    return this.ctx.clock ? this.ctx.clock.now() : 0;
  }

  /** Time for stalls: the monotonic clock when given (a datetime write moves `clock`, not this). */
  private ticks(): number {
    return this.ctx.ticks ? this.ctx.ticks.now() : this.now();
  }

  /** Drop the streamed value, if any: its key keeps its old value and the runtime tier takes writes again. */
  private endValueStream(): void {
    const stream = this.valueStream;
    this.valueStream = null;
    if (stream) stream.abort();
  }

  /** Called as time passes (the firmware's idle loop) and at each request: a streamed value whose client went quiet is dropped. */
  expireStalled(now: number): void {
    if (this.valueStream && this.valueStream.stalled(now)) this.endValueStream();
  }

  constructor(private readonly ctx: SmpServerContext) {}

  /** Answer one request packet; returns the response packet (or null for a response packet we received). */
  handle(packet: Uint8Array): Uint8Array | null {
    if (packet.length < 8) return null;
    const op = packet[0] & 7;
    if (op === 1 || op === 3) return null; // a response, not a request
    const version = (packet[0] >> 3) & 3;
    const group = (packet[4] << 8) | packet[5];
    const reply = (body: Body) => answerTo(packet, body);
    const refuse = (r: SmpRefusal) => refusalTo(packet, r);
    if (version > SMP_V2) return refuse(new SmpRefusal(RC.TOO_NEW, `SMP version ${version + 1} is not supported; this dock speaks versions 1 and 2`));
    this.expireStalled(this.ticks());
    let request;
    try {
      request = decodePacket(packet);
    } catch (e) {
      if (e instanceof SmpPacketError) return refuse(new SmpRefusal(RC.INVALID, e.message));
      throw e;
    }
    try {
      const body = this.dispatch(request.header, request.payload);
      if (body === null) return refuse(new SmpRefusal(RC.NOT_SUPPORTED, ''));
      try {
        return reply(body);
      } catch (e) {
        // The header's length field is 16 bits: a larger answer cannot be sent, so say so instead of going silent.
        if (e instanceof SmpPacketError) return refuse(new SmpRefusal(RC.MSG_SIZE, `${e.message}: ask for less (a prefix, or in pages)`));
        throw e;
      }
    } catch (e) {
      // A refused part ends that upload (the client starts again from 0); any other request's failure leaves it be.
      this.endFailedUpload(request.header, request.payload);
      if (e instanceof SmpRefusal) return refuse(e);
      if (e instanceof FactoryWriteError) return refuse(group === GROUP_IMAGE ? imageRefusal(e) : new Refusal(DOCK_FACTORY_RC[e.problem] ?? RC.UNKNOWN, e.message));
      if (e instanceof PerDockError) return refuse(new Refusal(RC.CORRUPT, e.message));
      // A name the KvStore refuses (whole or streamed: one check), as settings errors.
      if (group === GROUP_SETTINGS && e instanceof KeyTooLongError) return refuse(new SmpRefusal(RC.INVALID, e.message, SETTINGS_ERR.KEY_TOO_LONG));
      if (group === GROUP_SETTINGS && e instanceof KeyInvalidError) return refuse(new SmpRefusal(RC.INVALID, e.message));
      return refuse(new SmpRefusal(RC.UNKNOWN, e instanceof Error ? e.message : String(e)));
    }
  }

  /**
   * After a refusal: an upload ends only when the refused request was a part
   * of it (a write naming the same file or setting), never because a read or
   * another setting failed between its parts.
   */
  private endFailedUpload(h: SmpHeader, p: Body): void {
    if (h.op !== 2) return;
    if (h.group === GROUP_FS && h.id === 0 && this.upload && this.upload.name === p.name) this.upload = null;
    if (h.group !== GROUP_SETTINGS || h.id !== SETTINGS.READ_WRITE || typeof p.name !== 'string') return;
    const stored = kvName(typeof p.ns === 'string' ? p.ns : undefined, p.name);
    if (this.valueUpload && this.valueUpload.name === stored) this.valueUpload = null;
    if (this.valueStream && this.valueStream.name === stored) this.endValueStream();
  }

  /** The answer's body, or null for a command this dock does not serve (SMP's "not supported"). */
  private dispatch(h: SmpHeader, p: Body): Body | null {
    const write = h.op === 2;
    switch (h.group) {
      case GROUP_OS:
        return osGroup(this.ctx, h.id, write, p);
      case GROUP_IMAGE:
        return imageGroup(() => this.factory(), h.id, write, p);
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
    if (!this.ctx.factory) throw new SmpRefusal(RC.NOT_SUPPORTED, 'this dock cannot take a factory image over the link (one factory slot)');
    return this.ctx.factory;
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
    if (typeof name !== 'string' || typeof off !== 'number' || off < 0) throw new SmpRefusal(RC.INVALID, 'the file system group needs name and off');
    if (h.op === 0) return this.download(name, off);
    const data = p.data;
    if (!(data instanceof Uint8Array)) throw new SmpRefusal(RC.INVALID, 'upload needs data (bytes)');
    const isCode = name === '/code/app.js';
    const tag = name.indexOf('/images/') === 0 ? name.slice(8) : '';
    if (!isCode && !tag) throw fsRefusal(FS_ERR.FILE_INVALID_NAME, `${name}: upload /code/app.js or /images/<tag> (factory images go through the image group)`);
    if (off === 0) {
      const what = isCode ? 'the app code' : `${name} (put larger images in the factory image)`;
      this.upload = PartUpload.start(name, p.len, isCode ? MAX_CODE_UPLOAD : MAX_IMAGE_UPLOAD, what);
    }
    const up = this.upload;
    if (!up || up.name !== name) throw fsRefusal(FS_ERR.FILE_OFFSET_NOT_VALID, 'no upload in progress: start at off 0 with len');
    if (up.add(off, data, (m) => fsRefusal(FS_ERR.FILE_OFFSET_NOT_VALID, m))) {
      const all = up.bytes;
      this.upload = null;
      if (isCode) new CodeStore({ tiers: this.ctx.tiers, tier: EPHEMERAL_DATA }).put(utf8Decode(all));
      else {
        const type = sniffImageType(all);
        if (type === NONE) throw fsRefusal(FS_ERR.FILE_WRITE_FAILED, `${name}: the bytes are not a PNG, BMP or JPEG file (by their first bytes)`);
        try {
          new ImageStore({ tiers: this.ctx.tiers }).put(tag, all, type, { durability: 'immediate' });
        } catch (e) {
          if (e instanceof ImageInvalidError) throw fsRefusal(FS_ERR.FILE_WRITE_FAILED, e.message);
          throw e;
        }
      }
    }
    return { off: up.received };
  }

  private download(name: string, off: number): Body {
    if (name === '/code/app.js') {
      const code = utf8Encode(new CodeStore({ tiers: this.ctx.tiers }).get());
      if (code.length === 0) throw fsRefusal(FS_ERR.FILE_NOT_FOUND, 'this dock holds no app');
      const data = code.subarray(off, off + DOWNLOAD_CHUNK);
      return off === 0 ? { off, data, len: code.length } : { off, data };
    }
    if (name.indexOf('/images/') !== 0) throw fsRefusal(FS_ERR.FILE_NOT_FOUND, `${name}: download /images/<tag> or /code/app.js`);
    const images = new ImageStore({ tiers: this.ctx.tiers });
    const tag = name.slice(8);
    if (!images.info(tag)) throw fsRefusal(FS_ERR.FILE_NOT_FOUND, `no image tagged ${tag}`);
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
        // Uploads and a streamed value end first: none may write into the store the reset makes.
        this.endValueStream();
        this.valueUpload = null;
        this.upload = null;
        try {
          this.ctx.tiers.factoryReset();
        } catch (e) {
          // The factory app runs, the runtime tier does not: say so, and what to do, in the group's error form.
          if (e instanceof RuntimeReformatError) throw new Refusal(RC.UNKNOWN, e.message);
          throw e;
        }
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
        const ns = typeof p.ns === 'string' && p.ns !== '' ? p.ns : undefined;
        const keys = new KvStore({ tiers: this.ctx.tiers, namespace: ns }).list({ prefix, after: typeof p.after === 'string' ? p.after : undefined, limit });
        return keys.length === limit ? { keys, next: keys[keys.length - 1] } : { keys };
      }
      case DOCK.FACTORY_STATUS: {
        if (write) return null;
        const st = this.factory().status();
        return { locked: st.locked, active: st.active, generation: st.generation, pendingRestart: st.pendingRestart, trial: st.trial, trustedKey: st.trustedKey, slotBytes: st.slotBytes, ...(st.staging ? { staging: st.staging } : {}) };
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

  /**
   * Settings group (smp_group_3) on the runtime tier: read `{name, max_size?}`
   * → `{val}`; write `{name, val}`; delete `{name}`; commit, load and save
   * answer `{}` (every write is already on flash when answered, and reads go
   * to the store). Values are bytes on the wire: a stored text or typed value
   * is sent as its UTF-8 or CBOR bytes; printable ASCII written is stored as text.
   */
  private settings(h: SmpHeader, p: Body): Body | null {
    const write = h.op === 2;
    if (h.id === SETTINGS.COMMIT && write) return {};
    if (h.id === SETTINGS.LOAD_SAVE) return {};
    if (h.id !== SETTINGS.READ_WRITE && !(h.id === SETTINGS.DELETE && write)) return null;
    const name = p.name;
    if (typeof name !== 'string' || name === '') throw new SmpRefusal(RC.INVALID, 'settings need a name (text)');
    if (utf8Encode(name).length > MAX_SETTING_NAME) throw new SmpRefusal(RC.INVALID, `a setting name is at most ${MAX_SETTING_NAME} bytes`, SETTINGS_ERR.KEY_TOO_LONG);
    // Our extension: `ns` names the app's namespace (KvStore({ namespace })); the key is then stored as the app's is.
    const ns = p.ns;
    if (ns !== undefined && (typeof ns !== 'string' || ns === '')) throw new SmpRefusal(RC.INVALID, 'ns (the namespace) must be non-empty text');
    const kv = new KvStore({ tiers: this.ctx.tiers, namespace: ns });
    const stored = kvName(ns, name);
    if (h.id === SETTINGS.READ_WRITE && !write) {
      const ref = this.ctx.tiers.find('kv', stored);
      if (!ref) throw new SmpRefusal(RC.UNKNOWN, `no setting named ${name}`, SETTINGS_ERR.KEY_NOT_FOUND);
      // Bytes and text are sent as stored, read a part at a time (a value may be larger than the heap); a structured value is JSON text made whole.
      const raw = ref.encoding === ValueEncoding.Bytes || ref.encoding === ValueEncoding.Utf8;
      const whole = raw ? null : wireValue(ref.encoding, this.ctx.tiers.fetch('kv', stored, ref.tier)!.bytes).val;
      const size = whole ? whole.length : ref.size;
      const type = ref.encoding === ValueEncoding.Bytes ? 'bytes' : ref.encoding === ValueEncoding.Utf8 ? 'text' : 'json';
      const read = (off: number, n: number): Uint8Array => {
        if (whole) return whole.subarray(off, off + n);
        const buffer = new Uint8Array(Math.max(0, Math.min(n, size - off)));
        return buffer.subarray(0, buffer.length > 0 ? this.ctx.tiers.readRange(ref, off, buffer) : 0);
      };
      if (typeof p.off === 'number') {
        // Our extension: a value read in parts, {name, off} → {off, val, len (first part), type}.
        if (p.off < 0 || p.off > size) throw new SmpRefusal(RC.INVALID, `off ${p.off} is outside the ${size}-byte value`);
        const part = read(p.off, DOWNLOAD_CHUNK);
        return p.off === 0 ? { off: 0, val: part, len: size, type } : { off: p.off, val: part };
      }
      const max = typeof p.max_size === 'number' ? p.max_size : SMP_BUFFER_BYTES - 64;
      if (size > max) throw new SmpRefusal(RC.MSG_SIZE, `${name} holds ${size} bytes; one answer carries at most ${max}: read it in parts ({name, off}; dl7450 kv get does)`);
      return { val: read(0, size), type };
    }
    if (h.id === SETTINGS.READ_WRITE) {
      if (!(p.val instanceof Uint8Array)) throw new SmpRefusal(RC.INVALID, 'settings write needs val (bytes)');
      const type = p.type;
      if (type !== undefined && type !== 'text' && type !== 'json' && type !== 'bytes') throw new SmpRefusal(RC.INVALID, `type is text, json or bytes, not ${String(type)}`);
      let whole: Uint8Array = p.val;
      let as: unknown = type;
      if (typeof p.off === 'number') {
        // Our extension for values larger than one packet: parts with off (len and the type on the first), stored once whole.
        if (p.off === 0) this.endValueStream();
        if (p.off === 0 && typeof p.len === 'number' && p.len > MAX_VALUE_UPLOAD && (type === 'bytes' || type === 'text')) {
          // Too large for the heap: written to the runtime tier as the parts come (smp-value-stream.ts).
          // Through the KvStore, so the name gets the same check as a whole value's (kv.set below).
          this.valueStream = new ValueStream(stored, p.len, kv.beginSet(name, p.len, { text: type === 'text', durability: 'immediate' }), type === 'text', this.ticks());
        }
        const stream = this.valueStream;
        if (stream && stream.name === stored) {
          if (!stream.add(p.off, p.val, this.ticks())) return { off: stream.received };
          this.valueStream = null;
          return { off: stream.length };
        }
        if (p.off === 0) this.valueUpload = PartUpload.start(stored, p.len, MAX_VALUE_UPLOAD, `the value of ${name} (${type === 'json' || type === undefined ? 'send larger values with type bytes or text: they are written as they arrive' : 'store larger data as an image or in the factory image'})`, type);
        const up = this.valueUpload;
        if (!up || up.name !== stored) throw new SmpRefusal(RC.BAD_STATE, `no value of ${name} is being sent: start at off 0 with len`);
        if (!up.add(p.off, p.val, (m) => new SmpRefusal(RC.INVALID, m))) return { off: up.received };
        this.valueUpload = null;
        whole = up.bytes;
        as = up.note;
      }
      kv.set(name, storedValue(whole, as as string | undefined, name), { tier: APPLICATION_DATA, durability: 'immediate' });
      return typeof p.off === 'number' ? { off: whole.length } : {};
    }
    if (!kv.delete(name, { tier: APPLICATION_DATA, durability: 'immediate' })) throw new SmpRefusal(RC.UNKNOWN, `no setting named ${name} in the runtime tier`, SETTINGS_ERR.KEY_NOT_FOUND);
    return {};
  }
}

/**
 * The answer packet to a request (its first 8 bytes at least): op + 1, the
 * same group, sequence and id, in the request's version (a request of a
 * version this dock does not speak is answered in the newest it does:
 * Zephyr's rule).
 */
export function answerTo(request: Uint8Array, body: Body): Uint8Array {
  const version = (request[0] >> 3) & 3;
  return encodePacket({ op: (request[0] & 7) | 1, version: version > SMP_V2 ? SMP_V2 : version, flags: 0, group: (request[4] << 8) | request[5], sequence: request[6], id: request[7] }, body);
}

/** A refusal of a request in the form its version's clients read (smp-errors.ts). */
export function refusalTo(request: Uint8Array, refusal: SmpRefusal): Uint8Array {
  const version = (request[0] >> 3) & 3;
  return answerTo(request, errorBody(version > SMP_V2 ? SMP_V2 : version, (request[4] << 8) | request[5], refusal));
}

/** A stored value as settings bytes and the type our client prints it by: text (UTF-8), json (JSON text of a structured value), bytes. */
function wireValue(encoding: number, bytes: Uint8Array): { val: Uint8Array; type: string } {
  if (encoding === ValueEncoding.Bytes) return { val: bytes, type: 'bytes' };
  if (encoding === ValueEncoding.Utf8) return { val: bytes, type: 'text' };
  return { val: utf8Encode(JSON.stringify(decodeValue(encoding, bytes), jsonBytes)), type: 'json' };
}

/** Byte arrays inside a structured value travel as {"$bytes": hex} in its JSON text. */
function jsonBytes(_key: string, v: unknown): unknown {
  if (!(v instanceof Uint8Array)) return v;
  let h = '';
  for (let i = 0; i < v.length; i++) h += (v[i] < 16 ? '0' : '') + v[i].toString(16);
  return { $bytes: h };
}

/** The way back: {"$bytes": hex} in a JSON value written to the dock is a byte array again (kv get, then kv set --type json, keeps it). */
function jsonBytesBack(_key: string, v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const h = (v as { $bytes?: unknown }).$bytes;
  if (typeof h !== 'string' || Object.keys(v).length !== 1 || h.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(h)) return v;
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(i * 2, 2), 16);
  return out;
}

/** What a settings write stores: by `type` when given; without one, printable ASCII is text and anything else bytes. */
function storedValue(val: Uint8Array, type: string | undefined, name: string): DockValue {
  if (type === 'bytes') return val;
  if (type === 'text') {
    const text = utf8Decode(val);
    // The decoder replaces bad sequences: text that does not encode back to the same bytes was not UTF-8.
    const back = utf8Encode(text);
    let same = back.length === val.length;
    for (let i = 0; same && i < val.length; i++) same = back[i] === val[i];
    if (!same) throw new SmpRefusal(RC.INVALID, `${name}: the value is not UTF-8 text (send it with type bytes)`);
    return text;
  }
  if (type === 'json') {
    try {
      return JSON.parse(utf8Decode(val), jsonBytesBack) as DockValue;
    } catch (e) {
      throw new SmpRefusal(RC.INVALID, `${name}: the value is not JSON (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  const text = utf8OrNull(val);
  return text === null ? val : text;
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

