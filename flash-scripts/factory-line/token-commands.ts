// `dl7450 tokens …` and `dl7450 fleet query`: the operator's view of the
// token pool and the provisioning audit. Token values are secrets: no output
// here ever includes one. Usage problems throw UsageError (exit 2), the rest
// TokenPoolError (exit 1); both leave the database as it was.

import { flagText, parseArgs, UsageError, type Args } from '../cli-args.ts';
import { parseTokenFile } from './token-file.ts';
import { type AuditRecord, type PoolStatus, type TokenRecord } from './token-pool.ts';
import { openTokenStore, type TokenStore } from './token-store.ts';

export const TOKEN_USAGE = `  dl7450 tokens import <tokens.csv|tokens.jsonl> --db <dir|postgres://…> [--json]
  dl7450 tokens status --db <dir|postgres://…> [--json]
  dl7450 tokens release <token id> --dock <dock id> --db <dir|postgres://…> [--json]   (after checking the dock holds no token)
  dl7450 fleet query --db <dir|postgres://…> [--dock ID] [--token ID] [--image DIGEST] [--since 2024-05-01|ISO 8601 time] [--json]`;

type Out = (s: string) => void;

/** Parses argv, refusing flags the command doesn't take (a typo must not widen a query or skip a check). */
function args(argv: string[], command: string, valueFlags: string[], maxPositional: number, boolFlags = ['json']): Args {
  const a = parseArgs(argv, valueFlags);
  for (const name of a.flags.keys()) {
    if (valueFlags.indexOf(name) < 0 && boolFlags.indexOf(name) < 0) throw new UsageError(`${command}: unknown option --${name}`);
  }
  if (a.positional.length > maxPositional) throw new UsageError(`${command}: unexpected ${a.positional.slice(maxPositional).join(' ')}`);
  return a;
}

function required(a: Args, name: string, command: string): string {
  const v = flagText(a, name);
  if (v === undefined || v === '') throw new UsageError(`${command} needs --${name} <${name === 'db' ? 'dir' : `${name} id`}>`);
  return v;
}

