// The serial transport: a real port (or a pty from socat) through
// @serialport/stream and the native bindings.

import { SerialPortStream } from '@serialport/stream';
import { autoDetect } from '@serialport/bindings-cpp';
import { baudOf, LinkError, registerTransport, type ConnectionSpec, type Transport } from './transport.ts';

export { LinkError, parseConnection } from './transport.ts';

export function openPort(path: string, baudRate: number): Promise<SerialPortStream> {
  return new Promise((resolve, reject) => {
    const port = new SerialPortStream({ binding: autoDetect(), path, baudRate }, (err) => {
      if (err) reject(new LinkError(`cannot open ${path}: ${err.message} (is this the dock's port? \`dl7450 ports\` lists them)`));
      else resolve(port);
    });
  });
}

/** A serial port as a transport; writes resolve when the OS has taken the bytes. */
export async function serialTransport(path: string, baudRate: number): Promise<Transport> {
  const port = await openPort(path, baudRate);
  return {
    description: `${path} at ${baudRate} baud`,
    baudRate,
    write: (bytes) =>
      new Promise((resolve, reject) => {
        port.write(bytes, (err) => (err ? reject(new LinkError(`writing to ${path}: ${err.message}`)) : undefined));
        port.drain((err) => (err ? reject(new LinkError(`writing to ${path}: ${err.message}`)) : resolve()));
      }),
    onData: (listener) => port.on('data', (chunk: Buffer) => listener(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))),
    close: () => new Promise((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

registerTransport('serial', (spec: ConnectionSpec) => serialTransport(spec.target, baudOf(spec)));

/** Ports the OS lists; where udev is absent the list is unavailable, which is not an error. */
export async function listPorts(): Promise<string[]> {
  try {
    return (await autoDetect().list()).map((p: { path: string }) => p.path);
  } catch {
    return [];
  }
}
