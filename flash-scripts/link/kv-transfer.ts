// Dock values through the SMP settings group from the host. A value that
// fits one request of the dock's advertised buffer (OS parameters, buf_size)
// goes as a standard settings write; a larger one in parts (our `off`/`len`
// extension, firmware/smp/FORMAT.md), each answer saying where the dock is.
// Reads go in parts too and come back with the value's type.

import { GROUP_OS, GROUP_SETTINGS, OS_PARAMS } from '../../firmware/smp/smp-server.ts';
import { SmpError, type SmpClient } from './smp-client.ts';

export type ValueType = 'text' | 'json' | 'bytes';

/** CBOR map keys, header and framing slack around the value bytes in one request. */
const OVERHEAD = 96;
/** What a dock that does not answer the parameters command is assumed to take (Zephyr's default). */
const DEFAULT_BUFFER = 384;

const buffers = new WeakMap<SmpClient, number>();

/** The dock's advertised SMP buffer size (asked once per connection). */
export async function dockBufferSize(client: SmpClient): Promise<number> {
  const known = buffers.get(client);
  if (known !== undefined) return known;
  let size = DEFAULT_BUFFER;
  try {
    const r = await client.request(0, GROUP_OS, OS_PARAMS, {});
    if (typeof r.buf_size === 'number' && r.buf_size > OVERHEAD * 2) size = r.buf_size;
  } catch (e) {
    if (!(e instanceof SmpError)) throw e; // a dock without the command: the default
  }
  buffers.set(client, size);
  return size;
}

/** A key as the app sees it: a name, and the app's namespace (KvStore({ namespace })) if it has one. */
export type KvKey = string | { name: string; ns?: string };
const keyFields = (key: KvKey) => (typeof key === 'string' ? { name: key } : key.ns ? { name: key.name, ns: key.ns } : { name: key.name });

export async function setValue(client: SmpClient, key: KvKey, bytes: Uint8Array, type: ValueType, onProgress?: (sent: number, total: number) => void): Promise<{ parts: number }> {
  const k = keyFields(key);
  const room = (await dockBufferSize(client)) - OVERHEAD - Buffer.byteLength(k.name) - (k.ns ? Buffer.byteLength(k.ns) + 4 : 0);
  if (bytes.length <= room) {
    await client.request(2, GROUP_SETTINGS, 0, { ...k, val: bytes, type });
    return { parts: 1 };
  }
  let parts = 0;
  for (let off = 0; off < bytes.length || parts === 0; ) {
    const body: Record<string, unknown> = { ...k, off, val: bytes.subarray(off, off + room) };
    if (off === 0) Object.assign(body, { len: bytes.length, type });
    off = (await client.request(2, GROUP_SETTINGS, 0, body, { timeoutMs: 5000 })).off as number;
    parts++;
    onProgress?.(off, bytes.length);
  }
  return { parts };
}

export async function getValue(client: SmpClient, key: KvKey): Promise<{ bytes: Uint8Array; type: ValueType }> {
  const k = keyFields(key);
  const first = await client.request(0, GROUP_SETTINGS, 0, { ...k, off: 0 });
  // A dock without the parts extension (older firmware, a plain Zephyr settings group) answers { val } whole.
  if (typeof first.len !== 'number') return { bytes: first.val instanceof Uint8Array ? first.val : new Uint8Array(0), type: (first.type as ValueType) ?? 'bytes' };
  const len = first.len;
  const all = new Uint8Array(len);
  let off = 0;
  let part = first.val as Uint8Array;
  for (;;) {
    all.set(part, off);
    off += part.length;
    if (off >= len || part.length === 0) break;
    part = (await client.request(0, GROUP_SETTINGS, 0, { ...k, off })).val as Uint8Array;
  }
  return { bytes: all.subarray(0, off), type: (first.type as ValueType) ?? 'bytes' };
}
