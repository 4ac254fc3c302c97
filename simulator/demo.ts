// `npm start`: boots a simulated dock in .dock/ on the built-in factory image,
// runs its app, and keeps it running (printing the app's console) until Ctrl-C.
// A second `npm start` reuses .dock/, so what the app wrote survives.

import { resolve } from 'node:path';
import { SimulatedDock } from '../flash-scripts/sim/simulated-dock.ts';

const dir = resolve(process.env.DL7450_DOCK_DIR ?? resolve(import.meta.dirname, '..', '.dock'));
const runFor = Number(process.env.DL7450_RUN_MS ?? Infinity);
const dock = new SimulatedDock({ dir, log: (line) => console.log(`  app> ${line}`) });
console.log(`DL-7450 simulated dock in ${dir}`);
const { report, splashPath } = await dock.boot();
console.log(`runtime tier:   ${report.runtime}`);
console.log(`factory tier:   ${report.factory}`);
console.log(`ephemeral tier: ${report.ephemeral}`);
for (const f of report.failedApps) console.log(`app fallback:   ${f}`);
console.log(`app:            ${report.appTier ? `running the ${report.appTier} app` : 'none could start'}`);
const screen = dock.screen;
console.log(`screen:         background ${screen.background ? `${screen.background.length} bytes` : 'none'}; text: ${[...screen.textBoxes.values()].map((t) => JSON.stringify(t.text)).join(', ') || 'none'}`);
console.log(`splash: ${splashPath}`);
console.log(Number.isFinite(runFor) ? `running for ${runFor} ms` : 'running; Ctrl-C to stop (data written by the app survives the next npm start)');
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  dock.shutdown();
  console.log('dock stopped cleanly');
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await dock.run(runFor);
stop();
