// A simulated dock with a host client over an in-process line, plus factory
// images signed with its development key (or another key), for link tests.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedDock, type DockOptions } from '../../simulator/simulated-dock.ts';
import { SmpClient } from '../../flash-scripts/link/smp-client.ts';
import { loadRomStoreConfig } from '../../flash-scripts/romstore/romstore-config.ts';
import { buildFactoryImage } from '../../flash-scripts/romstore/factory-image-builder.ts';
import { generateSigningKeys, loadPrivateKey } from '../../flash-scripts/signing-keys.ts';
import { makeNoisePng } from './image-files.ts';

export interface LinkDock {
  dir: string;
  dock: SimulatedDock;
  client: SmpClient;
  close(): Promise<void>;
}

export async function linkDock(options: Partial<DockOptions> & { baud?: number | null; dir?: string } = {}): Promise<LinkDock> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'dl7450-link-'));
  const dock = new SimulatedDock({ log: () => {}, ...options, dir });
  await dock.boot();
  const client = new SmpClient(dock.attachInProcess(options.baud ?? null));
  return {
    dir,
    dock,
    client,
    async close() {
      await client.close();
      dock.shutdown();
    },
  };
}

/**
 * A factory image for the dock in `dir` (its ROM store, with the dock name
 * changed and, optionally, a noise PNG of about `extraBytes` to make it big),
 * signed with the dock's development key unless `otherSigner`.
 */
export function factoryImageFor(dir: string, name: string, extraBytes = 0, otherSigner = false): Uint8Array {
  const rom = join(dir, `rom-${name}`);
  const base = join(dir, 'rom');
  rmSync(rom, { recursive: true, force: true });
  mkdirSync(rom, { recursive: true });
  for (const f of ['config.yaml', 'default.png', 'app.js']) copyFileSync(join(base, f), join(rom, f));
  let config = readFileSync(join(rom, 'config.yaml'), 'utf8').replace('DL-7450 Demo Dock', name);
  if (extraBytes > 0) {
    const side = Math.ceil(Math.sqrt(extraBytes / 3));
    writeFileSync(join(rom, 'big.png'), makeNoisePng(side, side, 3));
    config = config.replace('images:\n', 'images:\n  big:\n    path: ${CONFIG_PATH}/big.png\n    type: png\n');
  }
  writeFileSync(join(rom, 'config.yaml'), config);
  let key = join(dir, 'dev-keys', 'factory.key');
  if (otherSigner) key = generateSigningKeys(join(rom, 'other-keys')).privatePath;
  return buildFactoryImage(loadRomStoreConfig(join(rom, 'config.yaml')), loadPrivateKey(key)).image;
}
