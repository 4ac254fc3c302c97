// `dl7450 db migrate --to postgres://… [--from <LMDB pool dir>] [--json]`:
// creates or updates the PostgreSQL schema (postgres-schema.ts), then, given
// --from, copies an LMDB pool into it: every token with its state and every
// audit record, in one transaction, into an empty database only.

import pg from 'pg';
import { flagText, parseArgs, UsageError } from '../cli-args.ts';
import { applyMigrations, SCHEMA_VERSION, SchemaError } from './postgres-schema.ts';
import { PostgresTokenStore, printableUrl } from './postgres-token-store.ts';
import { isPostgresUrl } from './token-store.ts';
import { TokenPool, TokenPoolError } from './token-pool.ts';

export const DB_USAGE = `  dl7450 db migrate --to postgres://user@host:5432/db [--from <LMDB pool dir>] [--json]   (PG* environment variables fill what the URL leaves out)`;

export interface MigrateResult {
  to: string;
  schema: { from: number; to: number; applied: number[] };
  copied: { tokens: number; audit: number } | null;
}

export async function migrateDatabase(to: string, from?: string): Promise<MigrateResult> {
  const where = printableUrl(to);
  // The source first: a mistyped --from must not leave a half-made target.
  const source = from === undefined ? undefined : openSource(from);
  try {
    const client = new pg.Client({ connectionString: to, connectionTimeoutMillis: 10_000, application_name: 'dl7450 migrate' });
    client.on('error', () => {});
    let schema: { from: number; applied: number[] };
    try {
      await client.connect();
      schema = await applyMigrations(client);
    } catch (e) {
      if (e instanceof SchemaError) throw new TokenPoolError('db', `${where}: ${e.message}`);
      throw new TokenPoolError('db', `PostgreSQL ${where}: migrating the schema failed, nothing changed: ${(e as Error).message || (e as { code?: string }).code}`);
    } finally {
      await client.end().catch(() => {});
    }
    let copied: MigrateResult['copied'] = null;
    if (source) {
      const store = await PostgresTokenStore.open(to);
      try {
        copied = await store.importAll(source.exportAll());
      } finally {
        await store.close();
      }
    }
    return { to: where, schema: { ...schema, to: SCHEMA_VERSION }, copied };
  } finally {
    source?.close();
  }
}

function openSource(dir: string): TokenPool {
  try {
    return TokenPool.open(dir, { create: false });
  } catch (e) {
    if (e instanceof TokenPoolError && e.code === 'not-found') throw new TokenPoolError('not-found', `--from ${dir}: no LMDB token pool there (a directory holding data.mdb): check the path; nothing was migrated`);
    throw e;
  }
}

export async function dbCommand(sub: string | undefined, argv: string[], out: (s: string) => void): Promise<number> {
  if (sub !== 'migrate') throw new UsageError(sub ? `unknown command: db ${sub}` : 'db needs a command: migrate');
  const a = parseArgs(argv, ['from', 'to']);
  for (const name of a.flags.keys()) if (name !== 'from' && name !== 'to' && name !== 'json') throw new UsageError(`db migrate: unknown option --${name}`);
  if (a.positional.length) throw new UsageError(`db migrate: unexpected ${a.positional.join(' ')}`);
  const to = flagText(a, 'to');
  const from = flagText(a, 'from');
  if (!to || !isPostgresUrl(to)) throw new UsageError('db migrate needs --to postgres://user@host:5432/database');
  if (from !== undefined && isPostgresUrl(from)) throw new UsageError('db migrate --from takes an LMDB pool directory (the PostgreSQL schema is migrated in place with --to)');
  const r = await migrateDatabase(to, from);
  if (a.flags.has('json')) out(JSON.stringify(r));
  else {
    out(r.schema.applied.length ? `${r.to}: schema ${r.schema.from} → ${r.schema.to} (applied ${r.schema.applied.join(', ')})` : `${r.to}: schema ${r.schema.to}, up to date`);
    if (r.copied) out(`copied ${from}: ${r.copied.tokens} token${r.copied.tokens === 1 ? '' : 's'} (with their states) and ${r.copied.audit} audit record${r.copied.audit === 1 ? '' : 's'}`);
  }
  return 0;
}
