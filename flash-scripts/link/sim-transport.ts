// sim://<dock dir>: a simulated dock as a transport. If a dock process serves
// that directory (`dl7450 sim start --serve`), attach to its serial line;
// otherwise start the dock in this process and talk to it over an in-process
// line paced like a UART (?baud=921600; default unpaced). The dock stops
// when the transport closes.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LinkError, registerTransport, parseConnection, baudOf, type ConnectionSpec, type Transport } from './transport.ts';
import { serialTransport } from './serial-line.ts';

function servingLine(dir: string): string | null {
  const file = join(dir, 'serving.json');
  if (!existsSync(file)) return null;
  try {
    const { pid, conn } = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; conn: string };
    process.kill(pid, 0); // throws when that process is gone
    return conn;
  } catch {
    return null;
  }
}

async function openSim(spec: ConnectionSpec): Promise<Transport> {
  const dir = spec.target;
  const serving = servingLine(dir);
  if (serving) {
    const line = parseConnection(serving);
    return serialTransport(line.target, spec.params.baud ? baudOf(spec) : baudOf(line));
  }
  if (!existsSync(dir)) throw new LinkError(`sim://${dir}: no such dock directory (dl7450 sim start --dir ${dir} makes one)`);
  const { SimulatedDock } = await import('../sim/simulated-dock.ts');
  const dock = new SimulatedDock({ dir, log: () => {} });
  await dock.boot();
  void dock.run(); // the app's timers tick while the host talks to it
  const t = dock.attachInProcess(spec.params.baud ? baudOf(spec) : null);
  let closed = false;
  return {
    ...t,
    close: async () => {
      if (closed) return;
      closed = true;
      await t.close();
      dock.shutdown();
    },
  };
}

registerTransport('sim', openSim);
