// `dl7450 fleet sync <conn> --db <dir>`: read what a dock holds back into the
// station's database. The dock is the truth: the database may lag it (a
// station that died, a dock provisioned elsewhere), and sync brings it level.

import { SmpClient } from '../link/smp-client.ts';
import { LinkError } from '../link/transport.ts';
import { openTokenStore } from './token-store.ts';
import { hex, identity, proofOf, servedTokenAudit } from './dock-proof.ts';

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
    const id = await identity(client);
    const dockId = id.dockId;
    const per = id.perDock;
    if (!per) return { dockId, action: 'not-provisioned', tokenId: null, imageDigest: null, note: null };
    const image = hex(per.image);
    const proof = await proofOf(client, id, per.token);
    if (proof === null) throw new LinkError(`dock ${dockId.slice(0, 12)}… serves token ${per.token} but its per-dock check does not open it: check the dock before anything else`);
    const pool = await openTokenStore(db, { create: false });
    try {
      const known = (await pool.audit({ dockId })).filter((a) => a.tokenId === per.token && a.imageDigest === image);
      if (known.length > 0) return { dockId, action: 'up-to-date', tokenId: per.token, imageDigest: image, note: null };
      const before = await pool.token(per.token);
      // The dock is the truth: the token is taken (a conflict with another dock is refused with why).
      const outcome = await pool.adopt(per.token, dockId, servedTokenAudit(id, 'sync'), proof);
      if (outcome === 'already-used') await pool.recordAudit(servedTokenAudit(id, 'sync'));
      const note = outcome === 'foreign' ? 'the token is not in this database (provisioned from another pool)' : before && before.state !== 'used' ? `the database had the token as ${before.state}: now used by this dock` : null;
      return { dockId, action: 'recorded', tokenId: per.token, imageDigest: image, note };
    } finally {
      await pool.close();
    }
  } finally {
    await client.close();
  }
}
