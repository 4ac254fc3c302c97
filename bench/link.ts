// link.throughput: a 12 MiB factory image from the host to a simulated dock
// through a pseudo-terminal pair (socat), the dock's UART paced at 921,600
// baud (8N1: 92,160 bytes/s), once over the bulk lane and once over SMP.
// payloadBytesPerSecond counts image bytes over the transfer (not the commit);
// lineRateRatio divides it by the line rate. DL7450_LINK_BENCH_MIB scales the
// image down for a quick look (the README quotes 12 MiB).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedDock } from '../flash-scripts/sim/simulated-dock.ts';
import { SmpClient } from '../flash-scripts/link/smp-client.ts';
import { flashFactoryImage, type Lane } from '../flash-scripts/link/factory-flash.ts';
import { loadRomStoreConfig } from '../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../flash-scripts/romstore/factory-image-builder.ts';
import { loadPrivateKey } from '../flash-scripts/signing-keys.ts';
import { writeNoiseRomStore } from '../test/support/noise-rom-store.ts';
import { ptyPair } from '../test/support/pty-pair.ts';
import type { BenchLine } from './runtime.ts';

const BAUD = 921_600;

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
    for (const lane of ['bulk', 'smp'] as Lane[]) {
      const client = await SmpClient.connect(`serial://${pair.host}?baud=${BAUD}`);
      try {
        const r = await flashFactoryImage(client, image, { lane });
        out.push({
          bench: 'link.throughput',
          lane,
          baud: BAUD,
          payloadBytes: image.length,
          payloadBytesPerSecond: Math.round(r.payloadBytesPerSecond),
          lineRateRatio: Number((r.payloadBytesPerSecond / (BAUD / 10)).toFixed(3)),
          transferSeconds: Number((r.transferMs / 1000).toFixed(1)),
          retransmittedFrames: r.retransmittedFrames,
          note: lane === 'bulk' ? 'COBS frames of 1 KiB, CRC-32, window 16, selective ACKs' : 'image-group upload, 2 KiB chunks, one request at a time (as mcumgr does)',
        });
        await client.request(2, 0, 5, {}); // restart, so the next lane may write again
      } finally {
        await client.close();
      }
      await new Promise((r) => setTimeout(r, 1500));
    }
  } finally {
    dock.shutdown();
    pair.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
