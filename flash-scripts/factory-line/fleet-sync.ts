// `dl7450 fleet sync <conn> --db <dir>`: read what a dock holds back into the
// station's database. The dock is the truth: the database may lag it (a
// station that died, a dock provisioned elsewhere), and sync brings it level.

import { SmpClient } from '../link/smp-client.ts';
import { DOCK, GROUP_DOCK } from '../../firmware/smp/smp-server.ts';
import { TokenPool } from './token-pool.ts';

export interface SyncResult {
  dockId: string;
  /** recorded: an audit record was added; up-to-date: the database already knew; not-provisioned: the dock holds no per-dock data. */
  action: 'recorded' | 'up-to-date' | 'not-provisioned';
  tokenId: string | null;
  imageDigest: string | null;
  /** What the database said of that token before (when it disagreed). */
  note: string | null;
}

export async function fleetSync(conn: string, db: string): Promise<SyncResult> {
  const client = await SmpClient.connect(conn);
  try {
    const id = await client.request(0, GROUP_DOCK, DOCK.IDENTITY, {});
    const dockId = id.dockId as string;
    const per = id.perDock as { token: string; image: Uint8Array; issued: number; station: string } | null;
    if (!per) return { dockId, action: 'not-provisioned', tokenId: null, imageDigest: null, note: null };
    const image = Buffer.from(per.image).toString('hex');
    const pool = TokenPool.open(db, { create: false });
    try {
      const known = pool.audit({ dockId }).filter((a) => a.tokenId === per.token && a.imageDigest === image);
      if (known.length > 0) return { dockId, action: 'up-to-date', tokenId: per.token, imageDigest: image, note: null };
      const before = pool.token(per.token);
      // The dock is the truth: the token is taken (a conflict with another dock is refused with why).
      const outcome = pool.adopt(per.token, dockId, { dockId, tokenId: per.token, imageDigest: image, station: per.station, startedAt: per.issued * 1000, finishedAt: Date.now(), firmwareVersion: String(id.firmware), locked: id.locked === true, source: 'sync' });
      if (outcome === 'already-used') pool.recordAudit({ dockId, tokenId: per.token, imageDigest: image, station: per.station, startedAt: per.issued * 1000, finishedAt: Date.now(), firmwareVersion: String(id.firmware), locked: id.locked === true, source: 'sync' });
      const note = outcome === 'foreign' ? 'the token is not in this database (provisioned from another pool)' : before && before.state !== 'used' ? `the database had the token as ${before.state}: now used by this dock` : null;
      return { dockId, action: 'recorded', tokenId: per.token, imageDigest: image, note };
    } finally {
      pool.close();
    }
  } finally {
    await client.close();
  }
}
