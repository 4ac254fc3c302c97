// Randomized, seeded property tests of the runtime store against a model:
// random geometries and workloads (tiny 0-4 byte values that straddle page
// boundaries, medium and multi-sector values, deletes, flushes, remounts)
// with power cuts of every fault kind of the simulated flash at random
// operations, cuts during the first writes after a recovery, and a check
// after every recovery. Also the soak property of issue 12 (the restart
// property is in runtime-regressions.test.ts).

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomCutRun } from './support/power-cut-sweep.ts';

const prop = suite('runtime store: randomized workloads x random cuts of every fault kind');

prop('120 seeds: every recovery holds the committed writes and an in-order prefix of the rest, takes a new write, and keeps it', () => {
  let cuts = 0;
  let doubles = 0;
  // 40 seeds missed an aborted streamed value that FOLLOWS vouched for (review 4: first at seed 45).
  for (let seed = 1; seed <= 120; seed++) {
    const s = randomCutRun(seed, 600, 40);
    cuts += s.cuts;
    doubles += s.doubleFaults;
  }
  assert.ok(cuts > 900, `${cuts} cuts`);
  assert.ok(doubles > 150, `${doubles} double faults`);
});

prop('soak (reduced): 60,000 operations with a cut about every 1,000, on a small partition', () => {
  const s = randomCutRun(1001, 60_000, 1000);
  assert.ok(s.cuts >= 30, `${s.cuts} cuts`);
});

prop.run();
