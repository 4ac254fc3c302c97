// sim://<dock dir>: a simulated dock as a transport. If a dock process serves
// that directory (`dl7450 sim start --serve`), attach to its serial line;
// otherwise start the dock in this process and talk to it over an in-process
// line paced like a UART (?baud=921600; default unpaced). The dock stops
// when the transport closes.

import { existsSync } from 'node:fs';
import { dockOwner } from '../../simulator/dock-lock.ts';
import { LinkError, registerTransport, parseConnection, baudOf, type ConnectionSpec, type Transport } from './transport.ts';
import { serialTransport } from './serial-line.ts';

async function openSim(spec: ConnectionSpec): Promise<Transport> {
  const dir = spec.target;
  const serving = dockOwner(dir);
  if (serving) {
    // Never start a second dock on the same partitions: attach, or say where the dock listens.
    if (!serving.hostEnd) {
      throw new LinkError(
        serving.serves
          ? `the dock in ${dir} runs in process ${serving.pid} and serves ${serving.serves}: connect to the other end of that line (or start it with --serve pty, which sim:// can attach to)`
          : `the dock in ${dir} is in use by process ${serving.pid} (${serving.role}) and serves no line: start it with --serve pty, or stop it and run this command again`,
      );
    }
    const line = parseConnection(serving.hostEnd);
    return serialTransport(line.target, spec.params.baud ? baudOf(spec) : baudOf(line));
  }
  if (!existsSync(dir)) throw new LinkError(`sim://${dir}: no such dock directory (dl7450 sim start --dir ${dir} makes one)`);
  const { SimulatedDock } = await import('../../simulator/simulated-dock.ts');
  const dock = new SimulatedDock({ dir, log: () => {}, role: 'an in-process dock behind sim://' });
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
