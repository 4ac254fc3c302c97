// `dl7450 provision`: the factory line's one command. For every dock, at the
// same time: hello → dock id → refuse if already provisioned (unless forced)
// → reserve a token → build its per-dock image → flash (bulk lane) → the dock
// verifies and commits → restart → check it serves its own section and opens
// its own token → lock if asked → mark the token used with an audit record.
// The dock is the truth and the database the index: a run first reconciles
// this station's reservations left by a run that died, by asking the docks.

import { createHash } from 'node:crypto';
import { SmpClient } from '../link/smp-client.ts';
import { flashFactoryImage, type FlashOptions } from '../link/factory-flash.ts';
import { LinkError } from '../link/transport.ts';
import { DOCK, GROUP_DOCK, GROUP_OS, OS_RESET } from '../../firmware/smp/smp-server.ts';
import { loadRomStoreConfig } from '../romstore/romstore-config.ts';
import { buildFactoryImage } from '../romstore/factory-image-builder.ts';
import { loadPrivateKey } from '../signing-keys.ts';
import { perDockImage, perDockSection, type CommonImage } from './per-dock-image.ts';
import { TokenPoolError } from './token-pool.ts';
import { openTokenStore } from './token-store.ts';
import { hex, identity, proofOf, servedTokenAudit, type Identity } from './dock-proof.ts';

export type Stage = 'hello' | 'reserve' | 'flash' | 'verify' | 'lock' | 'record' | 'done' | 'failed' | 'skipped';

export interface ProvisionOptions {
  config: string;
  key: string;
  db: string;
  connections: string[];
  station: string;
  lock?: boolean;
  force?: boolean;
  /** Per-dock values by dock id (the `--upd` CSV). */
  perDockValues?: Map<string, Record<string, string>>;
  firmwareVersion?: string;
  onStage?(conn: string, stage: Stage, detail?: { sent?: number; total?: number }): void;
  log?(line: string): void;
  /** Transfer tuning (timeouts, retries); the defaults suit a real line. */
  flash?: Pick<FlashOptions, 'attempts' | 'bulkTimeoutMs' | 'maxRetries' | 'requestTimeoutMs'>;
}

export interface DockOutcome {
  conn: string;
  dockId: string | null;
  result: 'provisioned' | 'already-provisioned' | 'failed';
  tokenId: string | null;
  imageDigest: string | null;
  seconds: number;
  /** Seconds spent moving the image over the line. */
  transferSeconds: number;
  locked: boolean;
  error: string | null;
}

export interface ProvisionReport {
  station: string;
  imageDigest: string;
  imageBytes: number;
  docks: DockOutcome[];
  reconciled: { used: number; freed: number; flagged: number };
  pool: { total: number; free: number; reserved: number; used: number; flagged: number };
}

export class ProvisionError extends Error {
  readonly code = 'provision';
  constructor(message: string) {
    super(message);
    this.name = 'ProvisionError';
  }
}


/** Does the dock hold this token, in the slot it serves or in another committed one? */
function holds(id: Identity, tokenId: string): boolean {
  return (id.perDock !== null && id.perDock.token === tokenId) || (id.heldTokens ?? []).indexOf(tokenId) >= 0;
}




