// Every bench `npm run bench` and `npm run figures` know, by name.
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

export const registry: Record<string, () => BenchLine[] | Promise<BenchLine[]>> = { ...runtimeBenches, ...factoryBenches, ...apiBenches, 'bundle.size': bundleSize, 'engine.boot': engineBoot, 'engine.ops': engineOps, 'link.throughput': linkThroughput, 'factory.line': factoryLineBench, 'cli.startup': cliStartup, 'factory.pool': factoryPoolBench, 'factory.crash': factoryCrashBench, 'engine.timers': engineTimers };
