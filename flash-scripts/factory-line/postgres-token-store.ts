// The token pool and audit on PostgreSQL: stations on any number of hosts
// share one pool. Schema: postgres-schema.ts (applied by `dl7450 db migrate`),
// documented in POSTGRES.md.
//
// Every state change is one transaction whose deciding reads take row locks
// (`FOR UPDATE`; reservation `FOR UPDATE SKIP LOCKED`, so stations never wait
// on each other's free token and never take the same one). A lost connection
// (a server restart, a failover) retries the whole transaction until
// `retryMs`: each step is written so that running it again after a commit
// whose answer was lost gives the same outcome, never a second token.

import pg from 'pg';
import {
  TokenPoolError,
  checkImport,
  checkProof,
  checkedAudit,
  describe,
  flagProblem,
  idProblem,
  listed,
  need,
  secretDigest,
  stationProblem,
  timeProblem,
  type AuditFilter,
  type AuditRecord,
  type PoolStatus,
  type TokenRecord,
} from './token-pool.ts';
import { SCHEMA_VERSION, schemaVersion } from './postgres-schema.ts';
import type { OpenStoreOptions, Reservation, TokenStore } from './token-store.ts';

type Client = pg.PoolClient;

const RETRY_MS = 60_000;
/** Connection lost or refused, server shutting down or starting, failover: worth another attempt. */
const RETRY_SQLSTATES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '53300', '40001', '40P01']);
const RETRY_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/** `postgres://user:secret@host/db` → `postgres://user@host/db`: printable, never the password; what the URL leaves out is shown as PG* gives it. */
export function printableUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TokenPoolError('malformed', `--db ${url.replace(/:[^:@/]*@/, ':***@')} is not a valid postgres:// URL (postgres://user@host:5432/database)`);
  }
  const env = process.env;
  const user = decodeURIComponent(u.username) || env.PGUSER || env.USER || '';
  const host = u.hostname || env.PGHOST || 'localhost';
  const port = u.port || env.PGPORT || '5432';
  const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || env.PGDATABASE || user;
  return `postgres://${user ? `${encodeURIComponent(user)}@` : ''}${host.includes(':') ? `[${host}]` : host}:${port}/${encodeURIComponent(db)}`;
}

function lostConnection(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  if (typeof err?.code === 'string' && (RETRY_SQLSTATES.has(err.code) || RETRY_ERRNOS.has(err.code))) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|terminating connection/i.test(String(err?.message ?? ''));
}

const int = (v: unknown) => (v === null || v === undefined ? undefined : Number(v));

interface TokenRow {
  id: string;
  value: string;
  state: TokenRecord['state'];
  dock_id: string | null;
  station: string | null;
  reserved_at: string | null;
  used_at: string | null;
  flagged: string | null;
}

function tokenRecord(r: TokenRow): TokenRecord {
  const out: TokenRecord = { id: r.id, value: r.value, state: r.state };
  if (r.dock_id !== null) out.dockId = r.dock_id;
  if (r.station !== null) out.station = r.station;
  if (r.reserved_at !== null) out.reservedAt = int(r.reserved_at);
  if (r.used_at !== null) out.usedAt = int(r.used_at);
  if (r.flagged !== null) out.flagged = r.flagged;
  return out;
}

interface AuditRow {
  dock_id: string;
  token_id: string;
  image_digest: string;
  station: string;
  started_at: string;
  finished_at: string;
  firmware_version: string;
  locked: boolean;
  source: AuditRecord['source'];
}

const auditRecord = (r: AuditRow): AuditRecord => ({
  dockId: r.dock_id,
  tokenId: r.token_id,
  imageDigest: r.image_digest,
  station: r.station,
  startedAt: Number(r.started_at),
  finishedAt: Number(r.finished_at),
  firmwareVersion: r.firmware_version,
  locked: r.locked,
  source: r.source,
});

const TOKEN_COLUMNS = 'id, value, state, dock_id, station, reserved_at, used_at, flagged';
const AUDIT_COLUMNS = 'dock_id, token_id, image_digest, station, started_at, finished_at, firmware_version, locked, source';

export class PostgresTokenStore implements TokenStore {
  readonly backend = 'postgres' as const;
  private closed = false;

