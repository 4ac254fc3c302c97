// `npm start`: boots a simulated dock in .dock/ on the built-in factory image,
// runs its app, and keeps it running (printing the app's console) until Ctrl-C.
// A second `npm start` reuses .dock/, so what the app wrote survives.

import { relative, resolve } from 'node:path';
import { SimulatedDock } from './simulated-dock.ts';
import { ptyPair, type PtyPair } from './uart/pty-pair.ts';

const dir = resolve(process.env.DL7450_DOCK_DIR ?? resolve(import.meta.dirname, '..', '.dock'));
const runFor = Number(process.env.DL7450_RUN_MS ?? Infinity);
const dock = new SimulatedDock({ dir, role: 'npm start', log: (line) => console.log(`  app> ${line}`), onStatus: (line) => console.log(`  ${line}`) });
console.log(`DL-7450 simulated dock in ${dir}`);
const { report, splashPath } = await dock.boot();
console.log(`runtime tier:   ${report.runtime}`);
console.log(`factory tier:   ${report.factory}`);
console.log(`ephemeral tier: ${report.ephemeral}`);
for (const f of report.failedApps) console.log(`app fallback:   ${f}`);
console.log(`app:            ${report.appTier ? `running the ${report.appTier} app` : 'none could start'}`);
console.log(`durability:     ${report.durability}`);
const screen = dock.screen;
console.log(`screen:         background ${screen.background ? `${screen.background.length} bytes` : 'none'}; text: ${[...screen.textBoxes.values()].map((t) => JSON.stringify(t.text)).join(', ') || 'none'}`);
console.log(`splash: ${splashPath}`);
// The dock's serial port on a pty pair made in this process, so the dl7450 tools can talk to it while it runs.
let pair: PtyPair | null = null;
try {
  pair = await ptyPair();
  await dock.serveSerial(`serial:${pair.dock}@921600`, { hostEnd: `serial:${pair.host}@921600` });
  const conn = `sim://${relative(process.cwd(), dir) || '.'}`;
  console.log(`serial line:    ${pair.host} at 921600 baud; try  npx dl7450 inspect ${conn}  or  npx dl7450 kv list ${conn}`);
} catch (e) {
  console.log(`serial line:    not served (${(e as Error).message})`);
}
console.log(Number.isFinite(runFor) ? `running for ${runFor} ms` : 'running; Ctrl-C to stop (data written by the app survives the next npm start)');
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  dock.shutdown();
  pair?.close();
  console.log('dock stopped cleanly');
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await dock.run(runFor);
stop();
