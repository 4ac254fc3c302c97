// The factory line's pool of dock tokens and its provisioning audit, in one
// LMDB environment that several stations (processes) may share. Schema and
// rules: DATABASE.md beside this file.
//
// Every state change runs inside ONE lmdb-js `transactionSync`, and every read
// that decides a change happens inside that callback: lmdb-js then reads
// through the write transaction, which holds LMDB's cross-process write lock
// and sees the newest commit. A read taken before the callback (the cached
// read snapshot) could be stale and hand one token to two stations.

import { chmodSync, existsSync, mkdirSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { open, type Database, type RootDatabase } from 'lmdb';

export type TokenState = 'free' | 'reserved' | 'used';

export interface TokenRecord {
  id: string;
  /** The secret: never print it. */
  value: string;
  state: TokenState;
  dockId?: string;
  station?: string;
  reservedAt?: number;
  usedAt?: number;
  /** Why a reservation could not be reconciled (an operator must look). */
  flagged?: string;
}

export type AuditSource = 'provision' | 'reconcile' | 'sync';

export interface AuditRecord {
  dockId: string;
  tokenId: string;
  /** Hex digest of the factory image written (stored lower-case). */
  imageDigest: string;
  station: string;
  /** ms since the epoch */
  startedAt: number;
  finishedAt: number;
  firmwareVersion: string;
  locked: boolean;
  source: AuditSource;
}

export interface PoolStatus {
  total: number;
  free: number;
  reserved: number;
  used: number;
  flagged: number;
}

export interface AuditFilter {
  dockId?: string;
  tokenId?: string;
  /** A hex digest or a prefix of one (as the fleet table prints 16 digits). */
  imageDigest?: string;
  /** ms since the epoch: records that finished at or after it. */
  since?: number;
}

export interface TokenPoolOptions {
  /** Most bytes the data may occupy (tests use a tiny one to play a full disk). Unset: grow until the disk is full. */
  mapSize?: number;
  /** Create the database if missing (default true); false → TokenPoolError('not-found'). */
  create?: boolean;
}

/** unreachable: a PostgreSQL server that did not answer within the retry time. */
export type TokenPoolErrorCode = 'malformed' | 'duplicate' | 'empty' | 'db-full' | 'state' | 'not-found' | 'db' | 'unreachable';

export class TokenPoolError extends Error {
  constructor(readonly code: TokenPoolErrorCode, message: string) {
    super(message);
    this.name = 'TokenPoolError';
  }
}

// --- what a token id and value may be (shared with token-file.ts) ---

export const MAX_ID_LENGTH = 128;
export const MAX_TOKEN_LENGTH = 4096;
const ID_CHARS = /^[A-Za-z0-9._:-]+$/;

/** Why `id` can't be a token or dock id, or undefined if it can. */
export function idProblem(id: string, what = 'id'): string | undefined {
  if (id.length === 0) return `empty ${what}`;
  if (id.length > MAX_ID_LENGTH) return `${what} is ${id.length} characters long (at most ${MAX_ID_LENGTH})`;
  if (!ID_CHARS.test(id)) return `${what} ${JSON.stringify(id.length > 40 ? `${id.slice(0, 40)}…` : id)} has characters outside A-Z a-z 0-9 . _ : -`;
  return undefined;
}

/** Why `value` can't be a token secret. The value itself is never quoted. */
export function tokenProblem(value: string): string | undefined {
  if (value.length === 0) return 'empty token';
  if (value.length > MAX_TOKEN_LENGTH) return `token is ${value.length} characters long (at most ${MAX_TOKEN_LENGTH})`;
  if (value.trim() !== value) return 'token has leading or trailing whitespace (a spreadsheet export artefact?)';
  return undefined;
}

// --- storage layout ---

const SCHEMA_VERSION = 1;
const MAP_FULL = -30792; // MDB_MAP_FULL
const ENOSPC = 28;
const EFBIG = 27; // the file may not grow (RLIMIT_FSIZE, filesystem limit)
// LMDB turns a short write (the disk filled mid-write) into a bare EIO; a
// failed write (a failing disk) is EIO plus "Attempting to write page …".
const EIO = 5;
const EDQUOT = 122;
const LOW_DISK = 4 * 1024 * 1024;
const TIME_DIGITS = 15;
const MAX_TIME = 10 ** TIME_DIGITS - 1;

const timeKey = (ms: number) => String(ms).padStart(TIME_DIGITS, '0');
/** '/' and '#' can't occur in a dock id, so keys of different docks never collide. */
const auditKey = (a: AuditRecord, n: number) => `${timeKey(a.finishedAt)}/${a.dockId}${n ? `#${n}` : ''}`;
export const secretDigest = (value: string) => createHash('sha256').update(value).digest('hex');

/** Throws unless `proof` (hex, as the dock reported it) is the SHA-256 of the issued secret `value`. */
export function checkProof(tokenId: string, dockId: string, value: string, proof: string): void {
  if (typeof proof !== 'string' || !/^[0-9a-fA-F]{64}$/.test(proof)) throw new TokenPoolError('malformed', `marking token ${tokenId} used needs the dock's proof: the SHA-256 of the token it opened (64 hex digits)`);
  if (proof.toLowerCase() !== secretDigest(value)) {
    throw new TokenPoolError('state', `dock ${dockId} does not prove it holds token ${tokenId}: the token it opened has another digest; nothing changed (check the dock with dl7450 fleet sync)`);
  }
}

export function describe(r: TokenRecord): string {
  if (r.state === 'free') return 'free';
  const when = r.state === 'used' ? r.usedAt : r.reservedAt;
  return `${r.state} by dock ${r.dockId} (station ${r.station}${when !== undefined ? `, ${new Date(when).toISOString()}` : ''})`;
}

export function listed(ids: string[], max = 10): string {
  return ids.slice(0, max).join(', ') + (ids.length > max ? `, … (${ids.length - max} more)` : '');
}

export class TokenPool {
  private closed = false;

  private constructor(
    readonly dir: string,
    private readonly env: RootDatabase,
    private readonly tokens: Database<TokenRecord, string>,
    private readonly free: Database<true, string>,
    private readonly reserved: Database<true, string>,
    private readonly dockToken: Database<string, string>,
    private readonly secrets: Database<string, string>,
    private readonly auditDb: Database<AuditRecord, string>,
    private readonly maxBytes: number | undefined,
  ) {}

  static open(dir: string, options: TokenPoolOptions = {}): TokenPool {
    const { mapSize, create = true } = options;
    if (mapSize !== undefined && !(Number.isSafeInteger(mapSize) && mapSize >= 16 * 1024)) {
      throw new TokenPoolError('malformed', `mapSize ${mapSize}: give a whole number of bytes, at least 16384`);
    }
    if (!create && !existsSync(join(dir, 'data.mdb'))) {
      throw new TokenPoolError('not-found', `no token database in ${dir}: check --db, or create one with dl7450 tokens import <file> --db ${dir}`);
    }
    let env: RootDatabase | undefined;
    try {
      const made = !existsSync(dir);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (made) chmodSync(dir, 0o700); // the umask may have widened it: the pool holds secrets
      // noSubdir false: `--db pool.db` is still a directory. overlappingSync
      // false: a commit returns only once on disk, so a power cut can't
      // un-reserve a token that a dock already received.
      env = open({ path: dir, noSubdir: false, maxDbs: 16, overlappingSync: false });
      keepPrivate(dir);
      const db = <V>(name: string) => env!.openDB<V, string>({ name });
      const meta = db<number>('meta');
      const schema = meta.get('schema');
      if (schema === undefined) env.transactionSync(() => void meta.putSync('schema', SCHEMA_VERSION));
      else if (schema > SCHEMA_VERSION) {
        throw new TokenPoolError('db', `token database ${dir} has schema ${schema}, newer than this dl7450 understands (${SCHEMA_VERSION}): update dl7450 on this station`);
      }
      return new TokenPool(dir, env, db('tokens'), db('free'), db('reserved'), db('dock-token'), db('secret-digest'), db('audit'), mapSize);
    } catch (e) {
      try {
        env?.close();
      } catch {
        /* already failing */
      }
      throw toPoolError(e, dir, 'opening the database', mapSize);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.env.close();
  }

  /** All-or-nothing: a duplicate id or secret (in the batch or the pool) refuses the whole batch. */
  import(tokens: { id: string; value: string }[]): { imported: number } {
    checkImport(tokens);
    return this.write('importing tokens', () => {
      const ids = new Set<string>();
      const digests = new Map<string, string>();
      const duplicates: string[] = [];
      for (const t of tokens) {
        const d = secretDigest(t.value);
        if (ids.has(t.id) || this.tokens.doesExist(t.id) || digests.has(d) || this.secrets.doesExist(d)) duplicates.push(t.id);
        ids.add(t.id);
        digests.set(d, t.id);
      }
      if (duplicates.length) {
        throw new TokenPoolError('duplicate', `refused: ${duplicates.length} duplicate token${duplicates.length === 1 ? '' : 's'} (an id or a secret already in the batch or the pool), nothing imported: ${listed(duplicates)}`);
      }
      for (const t of tokens) {
        this.tokens.putSync(t.id, { id: t.id, value: t.value, state: 'free' });
        this.free.putSync(t.id, true);
        this.secrets.putSync(secretDigest(t.value), t.id);
      }
      return { imported: tokens.length };
    });
  }

  status(): PoolStatus {
    return this.read('reading the pool status', () => this.counts());
  }

  /** The dock's token if it already has one (fresh: false), else a free one, reserved to it. */
  reserve(dockId: string, station: string, now = Date.now()): { id: string; value: string; fresh: boolean } {
    need(idProblem(dockId, 'dock id'));
    need(stationProblem(station));
    need(timeProblem(now, 'now'));
    return this.write(`reserving a token for dock ${dockId}`, () => {
      const held = this.dockToken.get(dockId);
      if (held !== undefined) {
        const r = this.mustGet(held);
        return { id: r.id, value: r.value, fresh: false };
      }
      // The first free key, read inside this write transaction: no other station can take it meanwhile.
      let id: string | undefined;
      for (const k of this.free.getKeys({ limit: 1 })) id = k;
      if (id === undefined) {
        const c = this.counts();
        throw new TokenPoolError('empty', `no free tokens in ${this.dir} (${c.total} tokens: ${c.reserved} reserved, ${c.used} used): import more with dl7450 tokens import <file> --db ${this.dir}`);
      }
      const r = this.mustGet(id);
      this.tokens.putSync(id, { id, value: r.value, state: 'reserved', dockId, station, reservedAt: now });
      this.free.removeSync(id);
      this.reserved.putSync(id, true);
      this.dockToken.putSync(dockId, id);
      return { id, value: r.value, fresh: true };
    });
  }

  token(id: string): TokenRecord | undefined {
    return this.read(`reading token ${id}`, () => this.tokens.get(id));
  }

  tokenOfDock(dockId: string): TokenRecord | undefined {
    return this.read(`reading the token of dock ${dockId}`, () => {
      const id = this.dockToken.get(dockId);
      return id === undefined ? undefined : this.tokens.get(id);
    });
  }

  /** Reserved for this dock (or already used by it: idempotent) → used, with its audit record, in one transaction. */
  markUsed(tokenId: string, dockId: string, audit: AuditRecord, proof?: string): void {
    const a = checkedAudit(audit);
    if (a.tokenId !== tokenId || a.dockId !== dockId) {
      throw new TokenPoolError('malformed', `the audit record is for token ${a.tokenId} on dock ${a.dockId}, not token ${tokenId} on dock ${dockId}`);
    }
    this.write(`marking token ${tokenId} used by dock ${dockId}`, () => {
      const r = this.tokens.get(tokenId);
      if (!r) throw new TokenPoolError('not-found', `no token ${tokenId} in ${this.dir}`);
      if (r.dockId !== dockId || r.state === 'free') {
        throw new TokenPoolError('state', `token ${tokenId} is ${describe(r)}, not reserved for dock ${dockId}: nothing changed; check which token the dock holds (dl7450 tokens status --db ${this.dir})`);
      }
      if (proof !== undefined) checkProof(tokenId, dockId, r.value, proof);
      if (r.state === 'reserved') {
        this.tokens.putSync(tokenId, { id: r.id, value: r.value, state: 'used', dockId, station: r.station, reservedAt: r.reservedAt, usedAt: a.finishedAt });
        this.reserved.removeSync(tokenId);
      }
      this.addAudit(a);
    });
  }

  /**
   * A dock holds this token (the dock is the truth): record it as used by
   * that dock whatever the database thought, unless the database has it for
   * another dock, which is a conflict for a person to look at ('state').
   * Free or reserved-for-this-dock → used, in one transaction with the audit
   * record; a token this pool never had only gets the audit record.
   */
  adopt(tokenId: string, dockId: string, audit: AuditRecord, proof?: string): 'adopted' | 'already-used' | 'foreign' {
    const a = checkedAudit(audit);
    if (a.tokenId !== tokenId || a.dockId !== dockId) {
      throw new TokenPoolError('malformed', `the audit record is for token ${a.tokenId} on dock ${a.dockId}, not token ${tokenId} on dock ${dockId}`);
    }
    let outcome: 'adopted' | 'already-used' | 'foreign' = 'adopted';
    this.write(`adopting token ${tokenId} for dock ${dockId}`, () => {
      const r = this.tokens.get(tokenId);
      if (!r) {
        outcome = 'foreign';
        this.addAudit(a);
        return;
      }
      if (r.dockId !== undefined && r.dockId !== dockId) {
        throw new TokenPoolError('state', `dock ${dockId} holds token ${tokenId}, which this database has as ${describe(r)}: two docks may hold it; check both docks before anything else`);
      }
      if (proof !== undefined) checkProof(tokenId, dockId, r.value, proof);
      if (r.state === 'used') {
        outcome = 'already-used'; // its record exists: nothing to add
        return;
      } else {
        const held = this.dockToken.get(dockId);
        if (held !== undefined && held !== tokenId) throw new TokenPoolError('state', `dock ${dockId} holds token ${tokenId} but this database has it holding ${held}: check the dock, then release ${held}`);
        this.tokens.putSync(tokenId, { id: r.id, value: r.value, state: 'used', dockId, station: r.station ?? a.station, reservedAt: r.reservedAt, usedAt: a.finishedAt });
        this.free.removeSync(tokenId);
        this.reserved.removeSync(tokenId);
        this.dockToken.putSync(dockId, tokenId);
      }
      this.addAudit(a);
    });
    return outcome;
  }

  /** Reserved for this dock → free again (and unflagged). */
  release(tokenId: string, dockId: string): void {
    this.write(`releasing token ${tokenId} from dock ${dockId}`, () => {
      const r = this.tokens.get(tokenId);
      if (!r) throw new TokenPoolError('not-found', `no token ${tokenId} in ${this.dir}`);
      if (r.state !== 'reserved' || r.dockId !== dockId) {
        const why = r.state === 'used' ? 'a used token is in a dock and never goes back to the pool' : `not reserved for dock ${dockId}`;
        throw new TokenPoolError('state', `token ${tokenId} is ${describe(r)}: ${why}; nothing changed`);
      }
      this.tokens.putSync(tokenId, { id: r.id, value: r.value, state: 'free' });
      this.reserved.removeSync(tokenId);
      this.dockToken.removeSync(dockId);
      this.free.putSync(tokenId, true);
    });
  }

  /** Marks a reservation that reconciliation could not settle, for an operator. */
  flag(tokenId: string, why: string): void {
    need(flagProblem(why));
    this.write(`flagging token ${tokenId}`, () => {
      const r = this.tokens.get(tokenId);
      if (!r) throw new TokenPoolError('not-found', `no token ${tokenId} in ${this.dir}`);
      if (r.state !== 'reserved') throw new TokenPoolError('state', `token ${tokenId} is ${describe(r)}: only a reservation can be flagged`);
      this.tokens.putSync(tokenId, { ...r, flagged: why.trim() });
    });
  }

  /** Tokens in state reserved, oldest reservation first. */
  reservations(filter: { station?: string } = {}): TokenRecord[] {
    return this.read('listing reservations', () =>
      this.reservedRecords()
        .filter((r) => filter.station === undefined || r.station === filter.station)
        .sort((x, y) => (x.reservedAt ?? 0) - (y.reservedAt ?? 0) || (x.id < y.id ? -1 : 1)),
    );
  }

  /** An audit record on its own (sync from another station, reconcile). The same record twice is stored once. */
  recordAudit(audit: AuditRecord): void {
    const a = checkedAudit(audit);
    this.write(`recording the audit of dock ${a.dockId}`, () => this.addAudit(a));
  }

  /** Audit records, oldest first. A scan from `since` (the audit holds thousands, not millions). */
  audit(filter: AuditFilter = {}): AuditRecord[] {
    if (filter.since !== undefined) need(timeProblem(filter.since, 'since'));
    const digest = filter.imageDigest?.toLowerCase();
    return this.read('querying the audit', () => {
      const out: AuditRecord[] = [];
      const start = filter.since === undefined ? undefined : timeKey(filter.since);
      for (const { value: a } of this.auditDb.getRange({ start })) {
        if (filter.dockId !== undefined && a.dockId !== filter.dockId) continue;
        if (filter.tokenId !== undefined && a.tokenId !== filter.tokenId) continue;
        if (digest !== undefined && !a.imageDigest.startsWith(digest)) continue;
        out.push(a);
      }
      return out;
    });
  }

  /** Every token (secrets included) and every audit record, one snapshot: for `dl7450 db migrate`. */
  exportAll(): { tokens: TokenRecord[]; audit: AuditRecord[] } {
    return this.read('exporting the pool', () => ({
      tokens: [...this.tokens.getRange()].map(({ value }) => value),
      audit: [...this.auditDb.getRange()].map(({ value }) => value),
    }));
  }

  // --- inside a transaction or a read ---

  private counts(): PoolStatus {
    const total = entries(this.tokens);
    const free = entries(this.free);
    const reserved = entries(this.reserved);
    const flagged = this.reservedRecords().filter((r) => r.flagged !== undefined).length;
    return { total, free, reserved, used: total - free - reserved, flagged };
  }

  private reservedRecords(): TokenRecord[] {
    const out: TokenRecord[] = [];
    for (const id of this.reserved.getKeys()) out.push(this.mustGet(id));
    return out;
  }

  private mustGet(id: string): TokenRecord {
    const r = this.tokens.get(id);
    if (!r) throw new TokenPoolError('db', `token database ${this.dir} is inconsistent: an index names token ${id}, which has no record`);
    return r;
  }

  private addAudit(a: AuditRecord): void {
    for (let n = 0; ; n++) {
      const key = auditKey(a, n);
      const there = this.auditDb.get(key);
      if (there === undefined) {
        this.auditDb.putSync(key, a);
        return;
      }
      if (sameAudit(there, a)) return; // a retried markUsed or a repeated sync
    }
  }

  private read<T>(what: string, fn: () => T): T {
    this.open();
    try {
      this.env.resetReadTxn(); // see other stations' latest commits, not this process's cached snapshot
      return fn();
    } catch (e) {
      throw toPoolError(e, this.dir, what, this.maxBytes);
    }
  }

  private write<T>(what: string, fn: () => T): T {
    this.open();
    try {
      return this.env.transactionSync(() => {
        const result = fn();
        this.checkSize(what); // throwing aborts: nothing of this transaction is kept
        return result;
      });
    } catch (e) {
      throw toPoolError(e, this.dir, what, this.maxBytes);
    }
  }

  /**
   * lmdb-js grows its map on demand (its patched mdb_page_alloc), so LMDB never
   * reports MDB_MAP_FULL by itself: a mapSize is enforced here, on the pages
   * the transaction's trees would occupy.
   */
  private checkSize(what: string): void {
    if (this.maxBytes === undefined) return;
    type Stat = { pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    const pages = (s: Stat) => s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages;
    let used = 0;
    let pageSize = 4096;
    for (const db of [this.tokens, this.free, this.reserved, this.dockToken, this.secrets, this.auditDb]) {
      const s = db.getStats() as Stat & { root: Stat; free: Stat };
      used += pages(s);
      pageSize = s.pageSize;
      if (db === this.auditDb) used += pages(s.root) + pages(s.free);
    }
    if (used * pageSize > this.maxBytes) {
      throw new TokenPoolError('db-full', fullMessage(this.dir, what, `${used * pageSize} bytes needed, mapSize ${this.maxBytes}`, this.maxBytes));
    }
  }

  private open(): void {
    if (this.closed) throw new TokenPoolError('db', `token database ${this.dir} is closed`);
  }
}

/** The pool's files hold the secrets: owner only (0600), whatever the umask made them. */
function keepPrivate(dir: string): void {
  for (const name of ['data.mdb', 'lock.mdb']) {
    const path = join(dir, name);
    try {
      if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    } catch {
      /* another user's file (chmod refused): left as it is */
    }
  }
}

function entries(db: Database<unknown, string>): number {
  return (db.getStats() as { entryCount: number }).entryCount;
}

/** Refuses (malformed, listing every problem) a batch with a bad id or token: checked before any database is touched. */
export function checkImport(tokens: { id: string; value: string }[]): void {
  if (!Array.isArray(tokens)) throw new TokenPoolError('malformed', 'tokens must be a list');
  const problems: string[] = [];
  tokens.forEach((t, i) => {
    const p = typeof t?.id !== 'string' ? 'id is not a string' : typeof t.value !== 'string' ? 'token is not a string' : idProblem(t.id) ?? tokenProblem(t.value);
    if (p) problems.push(`entry ${i + 1}${typeof t?.id === 'string' ? ` (${t.id.slice(0, 40)})` : ''}: ${p}`);
  });
  if (problems.length) throw new TokenPoolError('malformed', `${problems.length} malformed token${problems.length === 1 ? '' : 's'}, nothing imported:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}`);
}

export function flagProblem(why: string): string | undefined {
  return typeof why !== 'string' || why.trim() === '' || why.length > 1000 ? 'flag needs a reason (1 to 1000 characters)' : undefined;
}

export function need(problem: string | undefined): void {
  if (problem) throw new TokenPoolError('malformed', problem);
}

export function stationProblem(station: string): string | undefined {
  if (typeof station !== 'string' || station.length === 0 || station.length > MAX_ID_LENGTH) return `station name must be 1 to ${MAX_ID_LENGTH} characters`;
  if (/[\u0000-\u001f\u007f]/.test(station)) return 'station name has control characters';
  return undefined;
}

export function timeProblem(ms: number, what: string): string | undefined {
  return Number.isSafeInteger(ms) && ms >= 0 && ms <= MAX_TIME ? undefined : `${what} must be whole milliseconds since the epoch (got ${ms})`;
}

const SOURCES: AuditSource[] = ['provision', 'reconcile', 'sync'];

/**
 * The record as stored (digest lower-case, only the known fields), or
 * 'malformed' naming every problem. startedAt may follow finishedAt: a synced
 * record's times come from two stations' clocks.
 */
export function checkedAudit(a: AuditRecord): AuditRecord {
  if (typeof a !== 'object' || a === null) throw new TokenPoolError('malformed', 'the audit record is not an object');
  const problems = [
    typeof a.dockId === 'string' ? idProblem(a.dockId, 'dock id') : 'dockId is not a string',
    typeof a.tokenId === 'string' ? idProblem(a.tokenId, 'token id') : 'tokenId is not a string',
    typeof a.imageDigest === 'string' && /^[0-9a-fA-F]{2,128}$/.test(a.imageDigest) && a.imageDigest.length % 2 === 0 ? undefined : 'imageDigest must be hex (whole bytes)',
    stationProblem(a.station),
    timeProblem(a.startedAt, 'startedAt'),
    timeProblem(a.finishedAt, 'finishedAt'),
    typeof a.firmwareVersion === 'string' && a.firmwareVersion.length <= 128 ? undefined : 'firmwareVersion must be a string of at most 128 characters',
    typeof a.locked === 'boolean' ? undefined : 'locked must be true or false',
    SOURCES.indexOf(a.source) >= 0 ? undefined : `source must be one of ${SOURCES.join(', ')}`,
  ].filter((p): p is string => p !== undefined);
  if (problems.length) throw new TokenPoolError('malformed', `audit record refused, nothing written: ${problems.join('; ')}`);
  const { dockId, tokenId, station, startedAt, finishedAt, firmwareVersion, locked, source } = a;
  return { dockId, tokenId, imageDigest: a.imageDigest.toLowerCase(), station, startedAt, finishedAt, firmwareVersion, locked, source };
}

function sameAudit(x: AuditRecord, y: AuditRecord): boolean {
  return (Object.keys(y) as (keyof AuditRecord)[]).every((k) => x[k] === y[k]) && Object.keys(x).length === Object.keys(y).length;
}

function fullMessage(dir: string, what: string, detail: string, mapSize: number | undefined): string {
  const limit = mapSize !== undefined ? ` or raise the database's size limit (mapSize ${mapSize} bytes)` : '';
  return `token database ${dir} is full (${detail}): ${what} failed and nothing changed. Free disk space on the filesystem holding ${dir} (df -h ${dir})${limit}, then run it again.`;
}

/** Every failure leaves as a TokenPoolError: 'db-full' for a full disk or map, 'db' for the rest. */
function toPoolError(e: unknown, dir: string, what: string, mapSize: number | undefined): TokenPoolError {
  if (e instanceof TokenPoolError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const message = String(err?.message ?? e);
  const code = err?.code;
  const full =
    code === MAP_FULL || code === ENOSPC || code === EFBIG || code === EDQUOT || code === 'ENOSPC' || code === 'EFBIG' || code === 'EDQUOT' || /MDB_MAP_FULL|No space left|File too large|quota exceeded/i.test(message)
      ? message
      : code === EIO && diskNearlyFull(dir)
        ? `${message}; the disk has under ${LOW_DISK >> 20} MiB free`
        : code === EIO && !/Attempting to write/.test(message)
          ? 'a write was cut short, which LMDB reports for a full filesystem, quota or file-size limit'
          : undefined;
  if (full !== undefined) return new TokenPoolError('db-full', fullMessage(dir, what, full, mapSize));
  return new TokenPoolError('db', `token database ${dir}: ${what} failed: ${message}`);
}

function diskNearlyFull(dir: string): boolean {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize < LOW_DISK;
  } catch {
    return false;
  }
}
