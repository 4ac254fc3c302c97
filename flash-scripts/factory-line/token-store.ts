// The factory line's token pool and audit as one interface with two back ends:
// LMDB on the station's own disk (a directory, the default) and PostgreSQL
// (`postgres://…`, shared by stations on any number of hosts). Both pass one
// test suite (test/support/token-store-suite.ts). Schema: DATABASE.md (LMDB),
// POSTGRES.md (PostgreSQL).
//
// Nothing becomes `used` without the dock's proof: the SHA-256 of the token
// the dock opened from its own sealed section (its per-dock check), compared
// inside the transaction with the secret the pool issued.

import { TokenPool, TokenPoolError, checkProof, secretDigest, type AuditFilter, type AuditRecord, type PoolStatus, type TokenRecord, type TokenPoolOptions } from './token-pool.ts';

export { TokenPoolError, type AuditFilter, type AuditRecord, type PoolStatus, type TokenRecord };

export type Backend = 'lmdb' | 'postgres';

export interface Reservation {
  id: string;
  value: string;
  /** false: the dock already held this token (a re-flashed dock keeps it). */
  fresh: boolean;
}

export interface TokenStore {
  readonly backend: Backend;
  /** Where the data lives, printable (a directory, or a URL without its password). */
  readonly where: string;
  import(tokens: { id: string; value: string }[]): Promise<{ imported: number }>;
  status(): Promise<PoolStatus>;
  reserve(dockId: string, station: string, now?: number): Promise<Reservation>;
  token(id: string): Promise<TokenRecord | undefined>;
  tokenOfDock(dockId: string): Promise<TokenRecord | undefined>;
  /** Reserved for this dock → used with its audit record; `proof` is the token's SHA-256 (hex) as the dock reported it. */
  markUsed(tokenId: string, dockId: string, audit: AuditRecord, proof: string): Promise<void>;
  /** The dock holds this token (proof as for markUsed): taken whatever the pool thought, unless another dock has it. */
  adopt(tokenId: string, dockId: string, audit: AuditRecord, proof: string): Promise<'adopted' | 'already-used' | 'foreign'>;
  release(tokenId: string, dockId: string): Promise<void>;
  flag(tokenId: string, why: string): Promise<void>;
  reservations(filter?: { station?: string }): Promise<TokenRecord[]>;
  recordAudit(audit: AuditRecord): Promise<void>;
  audit(filter?: AuditFilter): Promise<AuditRecord[]>;
  /** Every token (secrets included) and audit record: for `dl7450 db migrate` only. */
  exportAll(): Promise<{ tokens: TokenRecord[]; audit: AuditRecord[] }>;
  close(): Promise<void>;
}

export interface OpenStoreOptions extends TokenPoolOptions {
  /** PostgreSQL: how long an operation keeps retrying a lost server before it gives up (ms, default 60000). */
  retryMs?: number;
  /** Messages about retries ("PostgreSQL … unreachable: retrying"). */
  log?(line: string): void;
}

/** `postgres://…` or `postgresql://…` (missing parts come from PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE). */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

export { checkProof, secretDigest as tokenDigest };

export async function openTokenStore(db: string, options: OpenStoreOptions = {}): Promise<TokenStore> {
  if (isPostgresUrl(db)) {
    const { PostgresTokenStore } = await import('./postgres-token-store.ts'); // loads pg only when asked for
    return PostgresTokenStore.open(db, options);
  }
  return new LmdbTokenStore(TokenPool.open(db, options));
}

/** The LMDB pool (synchronous, one host) behind the async interface. */
export class LmdbTokenStore implements TokenStore {
  readonly backend = 'lmdb' as const;
  constructor(readonly pool: TokenPool) {}
  get where(): string {
    return this.pool.dir;
  }
  async import(tokens: { id: string; value: string }[]) {
    return this.pool.import(tokens);
  }
  async status() {
    return this.pool.status();
  }
  async reserve(dockId: string, station: string, now?: number) {
    return this.pool.reserve(dockId, station, now);
  }
  async token(id: string) {
    return this.pool.token(id);
  }
  async tokenOfDock(dockId: string) {
    return this.pool.tokenOfDock(dockId);
  }
  async markUsed(tokenId: string, dockId: string, audit: AuditRecord, proof: string) {
    this.pool.markUsed(tokenId, dockId, audit, proof);
  }
  async adopt(tokenId: string, dockId: string, audit: AuditRecord, proof: string) {
    return this.pool.adopt(tokenId, dockId, audit, proof);
  }
  async release(tokenId: string, dockId: string) {
    this.pool.release(tokenId, dockId);
  }
  async flag(tokenId: string, why: string) {
    this.pool.flag(tokenId, why);
  }
  async reservations(filter?: { station?: string }) {
    return this.pool.reservations(filter);
  }
  async recordAudit(audit: AuditRecord) {
    this.pool.recordAudit(audit);
  }
  async audit(filter?: AuditFilter) {
    return this.pool.audit(filter);
  }
  async exportAll() {
    return this.pool.exportAll();
  }
  async close() {
    this.pool.close();
  }
}
