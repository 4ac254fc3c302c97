// Builds the firmware bundle for the dock's engine (dist/firmware.js) and
// refuses a bundle that steps outside the engine profile: the unminified
// twin for library calls, the shipped (minified) bytes for syntax, and, when
// the JerryScript kit is present, the real engine parsing the shipped bytes.
// With the kit it also writes what a JerryScript dock flashes and runs in
// place: dist/firmware.snapshot and its literal list dist/firmware.literals.
// Usage: npm run build

import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { checkEngineProfile, checkShippedSyntax, ENGINE_TARGET, parenthesiseArrowParams, type ProfileViolation } from './engine-profile.ts';
import { findJerryKit } from '../../simulator/engine/jerryscript/kit.ts';
import { buildJerryHost, jerryUnavailable } from '../../simulator/engine/jerryscript/jerry-host.ts';
import { jerrySnapshot } from './jerry-snapshot.ts';

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

/** The minified bundle, checked against the engine profile (library calls on its unminified twin, syntax on the shipped bytes). */
export async function buildFirmware(): Promise<FirmwareBundle> {
  const [minified, readable] = await Promise.all([bundle(true), bundle(false)]);
  const code = parenthesiseArrowParams(minified);
  return { code, bytes: Buffer.byteLength(code), violations: [...checkEngineProfile(readable), ...checkShippedSyntax(code)] };
}

/** `jerry --parse-only` on a written file: null when it parses, else the engine's message. */
export function jerryParse(jerry: string, file: string): string | null {
  const r = spawnSync(jerry, ['--parse-only', file], { encoding: 'utf8' });
  return r.status === 0 ? null : `${r.stdout}${r.stderr}`.trim() || `jerry exited ${r.status}`;
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
  const kit = findJerryKit();
  if (typeof kit === 'string') console.log(`not parsed on JerryScript: ${kit}`);
  else {
    const refused = jerryParse(kit.jerry, out);
    if (refused) {
      console.error(`JerryScript 3.0 does not parse ${out}: ${refused}`);
      process.exit(1);
    }
    console.log(`parsed on JerryScript 3.0 (${kit.jerry} --parse-only)`);
    const image = jerrySnapshot(fw.code, kit);
    if (typeof image === 'string') console.log(`no static snapshot: ${image}`);
    else {
      writeFileSync(join(root, 'dist', 'firmware.snapshot'), image.snapshot);
      copyFileSync(image.literalsFile, join(root, 'dist', 'firmware.literals'));
      console.log(`wrote dist/firmware.snapshot (${image.snapshot.length} bytes, run in place) and dist/firmware.literals (${image.literalCount} strings, ${image.literalsBytes} bytes)`);
    }
    // The simulator's JerryScript host, built now rather than at the first `--engine jerryscript`.
    const why = jerryUnavailable();
    console.log(why ? `JerryScript host not built: ${why}` : `JerryScript host: ${buildJerryHost(kit)}`);
  }
  console.log(`wrote ${out} (${fw.bytes} bytes)`);
}
