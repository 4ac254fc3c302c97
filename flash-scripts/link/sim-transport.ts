// sim://<dock dir>: a simulated dock as a transport. If a dock process serves
// that directory (`dl7450 sim start --serve`), attach to its serial line;
// otherwise start the dock in this process and talk to it over an in-process
// line paced like a UART (?baud=921600; default unpaced). The dock stops
// when the transport closes.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LinkError, registerTransport, parseConnection, baudOf, type ConnectionSpec, type Transport } from './transport.ts';
import { serialTransport } from './serial-line.ts';

/** The dock process serving `dir`, if one is alive: its pid and the host end of its line (when it made the line). */
function servingDock(dir: string): { pid: number; conn: string; hostEnd: string | null } | null {
  const file = join(dir, 'serving.json');
  if (!existsSync(file)) return null;
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as { pid: number; conn: string; hostEnd: string | null };
    process.kill(s.pid, 0); // throws when that process is gone
    return s;
  } catch {
    return null;
  }
}

async function openSim(spec: ConnectionSpec): Promise<Transport> {
  const dir = spec.target;
  const serving = servingDock(dir);
  if (serving) {
    // Never start a second dock on the same partitions: attach, or say where the dock listens.
    if (!serving.hostEnd) throw new LinkError(`the dock in ${dir} runs in process ${serving.pid} and serves ${serving.conn}: connect to the other end of that line (or start it with --serve pty, which sim:// can attach to)`);
    const line = parseConnection(serving.hostEnd);
    return serialTransport(line.target, spec.params.baud ? baudOf(spec) : baudOf(line));
  }
  if (!existsSync(dir)) throw new LinkError(`sim://${dir}: no such dock directory (dl7450 sim start --dir ${dir} makes one)`);
  const { SimulatedDock } = await import('../sim/simulated-dock.ts');
  const dock = new SimulatedDock({ dir, log: () => {} });
  try {
    await dock.boot();
  } catch (e) {
    dock.shutdown(); // release its partitions and RAM: nothing is left half open
    throw e;
  }
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