  private constructor(
    readonly where: string,
    private readonly pool: pg.Pool,
    private readonly retryMs: number,
    private readonly log: (line: string) => void,
  ) {}

  static async open(url: string, options: OpenStoreOptions = {}): Promise<PostgresTokenStore> {
    const where = printableUrl(url);
    const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 5000, idleTimeoutMillis: 10_000, application_name: 'dl7450' });
    // An idle connection the server dropped (a restart): the next query opens a new one.
    pool.on('error', () => {});
    const store = new PostgresTokenStore(where, pool, options.retryMs ?? RETRY_MS, options.log ?? ((l) => console.error(l)));
    try {
      const version = await store.run('reading the schema version', false, (c) => schemaVersion(c));
      if (version === 0) throw new TokenPoolError('not-found', `no dl7450 schema in ${where}: create it with dl7450 db migrate --to ${where}`);
      if (version > SCHEMA_VERSION) throw new TokenPoolError('db', `${where} has dl7450 schema ${version}, newer than this dl7450 understands (${SCHEMA_VERSION}): update dl7450 on this station`);
      if (version < SCHEMA_VERSION) throw new TokenPoolError('db', `${where} has dl7450 schema ${version}; this dl7450 needs ${SCHEMA_VERSION}: run dl7450 db migrate --to ${where}`);
    } catch (e) {
      await pool.end().catch(() => {});
      throw e;
    }
    return store;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  async import(tokens: { id: string; value: string }[]): Promise<{ imported: number }> {
    checkImport(tokens);
    const ids = tokens.map((t) => t.id);
    const digests = tokens.map((t) => secretDigest(t.value));
    return this.run('importing tokens', true, async (c, attempt) => {
      // A retry after a commit whose answer was lost finds exactly this batch: done.
      if (attempt > 0) {
        const { rows } = await c.query<{ n: string }>('SELECT count(*) AS n FROM tokens t JOIN unnest($1::text[], $2::text[]) AS b(id, d) ON t.id = b.id AND t.secret_digest = b.d', [ids, digests]);
        if (Number(rows[0].n) === tokens.length && tokens.length > 0) return { imported: tokens.length };
      }
      const seenIds = new Set<string>();
      const seenDigests = new Set<string>();
      const duplicates = new Set<string>();
      tokens.forEach((t, i) => {
        if (seenIds.has(t.id) || seenDigests.has(digests[i])) duplicates.add(t.id);
        seenIds.add(t.id);
        seenDigests.add(digests[i]);
      });
      const { rows } = await c.query<{ id: string }>('SELECT b.id FROM unnest($1::text[], $2::text[]) AS b(id, d) WHERE EXISTS (SELECT 1 FROM tokens t WHERE t.id = b.id OR t.secret_digest = b.d)', [ids, digests]);
      for (const r of rows) duplicates.add(r.id);
      if (duplicates.size) {
        const list = ids.filter((id) => duplicates.has(id));
        throw new TokenPoolError('duplicate', `refused: ${list.length} duplicate token${list.length === 1 ? '' : 's'} (an id or a secret already in the batch or the pool), nothing imported: ${listed(list)}`);
      }
      await c.query("INSERT INTO tokens (id, value, secret_digest, state) SELECT * , 'free' FROM unnest($1::text[], $2::text[], $3::text[])", [ids, tokens.map((t) => t.value), digests]);
      return { imported: tokens.length };
    });
  }

  async status(): Promise<PoolStatus> {
    return this.run('reading the pool status', false, async (c) => {
      const { rows } = await c.query(
        "SELECT count(*) AS total, count(*) FILTER (WHERE state = 'free') AS free, count(*) FILTER (WHERE state = 'reserved') AS reserved, count(*) FILTER (WHERE state = 'used') AS used, count(*) FILTER (WHERE flagged IS NOT NULL) AS flagged FROM tokens",
      );
      const r = rows[0];
      return { total: Number(r.total), free: Number(r.free), reserved: Number(r.reserved), used: Number(r.used), flagged: Number(r.flagged) };
    });
  }

  async reserve(dockId: string, station: string, now = Date.now()): Promise<Reservation> {
    need(idProblem(dockId, 'dock id'));
    need(stationProblem(station));
    need(timeProblem(now, 'now'));
    return this.run(`reserving a token for dock ${dockId}`, true, async (c) => {
      const held = await c.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE dock_id = $1`, [dockId]);
      if (held.rows.length) {
        const r = held.rows[0];
        // Ours from an attempt whose commit answer was lost (same station, same instant): still fresh.
        const fresh = r.state === 'reserved' && r.station === station && Number(r.reserved_at) === now;
        return { id: r.id, value: r.value, fresh };
      }
      // The first free token no other transaction holds: stations never wait on, or share, one.
      const free = await c.query<{ id: string; value: string }>("SELECT id, value FROM tokens WHERE state = 'free' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED");
      if (!free.rows.length) {
        const s = await this.counts(c);
        throw new TokenPoolError('empty', `no free tokens in ${this.where} (${s.total} tokens: ${s.reserved} reserved, ${s.used} used${s.free ? `, ${s.free} being taken by other stations` : ''}): import more with dl7450 tokens import <file> --db ${this.where}`);
      }
      const { id, value } = free.rows[0];
      // A second station reserving for this same dock at the same moment fails here (tokens_dock) and retries, then finds this token.
      await c.query("UPDATE tokens SET state = 'reserved', dock_id = $2, station = $3, reserved_at = $4 WHERE id = $1", [id, dockId, station, now]);
      await this.seen(c, station, now);
      return { id, value, fresh: true };
    });
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    return this.run(`reading token ${id}`, false, async (c) => {
      const { rows } = await c.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = $1`, [id]);
      return rows.length ? tokenRecord(rows[0]) : undefined;
    });
  }

  async tokenOfDock(dockId: string): Promise<TokenRecord | undefined> {
    return this.run(`reading the token of dock ${dockId}`, false, async (c) => {
      const { rows } = await c.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE dock_id = $1`, [dockId]);
      return rows.length ? tokenRecord(rows[0]) : undefined;
    });
  }

  async markUsed(tokenId: string, dockId: string, audit: AuditRecord, proof: string): Promise<void> {
    const a = checkedAudit(audit);
    if (a.tokenId !== tokenId || a.dockId !== dockId) {
      throw new TokenPoolError('malformed', `the audit record is for token ${a.tokenId} on dock ${a.dockId}, not token ${tokenId} on dock ${dockId}`);
    }
    await this.run(`marking token ${tokenId} used by dock ${dockId}`, true, async (c) => {
      const r = await this.locked(c, tokenId);
      if (r.dockId !== dockId || r.state === 'free') {
        throw new TokenPoolError('state', `token ${tokenId} is ${describe(r)}, not reserved for dock ${dockId}: nothing changed; check which token the dock holds (dl7450 tokens status --db ${this.where})`);
      }
      checkProof(tokenId, dockId, r.value, proof);
      if (r.state === 'reserved') await c.query("UPDATE tokens SET state = 'used', used_at = $2, flagged = NULL WHERE id = $1", [tokenId, a.finishedAt]);
      await this.addAudit(c, a);
    });
  }

  async adopt(tokenId: string, dockId: string, audit: AuditRecord, proof: string): Promise<'adopted' | 'already-used' | 'foreign'> {
    const a = checkedAudit(audit);
    if (a.tokenId !== tokenId || a.dockId !== dockId) {
      throw new TokenPoolError('malformed', `the audit record is for token ${a.tokenId} on dock ${a.dockId}, not token ${tokenId} on dock ${dockId}`);
    }
    return this.run(`adopting token ${tokenId} for dock ${dockId}`, true, async (c) => {
      const found = await c.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = $1 FOR UPDATE`, [tokenId]);
      if (!found.rows.length) {
        await this.addAudit(c, a);
        return 'foreign' as const;
      }
      const r = tokenRecord(found.rows[0]);
      if (r.dockId !== undefined && r.dockId !== dockId) {
        throw new TokenPoolError('state', `dock ${dockId} holds token ${tokenId}, which this database has as ${describe(r)}: two docks may hold it; check both docks before anything else`);
      }
      checkProof(tokenId, dockId, r.value, proof);
      if (r.state === 'used') return 'already-used' as const;
      const held = await c.query<{ id: string }>('SELECT id FROM tokens WHERE dock_id = $1 AND id <> $2', [dockId, tokenId]);
      if (held.rows.length) throw new TokenPoolError('state', `dock ${dockId} holds token ${tokenId} but this database has it holding ${held.rows[0].id}: check the dock, then release ${held.rows[0].id}`);
      await c.query("UPDATE tokens SET state = 'used', dock_id = $2, station = coalesce(station, $3), used_at = $4, flagged = NULL WHERE id = $1", [tokenId, dockId, a.station, a.finishedAt]);
      await this.addAudit(c, a);
      return 'adopted' as const;
    });
  }

  async release(tokenId: string, dockId: string): Promise<void> {
    await this.run(`releasing token ${tokenId} from dock ${dockId}`, true, async (c, attempt) => {
      const r = await this.locked(c, tokenId);
      if (attempt > 0 && r.state === 'free') return; // the earlier attempt committed
      if (r.state !== 'reserved' || r.dockId !== dockId) {
        const why = r.state === 'used' ? 'a used token is in a dock and never goes back to the pool' : `not reserved for dock ${dockId}`;
        throw new TokenPoolError('state', `token ${tokenId} is ${describe(r)}: ${why}; nothing changed`);
      }
      await c.query("UPDATE tokens SET state = 'free', dock_id = NULL, station = NULL, reserved_at = NULL, flagged = NULL WHERE id = $1", [tokenId]);
    });
  }

  async flag(tokenId: string, why: string): Promise<void> {
    need(flagProblem(why));
    await this.run(`flagging token ${tokenId}`, true, async (c) => {
      const r = await this.locked(c, tokenId);
      if (r.state !== 'reserved') throw new TokenPoolError('state', `token ${tokenId} is ${describe(r)}: only a reservation can be flagged`);
      await c.query('UPDATE tokens SET flagged = $2 WHERE id = $1', [tokenId, why.trim()]);
    });
  }

  async reservations(filter: { station?: string } = {}): Promise<TokenRecord[]> {
    return this.run('listing reservations', false, async (c) => {
      const { rows } = await c.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE state = 'reserved' AND ($1::text IS NULL OR station = $1) ORDER BY reserved_at, id`, [filter.station ?? null]);
      return rows.map(tokenRecord);
    });
  }

  async recordAudit(audit: AuditRecord): Promise<void> {
    const a = checkedAudit(audit);
    await this.run(`recording the audit of dock ${a.dockId}`, true, (c) => this.addAudit(c, a));
  }

  async audit(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    if (filter.since !== undefined) need(timeProblem(filter.since, 'since'));
    const digest = filter.imageDigest?.toLowerCase();
    if (digest !== undefined && !/^[0-9a-f]*$/.test(digest)) return []; // no stored digest has other characters
    return this.run('querying the audit', false, async (c) => {
      const { rows } = await c.query<AuditRow>(
        `SELECT ${AUDIT_COLUMNS} FROM audit WHERE ($1::text IS NULL OR dock_id = $1) AND ($2::text IS NULL OR token_id = $2) AND ($3::text IS NULL OR starts_with(image_digest, $3)) AND ($4::bigint IS NULL OR finished_at >= $4) ORDER BY finished_at, dock_id, seq`,
        [filter.dockId ?? null, filter.tokenId ?? null, digest ?? null, filter.since ?? null],
      );
      return rows.map(auditRecord);
    });
  }

  async exportAll(): Promise<{ tokens: TokenRecord[]; audit: AuditRecord[] }> {
    return this.run('exporting the pool', false, async (c) => {
      await c.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ'); // one snapshot for both tables
      const t = await c.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY id`);
      const a = await c.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit ORDER BY finished_at, dock_id, seq`);
      return { tokens: t.rows.map(tokenRecord), audit: a.rows.map(auditRecord) };
    }, true);
  }

  /**
   * Copies an exported pool (from LMDB) into this empty one, in one
   * transaction: every token with its state, every audit record. A target
   * that already holds tokens or audit refuses, unless it holds exactly this
   * pool (a migration whose answer was lost, run again).
   */
  async importAll(data: { tokens: TokenRecord[]; audit: AuditRecord[] }, now = Date.now()): Promise<{ tokens: number; audit: number }> {
    const audit = data.audit.map(checkedAudit);
    return this.run('migrating the pool', true, async (c) => {
      const there = await c.query<{ t: string; a: string }>('SELECT (SELECT count(*) FROM tokens) AS t, (SELECT count(*) FROM audit) AS a');
      if (Number(there.rows[0].t) || Number(there.rows[0].a)) {
        const mine = await this.exportIn(c);
        if (sameExport(mine, { tokens: data.tokens, audit })) return { tokens: data.tokens.length, audit: audit.length };
        throw new TokenPoolError('state', `${this.where} already holds ${there.rows[0].t} tokens and ${there.rows[0].a} audit records: migrate into an empty database (nothing was copied)`);
      }
      const T = data.tokens;
      const col = <K extends keyof TokenRecord>(k: K) => T.map((t) => t[k] ?? null);
      await c.query(
        `INSERT INTO tokens (id, value, secret_digest, state, dock_id, station, reserved_at, used_at, flagged)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[])`,
        [col('id'), col('value'), T.map((t) => secretDigest(t.value)), col('state'), col('dockId'), col('station'), col('reservedAt'), col('usedAt'), col('flagged')],
      );
      for (const a of audit) await this.addAudit(c, a);
      const stations = new Set([...T.map((t) => t.station).filter((s): s is string => s !== undefined), ...audit.map((a) => a.station)]);
      for (const s of stations) await this.seen(c, s, now);
      return { tokens: T.length, audit: audit.length };
    });
  }

  // --- inside a transaction ---

  private async exportIn(c: Client): Promise<{ tokens: TokenRecord[]; audit: AuditRecord[] }> {
    const t = await c.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens ORDER BY id`);
    const a = await c.query<AuditRow>(`SELECT ${AUDIT_COLUMNS} FROM audit ORDER BY finished_at, dock_id, seq`);
    return { tokens: t.rows.map(tokenRecord), audit: a.rows.map(auditRecord) };
  }

  private async counts(c: Client): Promise<PoolStatus> {
    const { rows } = await c.query("SELECT count(*) AS total, count(*) FILTER (WHERE state = 'free') AS free, count(*) FILTER (WHERE state = 'reserved') AS reserved, count(*) FILTER (WHERE state = 'used') AS used, count(*) FILTER (WHERE flagged IS NOT NULL) AS flagged FROM tokens");
    const r = rows[0];
    return { total: Number(r.total), free: Number(r.free), reserved: Number(r.reserved), used: Number(r.used), flagged: Number(r.flagged) };
  }

  /** The token's row, locked until the transaction ends, or not-found. */
  private async locked(c: Client, tokenId: string): Promise<TokenRecord> {
    const { rows } = await c.query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM tokens WHERE id = $1 FOR UPDATE`, [tokenId]);
    if (!rows.length) throw new TokenPoolError('not-found', `no token ${tokenId} in ${this.where}`);
    return tokenRecord(rows[0]);
  }

  private async addAudit(c: Client, a: AuditRecord): Promise<void> {
    await c.query(
      `INSERT INTO audit (${AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
      [a.dockId, a.tokenId, a.imageDigest, a.station, a.startedAt, a.finishedAt, a.firmwareVersion, a.locked, a.source],
    );
    await c.query(
      'INSERT INTO dock_images (dock_id, image_digest, first_at, last_at) VALUES ($1, $2, $3, $3) ON CONFLICT (dock_id, image_digest) DO UPDATE SET first_at = least(dock_images.first_at, excluded.first_at), last_at = greatest(dock_images.last_at, excluded.last_at)',
      [a.dockId, a.imageDigest, a.finishedAt],
    );
  }

  private async seen(c: Client, station: string, now: number): Promise<void> {
    await c.query('INSERT INTO stations (name, first_seen, last_seen) VALUES ($1, $2, $2) ON CONFLICT (name) DO UPDATE SET last_seen = greatest(stations.last_seen, excluded.last_seen)', [station, now]);
  }

  /**
   * Runs `fn` in one transaction (`write`: it may change rows; reads run in
   * one too, for one snapshot), retrying the whole transaction while the
   * server is unreachable, up to retryMs. Errors leave as TokenPoolError.
   */
  private async run<T>(what: string, write: boolean, fn: (c: Client, attempt: number) => Promise<T>, ownIsolation = false): Promise<T> {
    if (this.closed) throw new TokenPoolError('db', `token database ${this.where} is closed`);
    const deadline = Date.now() + this.retryMs;
    let told = false;
    for (let attempt = 0; ; attempt++) {
      let client: Client | undefined;
      let broken = false;
      // A connection that drops while checked out (between two queries of this transaction) emits 'error' on the
      // client, which would end the process unheard: the next query fails instead and is retried below.
      const dropped = () => void (broken = true);
      try {
        client = await this.pool.connect();
        client.on('error', dropped);
        await client.query(write || ownIsolation ? 'BEGIN' : 'BEGIN READ ONLY');
        const result = await fn(client, attempt);
        await client.query('COMMIT');
        if (told) this.log(`PostgreSQL ${this.where} answers again: ${what} done`);
        return result;
      } catch (e) {
        broken = broken || lostConnection(e);
        if (client && !broken) await client.query('ROLLBACK').catch(() => {});
        // Two stations reserving for one dock at once: the loser retries and finds the winner's token.
        const race = (e as { code?: string }).code === '23505' && (e as { constraint?: string }).constraint === 'tokens_dock';
        if ((broken || race) && Date.now() < deadline) {
          if (broken && !told) {
            this.log(`PostgreSQL ${this.where} unreachable while ${what} (${(e as Error).message || (e as { code?: string }).code}): retrying for up to ${Math.round(this.retryMs / 1000)} s`);
            told = true;
          }
          await new Promise((r) => setTimeout(r, race ? 5 : Math.min(2000, 100 * 2 ** Math.min(attempt, 5))));
          continue;
        }
        throw this.poolError(e, what, broken, write);
      } finally {
        client?.removeListener('error', dropped);
        client?.release(broken ? true : undefined);
      }
    }
  }

  private poolError(e: unknown, what: string, broken: boolean, write: boolean): TokenPoolError {
    if (e instanceof TokenPoolError) return e;
    const err = e as { code?: string; message?: string };
    const message = String(err?.message ?? e) || String(err?.code);
    if (broken) {
      const outcome = write ? 'the step may or may not have committed' : 'nothing was changed';
      return new TokenPoolError('unreachable', `PostgreSQL ${this.where} did not answer for ${Math.round(this.retryMs / 1000)} s while ${what} (${message}): ${outcome}; check the server (pg_isready), then run again (the next run reconciles from the docks)`);
    }
    if (err?.code === '23505' && /^tokens_(pkey|secret_digest_key)$/.test(String((e as { constraint?: string }).constraint))) {
      return new TokenPoolError('duplicate', `refused: another station imported some of these tokens at the same moment (${message}); nothing imported: check with dl7450 tokens status --db ${this.where}`);
    }
    if (err?.code === '53100') return new TokenPoolError('db-full', `PostgreSQL ${this.where} is out of disk space: ${what} failed and nothing changed (${message})`);
    if (err?.code === '28P01' || err?.code === '28000') return new TokenPoolError('db', `PostgreSQL ${this.where} refused the login (${message}): check the user and password (PGUSER, PGPASSWORD or the URL)`);
    if (err?.code === '3D000') return new TokenPoolError('not-found', `PostgreSQL ${this.where}: ${message}: create the database, then dl7450 db migrate --to ${this.where}`);
    return new TokenPoolError('db', `token database ${this.where}: ${what} failed: ${message}`);
  }
}

function sameExport(x: { tokens: TokenRecord[]; audit: AuditRecord[] }, y: { tokens: TokenRecord[]; audit: AuditRecord[] }): boolean {
  const key = (v: unknown) => JSON.stringify(v, Object.keys(v as object).sort());
  const set = (list: unknown[]) => list.map(key).sort().join('\n');
  return set(x.tokens) === set(y.tokens) && set(x.audit) === set(y.audit);
}
