// `npm run bench [-- --json] [NAME…]`: runs the named benchmarks (all when
// none is named). With --json, one JSON object per line, each with `bench`;
// without, a readable table per benchmark.
import { runtimeBenches, type BenchLine } from './runtime.ts';
import { factoryBenches } from './factory.ts';
import { apiBenches } from './api.ts';
import { bundleSize, engineBoot, engineOps } from './engine.ts';
import { linkThroughput } from './link.ts';
import { factoryLineBench } from './factory-line.ts';
import { factoryPoolBench } from './factory-pool.ts';
import { factoryCrashBench } from './factory-crash.ts';
import { cliStartup } from './cli.ts';
import { engineTimers } from './engine-timers.ts';

const registry: Record<string, () => BenchLine[] | Promise<BenchLine[]>> = { ...runtimeBenches, ...factoryBenches, ...apiBenches, 'bundle.size': bundleSize, 'engine.boot': engineBoot, 'engine.ops': engineOps, 'link.throughput': linkThroughput, 'factory.line': factoryLineBench, 'cli.startup': cliStartup, 'factory.pool': factoryPoolBench, 'factory.crash': factoryCrashBench, 'engine.timers': engineTimers };
const args = process.argv.slice(2);
const json = args.includes('--json');
const names = args.filter((a) => !a.startsWith('--'));
for (const name of names) {
  if (!registry[name]) {
    console.error(`unknown benchmark "${name}". Known: ${Object.keys(registry).join(', ')}`);
    process.exit(2);
  }
}
for (const name of names.length ? names : Object.keys(registry)) {
  const lines = await registry[name]();
  if (json) {
    for (const line of lines) console.log(JSON.stringify(line));
    continue;
  }
  console.log(`\n== ${name}`);
  const flat = lines.map((l) => flatten(l));
  const cols = [...new Set(flat.flatMap((l) => Object.keys(l)))].filter((c) => c !== 'bench' && c !== 'heapMethod' && !c.startsWith('floor.note'));
  const width = cols.map((c) => Math.max(c.length, ...flat.map((l) => String(l[c] ?? '').length)));
  console.log(cols.map((c, i) => c.padEnd(width[i])).join('  '));
  for (const l of flat) console.log(cols.map((c, i) => String(l[c] ?? '').padEnd(width[i])).join('  '));
}

function flatten(o: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = Array.isArray(v) ? v.join('; ') : v;
  }
  return out;
}
