// The PostgreSQL schema as numbered migrations, applied in order by
// `dl7450 db migrate` (one transaction, under an advisory lock so that two
// stations migrating at once apply each step once). Documented in POSTGRES.md.
// Kept in TypeScript, not .sql files, so the tool carries it when bundled.

import pg from 'pg';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'token pool, stations, audit, dock images',
    sql: `
CREATE TABLE stations (
  name        text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 128),
  first_seen  bigint NOT NULL,
  last_seen   bigint NOT NULL
);
CREATE TABLE tokens (
  id            text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._:-]{1,128}$'),
  value         text NOT NULL,
  secret_digest text NOT NULL UNIQUE,
  state         text NOT NULL CHECK (state IN ('free', 'reserved', 'used')),
  dock_id       text COLLATE "C",
  station       text,
  reserved_at   bigint,
  used_at       bigint,
  flagged       text,
  CHECK ((state = 'free') = (dock_id IS NULL)),
  CHECK (state = 'reserved' OR flagged IS NULL)
);
CREATE UNIQUE INDEX tokens_dock ON tokens (dock_id) WHERE dock_id IS NOT NULL;
CREATE INDEX tokens_free ON tokens (id) WHERE state = 'free';
CREATE INDEX tokens_reserved ON tokens (station, reserved_at) WHERE state = 'reserved';
CREATE TABLE audit (
  seq              bigserial PRIMARY KEY,
  dock_id          text COLLATE "C" NOT NULL,
  token_id         text COLLATE "C" NOT NULL,
  image_digest     text NOT NULL CHECK (image_digest ~ '^([0-9a-f]{2}){1,64}$'),
  station          text NOT NULL,
  started_at       bigint NOT NULL,
  finished_at      bigint NOT NULL,
  firmware_version text NOT NULL,
  locked           boolean NOT NULL,
  source           text NOT NULL CHECK (source IN ('provision', 'reconcile', 'sync')),
  UNIQUE (dock_id, finished_at, token_id, image_digest, station, started_at, firmware_version, locked, source)
);
CREATE INDEX audit_time ON audit (finished_at, dock_id, seq);
CREATE INDEX audit_token ON audit (token_id);
CREATE TABLE dock_images (
  dock_id      text COLLATE "C" NOT NULL,
  image_digest text NOT NULL,
  first_at     bigint NOT NULL,
  last_at      bigint NOT NULL,
  PRIMARY KEY (dock_id, image_digest)
);`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;
/** pg_advisory_xact_lock key: "DL7450" in ASCII, so other applications' locks don't collide. */
const MIGRATE_LOCK = 0x444c37343530;

/** Applies the missing migrations in one transaction. Returns the version found and the versions applied. */
export async function applyMigrations(client: pg.ClientBase, now = Date.now()): Promise<{ from: number; applied: number[] }> {
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS dl7450_schema (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM dl7450_schema');
    const from = rows[0].v ?? 0;
    if (from > SCHEMA_VERSION) throw new SchemaError(`the database has dl7450 schema ${from}, newer than this dl7450 knows (${SCHEMA_VERSION}): update dl7450`);
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (m.version <= from) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO dl7450_schema (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return { from, applied };
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

/** The schema version in the database (0: none), without changing anything. */
export async function schemaVersion(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ t: string | null }>("SELECT to_regclass('dl7450_schema')::text AS t");
  if (rows[0].t === null) return 0;
  const r = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM dl7450_schema');
  return r.rows[0].v ?? 0;
}

export class SchemaError extends Error {}
