// `npm run figures [-- NAME…]`: regenerates the README's figure tables from
// the benches themselves, so no figure in the README is ever typed by hand.
// A table is a marked block in README.md:
//
//   <!-- figures: cli.startup columns=command,medianMs,targetMs,met -->
//   (generated)
//   <!-- /figures -->
//
// Each block runs its bench (`bench/run.ts --json NAME`, one process per
// bench) and is replaced by a table of the lines it printed, with the
// columns named (default: every field). With names given, only those blocks
// are refreshed; the others stay as they were measured.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const readme = join(root, 'README.md');
const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const BLOCK = /<!-- figures: (\S+)((?: [a-z]+=\S+)*) -->\n[\s\S]*?<!-- \/figures -->/g;

type Line = Record<string, unknown>;
const cache = new Map<string, Line[]>();

function measure(name: string): Line[] {
  const hit = cache.get(name);
  if (hit) return hit;
  process.stderr.write(`running ${name}…\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(root, 'bench', 'run.ts'), '--json', name], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`bench ${name} failed:\n${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
  cache.set(name, lines);
  return lines;
}

function cell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : String(Number(v.toPrecision(4)));
  if (typeof v === 'object') return JSON.stringify(v).replace(/\|/g, '\\|');
  return String(v).replace(/\|/g, '\\|');
}

export function table(lines: Line[], columns?: string[]): string {
  const cols = columns ?? [...new Set(lines.flatMap((l) => Object.keys(l)))].filter((c) => c !== 'bench');
  return [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`, ...lines.map((l) => `| ${cols.map((c) => cell(l[c])).join(' | ')} |`)].join('\n');
}

const text = readFileSync(readme, 'utf8');
const next = text.replace(BLOCK, (block, name: string, opts: string) => {
  if (only.length && only.indexOf(name) < 0) return block;
  const columns = /columns=(\S+)/.exec(opts)?.[1].split(',');
  const where = /where=(\S+)/.exec(opts)?.[1].split(',').map((kv) => kv.split(':') as [string, string]);
  let lines = measure(name);
  if (where) lines = lines.filter((l) => where.every(([k, v]) => String(l[k]) === v));
  const stamp = `measured by \`npm run figures\` on ${new Date().toISOString().slice(0, 10)}, commit ${spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim() || 'unknown'}`;
  return `<!-- figures: ${name}${opts} -->\n${table(lines, columns)}\n\n<sub>${name}: ${stamp}</sub>\n<!-- /figures -->`;
});
writeFileSync(readme, next);
process.stderr.write(`README.md: ${cache.size} bench${cache.size === 1 ? '' : 'es'} run\n`);
