// Builds the firmware bundle for the dock's engine (dist/firmware.js) and
// refuses a bundle that steps outside the engine profile.
// Usage: npm run build

import { build } from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkEngineProfile, ENGINE_TARGET, type ProfileViolation } from './engine-profile.ts';

const root = resolve(import.meta.dirname, '..', '..');

export interface FirmwareBundle {
  code: string;
  bytes: number;
  violations: ProfileViolation[];
}

async function bundle(minify: boolean): Promise<string> {
  const result = await build({
    ...ENGINE_TARGET,
    entryPoints: [join(root, 'firmware', 'main.ts')],
    bundle: true,
    write: false,
    minify,
    legalComments: 'none',
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

/** The minified bundle, checked against the engine profile on its unminified twin. */
export async function buildFirmware(): Promise<FirmwareBundle> {
  const [code, readable] = await Promise.all([bundle(true), bundle(false)]);
  return { code, bytes: Buffer.byteLength(code), violations: checkEngineProfile(readable) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const fw = await buildFirmware();
  if (fw.violations.length > 0) {
    console.error(`firmware bundle uses what the dock's engine lacks:\n${fw.violations.map((v) => `  line ${v.line}: ${v.rule}: ${v.text}`).join('\n')}`);
    process.exit(1);
  }
  const out = join(root, 'dist', 'firmware.js');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, fw.code);
  console.log(`wrote ${out} (${fw.bytes} bytes)`);
}
