// The SMP file-system group from the host: upload a file in chunks (each
// answer says where the dock is, so a resent chunk is harmless) and download
// one. Used by `send-code` and `fs upload|download`.

import { GROUP_FS } from '../../firmware/smp/smp-server.ts';
import type { SmpClient } from './smp-client.ts';

/** Bytes per request: about 1.4 KB of console frames. */
const CHUNK = 1024;

export async function uploadFile(client: SmpClient, name: string, bytes: Uint8Array, onProgress?: (sent: number, total: number) => void): Promise<void> {
  if (bytes.length === 0) throw new RangeError(`${name}: the file is empty; the dock stores nothing empty`);
  for (let off = 0; off < bytes.length; ) {
    const body: Record<string, unknown> = { name, off, data: bytes.subarray(off, off + CHUNK) };
    if (off === 0) body.len = bytes.length;
    off = (await client.request(2, GROUP_FS, 0, body)).off as number;
    onProgress?.(off, bytes.length);
  }
}

export async function downloadFile(client: SmpClient, name: string): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let len = -1;
  let off = 0;
  while (len < 0 || off < len) {
    const r = await client.request(0, GROUP_FS, 0, { name, off });
    if (off === 0) len = r.len as number;
    const data = r.data as Uint8Array;
    if (data.length === 0) break;
    parts.push(data);
    off += data.length;
  }
  const all = new Uint8Array(off);
  off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  return all;
}
