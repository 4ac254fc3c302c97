// What a dock says about its per-dock data, and its proof that it holds a
// token: shared by `provision` (reconcile, adopt) and `fleet sync`. The dock is
// the truth; the pool checks the proof against the secret it issued.

import type { SmpClient } from '../link/smp-client.ts';
import { DOCK, GROUP_DOCK } from '../../firmware/smp/smp-server.ts';
import type { AuditRecord, AuditSource } from './token-pool.ts';

export interface Identity {
  dockId: string;
  firmware: string;
  perDockKey?: Uint8Array;
  locked: boolean;
  perDock: { token: string; image: Uint8Array; issued: number; station: string } | null;
  perDockStatus: string;
  pendingRestart: boolean;
  /** Token ids in any committed slot of the dock, served or not. */
  heldTokens: string[];
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export async function identity(client: SmpClient): Promise<Identity> {
  return (await client.request(0, GROUP_DOCK, DOCK.IDENTITY, {}, { timeoutMs: 3000 })) as unknown as Identity;
}

/**
 * The dock's proof that it holds `tokenId`: the SHA-256 of the token it opens
 * from the section it serves (its per-dock check), or null if it serves
 * another token or none, or its check does not open it.
 */
export async function proofOf(client: SmpClient, id: Identity, tokenId: string): Promise<string | null> {
  if (!id.perDock || id.perDock.token !== tokenId) return null;
  const check = await client.request(0, GROUP_DOCK, DOCK.PER_DOCK_CHECK, {});
  return check.token === tokenId && check.tokenSha256 instanceof Uint8Array ? hex(check.tokenSha256) : null;
}

/** The audit record of the token a dock serves, as the dock describes it (station and issue time from its own section). */
export function servedTokenAudit(id: Identity, source: AuditSource): AuditRecord {
  const per = id.perDock!;
  return { dockId: id.dockId, tokenId: per.token, imageDigest: hex(per.image), station: per.station, startedAt: per.issued * 1000, finishedAt: Date.now(), firmwareVersion: String(id.firmware), locked: id.locked === true, source };
}
