// Host transports by connection string, one registration per scheme:
//   serial:///dev/ttyUSB0?baud=921600, serial:/dev/ttyUSB0@921600, /dev/ttyUSB0
//   sim://<dock dir>  (a simulated dock: attach to the one serving that
//                      directory, or start one in this process)
// A transport is a byte pipe with back-pressure; SMP and the bulk lane run on top.

export class LinkError extends Error {
  readonly code = 'link';
  constructor(message: string) {
    super(message);
    this.name = 'LinkError';
  }
}

export interface Transport {
  /** What it is connected to, for messages. */
  readonly description: string;
  /** Line rate in bits per second, or null when the transport has none (in-process, unthrottled). */
  readonly baudRate: number | null;
  /** Resolves once the bytes have been handed to the line (back-pressure). */
  write(bytes: Uint8Array): Promise<void>;
  onData(listener: (bytes: Uint8Array) => void): void;
  close(): Promise<void>;
}

export interface ConnectionSpec {
  scheme: string;
  /** Device path or dock directory. */
  target: string;
  params: Record<string, string>;
}

type Opener = (spec: ConnectionSpec) => Promise<Transport>;
const registry = new Map<string, Opener>();

export function registerTransport(scheme: string, open: Opener): void {
  registry.set(scheme, open);
}

export function registeredSchemes(): string[] {
  return [...registry.keys()];
}

const EXAMPLES = 'serial:///dev/ttyUSB0?baud=921600, serial:/dev/ttyUSB0@921600, /dev/ttyUSB0 or sim://<dock dir>';

export function parseConnection(conn: string): ConnectionSpec {
  if (conn.startsWith('/')) return fromPathAt('serial', conn, conn);
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/.exec(conn);
  if (!m) throw new LinkError(`"${conn}" is not a connection string; use ${EXAMPLES}`);
  const scheme = m[1];
  let rest = m[2];
  if (rest.startsWith('//')) rest = rest.slice(2); // serial:///dev/x → /dev/x; sim://dir → dir
  const q = rest.indexOf('?');
  const params: Record<string, string> = {};
  if (q >= 0) {
    for (const pair of rest.slice(q + 1).split('&')) {
      if (!pair) continue;
      const eq = pair.indexOf('=');
      params[decodeURIComponent(eq < 0 ? pair : pair.slice(0, eq))] = eq < 0 ? '' : decodeURIComponent(pair.slice(eq + 1));
    }
    rest = rest.slice(0, q);
  }
  if (scheme === 'serial') {
    const spec = fromPathAt(scheme, rest, conn);
    return { ...spec, params: { ...spec.params, ...params } };
  }
  if (!rest) throw new LinkError(`"${conn}" names no target; use ${EXAMPLES}`);
  return { scheme, target: decodeURIComponent(rest), params };
}

/** The older short form: a path with an optional @baud. */
function fromPathAt(scheme: string, text: string, conn: string): ConnectionSpec {
  const m = /^([^@]+)(?:@(\d+))?$/.exec(text);
  if (!m || !m[1].startsWith('/')) throw new LinkError(`"${conn}" is not a connection string; use ${EXAMPLES}`);
  return { scheme, target: m[1], params: m[2] ? { baud: m[2] } : {} };
}

export function baudOf(spec: ConnectionSpec, fallback = 115200): number {
  const b = spec.params.baud;
  if (b === undefined) return fallback;
  const n = Number(b);
  if (!Number.isInteger(n) || n <= 0) throw new LinkError(`baud=${b} is not a baud rate (e.g. 115200 or 921600)`);
  return n;
}

export async function openTransport(conn: string): Promise<Transport> {
  const spec = parseConnection(conn);
  const open = registry.get(spec.scheme);
  if (!open) throw new LinkError(`no transport for "${spec.scheme}:" (known: ${registeredSchemes().join(', ')})`);
  return open(spec);
}
