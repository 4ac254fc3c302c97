// The shared token-store suite on the LMDB back end (PostgreSQL: postgres-pool.test.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTokenStore } from '../flash-scripts/factory-line/token-store.ts';
import { tokenStoreSuite } from './support/token-store-suite.ts';

const work = mkdtempSync(join(tmpdir(), 'dl7450-store-'));
let n = 0;
const test = suite('token store, one interface: LMDB');
test.after(() => rmSync(work, { recursive: true, force: true }));
tokenStoreSuite(test, 'lmdb', () => openTokenStore(join(work, `pool${n++}`)));

test('lmdb: the pool holds secrets: its directory is 0700 and its files 0600 whatever the umask, and a widened file is narrowed on open', async () => {
  const old = process.umask(0o002); // a group-writable umask, as on shared stations
  try {
    const dir = join(work, 'modes', 'pool');
    const s = await openTokenStore(dir);
    await s.import([{ id: 'm1', value: 'secret-m1' }]);
    await s.close();
    assert.is(statSync(dir).mode & 0o777, 0o700);
    assert.is(statSync(join(dir, 'data.mdb')).mode & 0o777, 0o600);
    assert.is(statSync(join(dir, 'lock.mdb')).mode & 0o777, 0o600);
    chmodSync(join(dir, 'data.mdb'), 0o644);
    await (await openTokenStore(dir, { create: false })).close();
    assert.is(statSync(join(dir, 'data.mdb')).mode & 0o777, 0o600);
  } finally {
    process.umask(old);
  }
});
test.run();
