// `dl7450 provision --config <romstore.yaml> --key <signing key> --db <dir|postgres://…>
//   [--station NAME] [--lock] [--force] [--upd per-dock.csv] [--json] <conn>…`

import { hostname } from 'node:os';
import { flagText, parseArgs, UsageError } from '../cli-args.ts';
import { MultiProgress } from '../progress-bar.ts';
import { provision, type Stage } from './provision.ts';
import { loadPerDockValues } from './per-dock-values.ts';

export const PROVISION_USAGE = `  dl7450 provision --config <romstore.yaml> --key <factory.key> --db <dir|postgres://…> [--station NAME] [--lock] [--force] [--upd per-dock.csv] [--json] <conn>…`;

export async function provisionCommand(argv: string[], out: (s: string) => void): Promise<number> {
  const a = parseArgs(argv, ['config', 'key', 'db', 'station', 'upd', 'conn']);
  const config = flagText(a, 'config');
  const key = flagText(a, 'key');
  const db = flagText(a, 'db');
  const connections = [...a.positional, ...(flagText(a, 'conn') ? [flagText(a, 'conn')!] : [])];
  if (!config || !key || !db || connections.length === 0) throw new UsageError('provision needs --config <romstore.yaml> --key <factory.key> --db <dir|postgres://…> and at least one connection');
  const json = a.flags.has('json');
  const upd = flagText(a, 'upd');
  const progress = new MultiProgress(!json);
  const width = Math.max(...connections.map((c) => c.length));
  const report = await provision({
    config,
    key,
    db,
    connections,
    station: flagText(a, 'station') ?? hostname(),
    lock: a.flags.has('lock'),
    force: a.flags.has('force'),
    perDockValues: upd ? loadPerDockValues(upd) : undefined,
    onStage: (conn: string, stage: Stage, d?: { sent?: number; total?: number }) =>
      progress.set(conn.padEnd(width), stage === 'flash' && d?.total ? `flash ${MultiProgress.bar(d.sent ?? 0, d.total)}` : stage),
    log: (l) => (json ? undefined : console.error(l)),
  });
  progress.done();
  if (json) {
    for (const d of report.docks) out(JSON.stringify(d));
    out(JSON.stringify({ summary: true, station: report.station, imageDigest: report.imageDigest, imageBytes: report.imageBytes, reconciled: report.reconciled, pool: report.pool }));
  } else {
    out(`image ${report.imageDigest.slice(0, 16)}… (${report.imageBytes} bytes), station ${report.station}`);
    out(`${'connection'.padEnd(width)}  ${'dock'.padEnd(14)}  ${'result'.padEnd(19)}  ${'token'.padEnd(16)}  seconds  note`);
    for (const d of report.docks) {
      out(`${d.conn.padEnd(width)}  ${(d.dockId ? `${d.dockId.slice(0, 12)}…` : '-').padEnd(14)}  ${d.result.padEnd(19)}  ${(d.tokenId ?? '-').padEnd(16)}  ${d.seconds.toFixed(1).padStart(7)}  ${d.locked ? 'locked' : ''}${d.error ? ` ${d.error}` : ''}`);
    }
    out(`pool: ${report.pool.free} free, ${report.pool.reserved} reserved, ${report.pool.used} used${report.pool.flagged ? `, ${report.pool.flagged} flagged (see dl7450 tokens status)` : ''}`);
  }
  return report.docks.every((d) => d.result !== 'failed') ? 0 : 1;
}
