// A ROM store of large incompressible images, for benches and heap tests:
// six noise PNGs of about `mib` MiB together, and the config that names them.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeNoisePng } from './image-files.ts';

export function writeNoiseRomStore(dir: string, mib: number, seed = 0, extraYaml = ''): { config: string; imageBytes: number } {
  const side = Math.floor(Math.sqrt((mib * 1024 * 1024) / 6 / 3));
  const lines = ['images:'];
  let imageBytes = 0;
  for (let i = 0; i < 6; i++) {
    const png = makeNoisePng(side, side, seed + i);
    imageBytes += png.length;
    writeFileSync(join(dir, `bg${i}.png`), png);
    lines.push(`  bg${i}:`, `    path: \${CONFIG_PATH}/bg${i}.png`, '    type: png');
  }
  const config = join(dir, 'romstore.yaml');
  writeFileSync(config, lines.join('\n') + '\n' + extraYaml);
  return { config, imageBytes };
}
