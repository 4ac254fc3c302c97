import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

// Device code runs inside the dock's embedded engine: no Node modules, no Node globals.
const root = resolve(import.meta.dirname, '..');
const DEVICE_DIRS = ['hal', 'bytes', 'datastore', 'images', 'firmware'];
const NODE_BUILTINS = /^(node:|fs$|path$|os$|crypto$|buffer$|child_process$|net$|tty$|util$|stream$|events$|url$|worker_threads$)/;

function sources(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const boundary = suite('device code boundary');

boundary('hal/, bytes/, datastore/, images/ and firmware/ import no Node module and use no Node global', () => {
  const files = DEVICE_DIRS.flatMap((d) => sources(join(root, d)));
  assert.ok(files.length > 5, 'found the device sources');
  const problems: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g)) {
      const spec = m[1] ?? m[2] ?? m[3];
      if (NODE_BUILTINS.test(spec)) problems.push(`${relative(root, file)} imports ${spec}`);
      if (spec.startsWith('.') && /(simulator|flash-scripts|test)\//.test(resolve(join(file, '..'), spec).slice(root.length))) {
        problems.push(`${relative(root, file)} imports host code ${spec}`);
      }
    }
    const code = text.replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const global of ['Buffer', 'process', '__dirname', 'require(']) {
      if (new RegExp(`\\b${global.replace('(', '\\(')}`).test(code)) problems.push(`${relative(root, file)} uses ${global}`);
    }
  }
  assert.equal(problems, []);
});

boundary.run();
