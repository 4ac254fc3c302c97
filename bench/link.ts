// link.throughput: a 12 MiB factory image from the host to a simulated dock
// through a pseudo-terminal pair (socat), the dock's UART paced at 921,600
// baud (8N1: 92,160 bytes/s), once over the bulk lane and once over SMP.
// payloadBytesPerSecond counts image bytes over the transfer (not the commit);
// lineRateRatio divides it by the line rate. Lane smp-params is a client that
// follows the dock's advertised MCUmgr parameters (OS group 6: buf_size,
// buf_count): chunks as large as one buffer takes, one request in flight per
// buffer. The last line times a rejected flash (an image signed by another
// key, and a truncated one): the host checks against the dock's OTP key
// before sending a byte. DL7450_LINK_BENCH_MIB scales the image down for a
// quick look (the README quotes 12 MiB).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedDock } from '../simulator/simulated-dock.ts';
import { SmpClient } from '../flash-scripts/link/smp-client.ts';
import { FactoryFlashError, flashFactoryImage } from '../flash-scripts/link/factory-flash.ts';
import { factoryImageFor } from '../test/support/link-dock.ts';
import { loadRomStoreConfig } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../flash-scripts/romstore/factory-image-builder.ts';
import { loadPrivateKey } from '../flash-scripts/signing-keys.ts';
import { writeNoiseRomStore } from '../test/support/noise-rom-store.ts';
import { ptyPair } from '../test/support/pty-pair.ts';
import type { BenchLine } from './runtime.ts';
import { median } from './median.ts';

const BAUD = 921_600;
/** CBOR of an upload request around its data: {off, data, len, sha} with a 32-byte sha, rounded up. */
const UPLOAD_OVERHEAD = 96;
const RUNS = 5;

/** Median wall time of `flash` refusing a wrong-key and a truncated image (connect included), and what reached the slot. */
async function rejectedFlash(dir: string, host: string, image: Uint8Array): Promise<BenchLine> {
  const foreign = factoryImageFor(dir, 'Foreign', 0, true);
  const truncated = image.subarray(0, Math.floor(image.length / 2));
  const times = { wrongKey: [] as number[], truncated: [] as number[] };
  let refusals = 0;
  for (let i = 0; i < RUNS; i++) {
    for (const [what, bytes] of [['wrongKey', foreign], ['truncated', truncated]] as const) {
      const t = performance.now();
      const client = await SmpClient.connect(`serial://${host}?baud=${BAUD}`);
      try {
        await flashFactoryImage(client, bytes);
      } catch (e) {
        if (!(e instanceof FactoryFlashError)) throw e;
        refusals++;
      } finally {
        await client.close();
      }
      times[what].push(performance.now() - t);
    }
  }
  return {
    bench: 'link.throughput',
    lane: 'rejected-flash',
    baud: BAUD,
    runs: RUNS,
    refusals,
    wrongKeyMedianMs: Number(median(times.wrongKey).toFixed(1)),
    truncatedMedianMs: Number(median(times.truncated).toFixed(1)),
    truncatedBytes: truncated.length,
    targetMs: 1000,
    note: 'connect, read the factory status (OTP key, slot size), verify locally, refuse: no byte of the image on the line',
  };
}

function bigImage(dir: string, mib: number): Uint8Array {
  const { config } = writeNoiseRomStore(dir, mib, 100);
  return buildFactoryImage(loadRomStoreConfig(config), loadPrivateKey(join(dir, 'dev-keys', 'factory.key'))).image;
}

export async function linkThroughput(): Promise<BenchLine[]> {
  const mib = Number(process.env.DL7450_LINK_BENCH_MIB ?? 12);
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-bench-link-'));
  const pair = await ptyPair();
  const dock = new SimulatedDock({ dir, log: () => {} });
  const out: BenchLine[] = [];
  try {
    await dock.boot();
    await dock.serveSerial(`serial:${pair.dock}@${BAUD}`);
    const image = bigImage(dir, mib);
    for (const lane of ['bulk', 'smp', 'smp-params'] as const) {
      const client = await SmpClient.connect(`serial://${pair.host}?baud=${BAUD}`);
      try {
        let chunkBytes: number | undefined;
        let params: Record<string, unknown> | null = null;
        if (lane === 'smp-params') {
          params = await client.request(0, 0, 6, {});
          // The whole request packet must fit buf_size: the chunk plus its CBOR map (off, data, and len and sha on the first).
          chunkBytes = (params.buf_size as number) - UPLOAD_OVERHEAD;
        }
        const r = await flashFactoryImage(client, image, { lane: lane === 'bulk' ? 'bulk' : 'smp', chunkBytes });
        out.push({
          bench: 'link.throughput',
          lane,
          baud: BAUD,
          payloadBytes: image.length,
          payloadBytesPerSecond: Math.round(r.payloadBytesPerSecond),
          lineRateRatio: Number((r.payloadBytesPerSecond / (BAUD / 10)).toFixed(3)),
          transferSeconds: Number((r.transferMs / 1000).toFixed(1)),
          retransmittedFrames: r.retransmittedFrames,
          ...(params ? { bufSize: params.buf_size, bufCount: params.buf_count, chunkBytes } : {}),
          note:
            lane === 'bulk'
              ? 'COBS frames of 1 KiB, CRC-32, window 16, selective ACKs'
              : lane === 'smp'
                ? 'image-group upload, 2 KiB chunks, one request at a time (as mcumgr does)'
                : 'image-group upload sized from the advertised buf_size, buf_count requests in flight (one)',
        });
        await client.request(2, 0, 5, {}); // restart, so the next lane may write again
      } finally {
        await client.close();
      }
      await new Promise((r) => setTimeout(r, 1500));
    }
    out.push(await rejectedFlash(dir, pair.host, image));
  } finally {
    dock.shutdown();
    pair.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
