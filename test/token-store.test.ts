// The shared token-store suite on the LMDB back end (PostgreSQL: postgres-pool.test.ts).
import { suite } from 'uvu';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTokenStore } from '../flash-scripts/factory-line/token-store.ts';
import { tokenStoreSuite } from './support/token-store-suite.ts';

const work = mkdtempSync(join(tmpdir(), 'dl7450-store-'));
let n = 0;
const test = suite('token store, one interface: LMDB');
test.after(() => rmSync(work, { recursive: true, force: true }));
tokenStoreSuite(test, 'lmdb', () => openTokenStore(join(work, `pool${n++}`)));
test.run();