export async function provision(o: ProvisionOptions): Promise<ProvisionReport> {
  const log = o.log ?? (() => {});
  const key = loadPrivateKey(o.key);
  const built = buildFactoryImage(loadRomStoreConfig(o.config), key);
  const common: CommonImage = { image: built.image, digest: built.digest, perDockOffset: built.header.perDockOffset, perDockCapacity: built.header.perDockCapacity };
  const digestHex = hex(built.digest);
  const pool = await openTokenStore(o.db, { create: false, log });
  const clients = new Map<string, SmpClient>();
  const ids = new Map<string, Identity>();
  const outcomes: DockOutcome[] = [];
  const reconciled = { used: 0, freed: 0, flagged: 0 };
  /** Docks holding a token the database gives to another dock: not touched, reported. */
  const conflicts = new Map<string, string>();
  try {
    // Hello to every dock first (read-only): nothing is written before we know the pool suffices.
    const hellos = await Promise.allSettled(
      o.connections.map(async (conn) => {
        o.onStage?.(conn, 'hello');
        const client = await SmpClient.connect(conn);
        clients.set(conn, client);
        let id = await identity(client);
        if (id.pendingRestart) {
          // An earlier run committed and died before the restart: what the dock holds shows after it.
          await client.request(2, GROUP_OS, OS_RESET, {});
          await client.awaitDock();
          id = await identity(client);
        }
        ids.set(conn, id);
      }),
    );
    hellos.forEach((h, i) => {
      if (h.status === 'rejected') {
        const conn = o.connections[i];
        o.onStage?.(conn, 'failed');
        outcomes.push({ conn, dockId: null, result: 'failed', tokenId: null, imageDigest: null, seconds: 0, transferSeconds: 0, locked: false, error: `no dock: ${(h.reason as Error).message}` });
      }
    });
    // In the order the docks were given (hellos finish in any order): the report and its table follow it.
    const present = o.connections.filter((c) => ids.has(c)).map((c) => [c, ids.get(c)!] as [string, Identity]);
    const seen = new Map<string, string>();
    for (const [conn, id] of present) {
      if (seen.has(id.dockId)) throw new ProvisionError(`${conn} and ${seen.get(id.dockId)} are the same dock (${id.dockId.slice(0, 12)}…): give each dock once`);
      seen.set(id.dockId, conn);
    }

    // Reconcile this station's reservations: the dock is the truth.
    for (const r of await pool.reservations({ station: o.station })) {
      const at = present.find(([, id]) => id.dockId === r.dockId);
      if (!at) {
        await pool.flag(r.id, `reserved for dock ${r.dockId?.slice(0, 12)}…, which is not connected to this run: reconnect it and run again, or check it and \`dl7450 tokens release\``);
        reconciled.flagged++;
        continue;
      }
      const [conn, id] = at;
      const proof = await proofOf(clients.get(conn)!, id, r.id);
      if (proof !== null && id.perDock) {
        await pool.markUsed(r.id, id.dockId, { dockId: id.dockId, tokenId: r.id, imageDigest: hex(id.perDock.image), station: o.station, startedAt: r.reservedAt ?? Date.now(), finishedAt: Date.now(), firmwareVersion: id.firmware, locked: id.locked, source: 'reconcile' }, proof);
        reconciled.used++;
      } else if (holds(id, r.id)) {
        // On its flash but not served: no proof, so not marked used; an operator looks.
        await pool.flag(r.id, `dock ${id.dockId.slice(0, 12)}… holds this token in a slot it does not serve: check the dock (dl7450 fleet sync) before releasing it`);
        reconciled.flagged++;
      } else {
        await pool.release(r.id, id.dockId);
        reconciled.freed++;
      }
    }
    if (reconciled.used + reconciled.freed + reconciled.flagged > 0) log(`reconciled earlier reservations: ${reconciled.used} used (the dock holds the token), ${reconciled.freed} freed, ${reconciled.flagged} flagged`);

    // The dock is the truth: tokens the docks already hold are taken, before any reservation can pick one
    // (the database may lag: a restored backup, a lost record).
    for (const [conn, id] of present) {
      if (!id.perDock) continue;
      try {
        const proof = await proofOf(clients.get(conn)!, id, id.perDock.token);
        if (proof === null) throw new ProvisionError(`dock ${id.dockId.slice(0, 12)}… serves token ${id.perDock.token} but cannot open it (its per-dock check failed): not provisioned again until checked`);
        await pool.adopt(id.perDock.token, id.dockId, servedTokenAudit(id, 'sync'), proof);
      } catch (e) {
        if (!(e instanceof TokenPoolError) && !(e instanceof ProvisionError)) throw e;
        conflicts.set(conn, e.message);
      }
    }

    // Enough tokens for the docks that need a new one, or stop before touching any.
    const needing: typeof present = [];
    for (const [conn, id] of present) if ((!id.perDock || o.force) && !id.locked && !(await pool.tokenOfDock(id.dockId))) needing.push([conn, id]);
    const free = (await pool.status()).free;
    if (needing.length > free) throw new ProvisionError(`the token pool has ${free} free tokens and ${needing.length} docks need one: import more (dl7450 tokens import) before provisioning; no dock was touched`);

    const results = await Promise.all(present.map(([conn, id]) => provisionOne(conn, clients.get(conn)!, id)));
    outcomes.push(...results);
    return { station: o.station, imageDigest: digestHex, imageBytes: built.image.length, docks: outcomes, reconciled, pool: await pool.status() };
  } finally {
    await Promise.all([...clients.values()].map((c) => c.close().catch(() => {})));
    await pool.close();
  }

  async function provisionOne(conn: string, client: SmpClient, id: Identity): Promise<DockOutcome> {
    const started = Date.now();
    const out: DockOutcome = { conn, dockId: id.dockId, result: 'failed', tokenId: null, imageDigest: null, seconds: 0, transferSeconds: 0, locked: id.locked, error: null };
    const finish = (o2: Partial<DockOutcome>) => Object.assign(out, o2, { seconds: (Date.now() - started) / 1000 });
    let reservedId: string | null = null;
    try {
      const conflict = conflicts.get(conn);
      if (conflict) throw new ProvisionError(conflict);
      if (id.perDock && !o.force) {
        o.onStage?.(conn, 'skipped');
        return finish({ result: 'already-provisioned', tokenId: id.perDock.token, imageDigest: hex(id.perDock.image), error: 'already provisioned (use --force to provision it again)' });
      }
      if (id.locked) throw new ProvisionError('the dock is locked: its factory image can no longer be written');
      if (!id.perDockKey) throw new ProvisionError('the dock reports no per-dock key (its firmware has no key store)');
      o.onStage?.(conn, 'reserve');
      const token = await pool.reserve(id.dockId, o.station);
      if (token.fresh) reservedId = token.id; // a forced re-run reuses the dock's own token: never freed on failure
      const section = perDockSection(common, { dockId: id.dockId, dockPublicKey: id.perDockKey, tokenId: token.id, token: token.value, name: o.perDockValues?.get(id.dockId)?.name ?? `DL-7450 ${id.dockId.slice(0, 8)}`, values: o.perDockValues?.get(id.dockId) ?? {}, station: o.station }, key);
      const image = perDockImage(common, section);
      o.onStage?.(conn, 'flash', { sent: 0, total: image.length });
      const flashed = await flashFactoryImage(client, image, { ...o.flash, onProgress: (p) => o.onStage?.(conn, 'flash', { sent: p.sent, total: p.total }), log: (l) => log(`${conn}: ${l}`) });
      out.transferSeconds = flashed.transferMs / 1000;
      o.onStage?.(conn, 'verify');
      await client.request(2, GROUP_OS, OS_RESET, {});
      await client.awaitDock();
      const after = await identity(client);
      if (!after.perDock || after.perDock.token !== token.id || hex(after.perDock.image) !== digestHex) throw new ProvisionError(`after its restart the dock does not serve its new per-dock section (${after.perDockStatus})`);
      const check = await client.request(0, GROUP_DOCK, DOCK.PER_DOCK_CHECK, {});
      const expected = createHash('sha256').update(token.value).digest('hex');
      if (!(check.tokenSha256 instanceof Uint8Array) || hex(check.tokenSha256) !== expected) throw new ProvisionError('the dock opened its per-dock data but the token does not match the one issued');
      const proof = hex(check.tokenSha256); // what the dock reported: the pool checks it again against the secret it issued
      let locked = after.locked;
      if (o.lock) {
        o.onStage?.(conn, 'lock');
        await client.request(2, GROUP_DOCK, DOCK.LOCK, {});
        locked = true;
      }
      o.onStage?.(conn, 'record');
      await pool.markUsed(token.id, id.dockId, { dockId: id.dockId, tokenId: token.id, imageDigest: digestHex, station: o.station, startedAt: started, finishedAt: Date.now(), firmwareVersion: after.firmware, locked, source: 'provision' }, proof);
      o.onStage?.(conn, 'done');
      return finish({ result: 'provisioned', tokenId: token.id, imageDigest: digestHex, locked });
    } catch (e) {
      o.onStage?.(conn, 'failed');
      if (reservedId) await settleReservation(client, id.dockId, reservedId);
      const message = e instanceof TokenPoolError || e instanceof ProvisionError || e instanceof LinkError ? e.message : (e as Error).message;
      return finish({ result: 'failed', tokenId: reservedId, error: message });
    }
  }

  /** After a failure: ask the dock whether it holds the token; free it if not; leave it reserved (flagged) if the dock cannot say. */
  async function settleReservation(client: SmpClient, dockId: string, tokenId: string): Promise<void> {
    let now: Identity | null = null;
    try {
      now = await identity(client);
      if (now.pendingRestart) {
        await client.request(2, GROUP_OS, OS_RESET, {});
        await client.awaitDock();
        now = await identity(client);
      }
    } catch {
      now = null;
    }
    try {
      const proof = now ? await proofOf(client, now, tokenId).catch(() => null) : null;
      if (!now) await pool.flag(tokenId, `the dock ${dockId.slice(0, 12)}… stopped answering mid-provisioning: reconnect it and run again (the run reconciles it)`);
      else if (proof !== null && now.perDock) {
        await pool.markUsed(tokenId, dockId, { dockId, tokenId, imageDigest: hex(now.perDock.image), station: o.station, startedAt: Date.now(), finishedAt: Date.now(), firmwareVersion: now.firmware, locked: now.locked, source: 'reconcile' }, proof);
      } else if (holds(now, tokenId)) await pool.flag(tokenId, `dock ${dockId.slice(0, 12)}… holds this token but does not serve it: check the dock (dl7450 fleet sync) before releasing it`);
      else await pool.release(tokenId, dockId);
    } catch (e) {
      log(`token ${tokenId} for dock ${dockId.slice(0, 12)}… stays reserved: ${(e as Error).message}`);
    }
  }
}
