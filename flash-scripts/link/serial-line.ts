// The serial transport: a real port (or a pty) through @serialport/stream and the native bindings.

import { SerialPortStream } from '@serialport/stream';
import { autoDetect } from '@serialport/bindings-cpp';
import { portHolders } from './port-holder.ts';
import { baudOf, LinkError, registerTransport, type ConnectionSpec, type Transport } from './transport.ts';

export { LinkError, parseConnection } from './transport.ts';

export function openPort(path: string, baudRate: number): Promise<SerialPortStream> {
  return new Promise((resolve, reject) => {
    const port = new SerialPortStream({ binding: autoDetect(), path, baudRate }, (err) => {
      if (err) reject(new LinkError(openRefusal(path, err.message)));
      else resolve(port);
    });
  });
}

/** Why a port did not open, in the user's terms: taken by another program, absent, or not permitted. */
export function openRefusal(path: string, why: string): string {
  if (/cannot lock|resource temporarily unavailable|EBUSY|busy/i.test(why)) {
    const holders = portHolders(path);
    const who = holders.length ? holders.map((h) => `pid ${h.pid}: ${h.command}`).join('; ') : 'another program';
    return `${path} is in use by ${who}. Only one program can hold a serial port: close that one (a terminal program, another dl7450 command, a dock's own end) and try again`;
  }
  if (/no such file|ENOENT/i.test(why)) return `there is no device ${path}: is the dock plugged in and powered? \`dl7450 ports\` lists the ports this machine has`;
  if (/permission denied|EACCES/i.test(why)) return `not allowed to open ${path}: add your user to the group that owns it (often dialout) and log in again`;
  return `cannot open ${path}: ${why} (is this the dock's port? \`dl7450 ports\` lists them)`;
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
