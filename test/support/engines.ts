// The engines device code is tested on: QuickJS always, JerryScript 3.0 (the
// dock's engine) when its kit and a C compiler are here; otherwise one line
// says why it was skipped.

import { EngineHost, type EngineOptions } from '../../simulator/engine/engine-host.ts';
import { JerryHost, jerryUnavailable } from '../../simulator/engine/jerryscript/jerry-host.ts';

export interface TestEngine {
  name: 'quickjs' | 'jerryscript';
  start(options: EngineOptions): Promise<{ eval(code: string, filename?: string, watchdogMs?: number): unknown; dispose(): void }>;
}

const skipped = jerryUnavailable();
export const JERRY_SKIP = skipped;

let told = false;

/** The engines to run `what` on; the first call in a file says once why JerryScript is skipped. */
export function testEngines(what: string): TestEngine[] {
  if (skipped && !told) console.log(`skipped on JerryScript (${what}, and the rest of this file): ${skipped}`);
  told = true;
  const out: TestEngine[] = [{ name: 'quickjs', start: (o) => EngineHost.start(o) }];
  if (!skipped) out.push({ name: 'jerryscript', start: (o) => JerryHost.start(o) });
  return out;
}
