#!/usr/bin/env node
// Entry point of the `dl7450` command. The host tools are TypeScript; compiling
// them at every start cost 2–5 s, so they are bundled once into dist/cli/
// (esbuild, about half a second; one chunk per command, loaded when it runs)
// and rebuilt only when a source file is newer than the bundle. Dependencies
// stay in node_modules.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'cli');
const bundle = join(outdir, 'cli-entry.js');
const SOURCES = ['flash-scripts', 'simulator', 'bytes', 'datastore', 'images', 'hal', 'firmware'];

function newestSource() {
  let newest = statSync(join(root, 'package.json')).mtimeMs;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  for (const d of SOURCES) if (existsSync(join(root, d))) walk(join(root, d));
  return newest;
}

async function build() {
  const esbuild = await import('esbuild');
  // Bundled modules keep their own folder: import.meta.dirname is written in as each source file's.
  const ownDirname = {
    name: 'own-dirname',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8')
          .replaceAll('import.meta.dirname', JSON.stringify(dirname(args.path)))
          .replaceAll('import.meta.filename', JSON.stringify(args.path));
        return { contents: text, loader: 'ts' };
      });
    },
  };
  mkdirSync(dirname(outdir), { recursive: true });
  const partial = `${outdir}.${process.pid}.partial`;
  await esbuild.build({
    entryPoints: [join(root, 'flash-scripts', 'cli-entry.ts')],
    outdir: partial,
    outExtension: { '.js': '.js' },
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    plugins: [ownDirname],
    logLevel: 'error',
    banner: { js: `// Built from ${root} by bin/dl7450.mjs; rebuilt when a source file changes.` },
  });
  // Swap whole folders: a command starting meanwhile sees the old bundle or the new one.
  const old = `${outdir}.${process.pid}.old`;
  if (existsSync(outdir)) renameSync(outdir, old);
  try {
    renameSync(partial, outdir);
  } catch (e) {
    if (!existsSync(outdir)) throw e; // another command put its build in place first: use that one
    rmSync(partial, { recursive: true, force: true });
  }
  rmSync(old, { recursive: true, force: true });
}

let fresh = false;
try {
  fresh = existsSync(bundle) && statSync(bundle).mtimeMs >= newestSource() && readFileSync(bundle, 'utf8').slice(0, 400).includes(`Built from ${root} `);
} catch {
  fresh = false;
}
if (!fresh) await build();
await import(pathToFileURL(bundle).href);
