// A serial line by connection string: "serial:/dev/ttyUSB0@115200" or a bare
// device path. Opened with @serialport/stream; a pseudo-terminal pair from
// socat works the same as a USB serial adapter.

import { SerialPortStream } from '@serialport/stream';
import { autoDetect } from '@serialport/bindings-cpp';

export class LinkError extends Error {
  readonly code = 'link';
}

export interface LineSpec {
  path: string;
  baudRate: number;
}

export function parseConnection(conn: string): LineSpec {
  const m = /^(?:serial:)?([^@]+)(?:@(\d+))?$/.exec(conn);
  if (!m || !m[1].startsWith('/')) throw new LinkError(`"${conn}" is not a connection string; use serial:/dev/ttyUSB0@115200 or a device path`);
  return { path: m[1], baudRate: m[2] ? Number(m[2]) : 115200 };
}

export function openLine(conn: string): Promise<SerialPortStream> {
  const spec = parseConnection(conn);
  return new Promise((resolve, reject) => {
    const port = new SerialPortStream({ binding: autoDetect(), path: spec.path, baudRate: spec.baudRate }, (err) => {
      if (err) reject(new LinkError(`cannot open ${spec.path}: ${err.message}`));
      else resolve(port);
    });
  });
}

/** Ports the OS lists; where udev is absent the list is unavailable, which is not an error. */
export async function listPorts(): Promise<string[]> {
  try {
    return (await autoDetect().list()).map((p: { path: string }) => p.path);
  } catch {
    return [];
  }
}