/** `db`: an LMDB directory or a postgres:// URL. */
async function withPool<T>(db: string, create: boolean, fn: (pool: TokenStore) => Promise<T>): Promise<T> {
  const pool = await openTokenStore(db, { create });
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

const poolLine = (s: PoolStatus) => `${s.free} free, ${s.reserved} reserved, ${s.used} used`;
const iso = (ms: number | undefined) => (ms === undefined ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')); // to the second: an operator's clock

/** A reservation as printed: everything but the secret. */
function publicReservation(r: TokenRecord) {
  return { id: r.id, dockId: r.dockId, station: r.station, reservedAt: r.reservedAt, flagged: r.flagged };
}

export async function tokensCommand(sub: string | undefined, argv: string[], out: Out): Promise<number> {
  if (sub === 'import') {
    const a = args(argv, 'tokens import', ['db'], 1);
    const [file] = a.positional;
    const dir = required(a, 'db', 'tokens import');
    if (!file) throw new UsageError('tokens import needs <tokens.csv|tokens.jsonl>');
    const tokens = parseTokenFile(file); // before opening: a bad file doesn't even create the database
    return withPool(dir, true, async (pool) => {
      const { imported } = await pool.import(tokens);
      const status = await pool.status();
      out(a.flags.has('json') ? JSON.stringify({ imported, pool: status }) : `imported ${imported} token${imported === 1 ? '' : 's'} (pool: ${poolLine(status)})`);
      return 0;
    });
  }
  if (sub === 'status') {
    const a = args(argv, 'tokens status', ['db'], 0);
    const dir = required(a, 'db', 'tokens status');
    return withPool(dir, false, async (pool) => {
      const status = await pool.status();
      const flagged = (await pool.reservations()).filter((r) => r.flagged !== undefined);
      if (a.flags.has('json')) {
        out(JSON.stringify({ ...status, flaggedReservations: flagged.map(publicReservation) }));
        return 0;
      }
      out(`${pool.where}: ${status.total} tokens: ${poolLine(status)}`);
      if (status.free === 0) out(`no free tokens: import more before the next dock (dl7450 tokens import <file> --db ${dir})`);
      if (flagged.length) {
        out(`${flagged.length} flagged reservation${flagged.length === 1 ? '' : 's'}: check each dock, then release its token (dl7450 tokens release <token> --dock <dock> --db ${dir}) if the dock does not have it`);
        table(out, ['token', 'dock', 'station', 'reserved at', 'why'], flagged.map((r) => [r.id, r.dockId ?? '-', r.station ?? '-', iso(r.reservedAt), r.flagged ?? '']));
      }
      return 0;
    });
  }
  if (sub === 'release') {
    const a = args(argv, 'tokens release', ['db', 'dock'], 1);
    const [tokenId] = a.positional;
    const dir = required(a, 'db', 'tokens release');
    const dock = required(a, 'dock', 'tokens release');
    if (!tokenId) throw new UsageError('tokens release needs <token id>');
    return withPool(dir, false, async (pool) => {
      await pool.release(tokenId, dock);
      const status = await pool.status();
      out(a.flags.has('json') ? JSON.stringify({ released: tokenId, dockId: dock, pool: status }) : `released token ${tokenId} from dock ${dock}: it is free again (pool: ${poolLine(status)})`);
      return 0;
    });
  }
  throw new UsageError(sub ? `unknown command: tokens ${sub}` : 'tokens needs a command: import, status or release');
}

export async function fleetQueryCommand(argv: string[], out: Out): Promise<number> {
  const a = args(argv, 'fleet query', ['db', 'dock', 'token', 'image', 'since'], 0);
  const dir = required(a, 'db', 'fleet query');
  const image = flagText(a, 'image');
  if (image !== undefined && !/^[0-9a-fA-F]{1,128}$/.test(image)) throw new UsageError(`fleet query: --image ${image} is not a hex digest (or a prefix of one)`);
  const since = flagText(a, 'since');
  const filter = { dockId: flagText(a, 'dock'), tokenId: flagText(a, 'token'), imageDigest: image, since: since === undefined ? undefined : parseSince(since) };
  const records = await withPool(dir, false, (pool) => pool.audit(filter));
  if (a.flags.has('json')) {
    for (const r of records) out(JSON.stringify(r));
    return 0;
  }
  if (records.length === 0) {
    out('no audit records match');
    return 0;
  }
  table(out, ['dock', 'token', 'image', 'station', 'finished at', 'source', 'locked'], records.map(row));
  out(`${records.length} record${records.length === 1 ? '' : 's'}`);
  return 0;
}

function row(r: AuditRecord): string[] {
  return [r.dockId, r.tokenId, r.imageDigest.slice(0, 16), r.station, iso(r.finishedAt), r.source, r.locked ? 'yes' : 'no'];
}

/**
 * YYYY-MM-DD (midnight UTC) or an ISO 8601 time with its zone (Z or ±hh:mm):
 * a time without a zone would mean different instants on different stations.
 */
export function parseSince(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/.exec(text);
  if (m) {
    const [, y, mo, d, hh = '0', mm = '0', ss = '0', zone] = m;
    // Date.parse rolls 2024-02-30 over to March: check the calendar date itself.
    const day = new Date(Date.UTC(+y, +mo - 1, +d));
    const real = day.getUTCFullYear() === +y && day.getUTCMonth() === +mo - 1 && day.getUTCDate() === +d && +hh <= 23 && +mm <= 59 && +ss <= 59;
    const ms = zone === undefined ? day.getTime() : Date.parse(text);
    if (real && Number.isFinite(ms) && ms >= 0) return ms;
  }
  throw new UsageError(`--since ${text}: give a date (2024-05-01, midnight UTC) or an ISO 8601 time with its zone (2024-05-01T08:30:00Z, 2024-05-01T10:30+02:00)`);
}

function table(out: Out, head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  out(line(head));
  for (const r of rows) out(line(r));
}
