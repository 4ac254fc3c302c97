// `npm run figures [-- NAME…]`: regenerates the README's figure tables from
// the benches themselves, so no figure in the README is ever typed by hand.
// A table is a marked block in README.md:
//
//   <!-- figures: cli.startup columns=command,medianMs,targetMs,met where=lane:bulk -->
//   (generated)
//   <!-- /figures -->
//
// Each block runs its bench (`bench/run.ts --json NAME`, one process per
// bench, shared by every block naming it) and is replaced by a table of the
// lines it printed (nested fields as dotted columns), with the columns named
// (default: every field) and the lines kept whose fields match `where`
// (`k:v`, several comma-separated; `k:a|b` for either value).
// Under the table: the date, the commit and the machine's load during the
// run, since wall-clock figures depend on it. With names given, only those
// blocks are refreshed; the others stay as they were measured.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { flattenLine } from './bench-line.ts';

const root = resolve(import.meta.dirname, '..');
const readme = join(root, 'README.md');
export const FIGURES_BLOCK = /<!-- figures: (\S+)((?: [a-z]+=\S+)*) -->\n[\s\S]*?<!-- \/figures -->/g;

type Line = Record<string, unknown>;
interface Run {
  lines: Line[];
  stamp: string;
}

function measure(name: string): Run {
  process.stderr.write(`running ${name}…\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(root, 'bench', 'run.ts'), '--json', name], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`bench ${name} failed:\n${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => flattenLine(JSON.parse(l) as Line));
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim() || 'unknown';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!README.md'], { cwd: root, encoding: 'utf8' }).stdout.trim() ? ' plus uncommitted changes' : '';
  const load = loadavg()[0].toFixed(1);
  return { lines, stamp: `measured by \`npm run figures\` on ${new Date().toISOString().slice(0, 10)}, commit ${commit}${dirty}, load ${load} on ${availableParallelism()} cores` };
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

/** One block's table from its bench's lines; a column no line has is an error (a renamed field must not leave an empty column). */
export function renderBlock(name: string, opts: string, run: Run): string {
  const columns = /columns=(\S+)/.exec(opts)?.[1].split(',');
  const where = /where=(\S+)/.exec(opts)?.[1].split(',').map((kv) => kv.split(':') as [string, string]);
  let lines = run.lines;
  if (where) lines = lines.filter((l) => where.every(([k, v]) => v.split('|').indexOf(String(l[k])) >= 0));
  if (lines.length === 0) throw new Error(`figures ${name}${opts}: no line of the bench matches`);
  for (const c of columns ?? []) if (!lines.some((l) => c in l)) throw new Error(`figures ${name}: no line has the column ${c} (fields: ${Object.keys(lines[0]).join(', ')})`);
  return `<!-- figures: ${name}${opts} -->\n${table(lines, columns)}\n\n<sub>${name}: ${run.stamp}</sub>\n<!-- /figures -->`;
}

if (import.meta.main ?? process.argv[1]?.endsWith('readme-figures.ts')) {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const runs = new Map<string, Run>();
  // Measure first, then read the README again: it may be edited while long benches run.
  for (const m of readFileSync(readme, 'utf8').matchAll(FIGURES_BLOCK)) {
    const name = m[1];
    if ((only.length && only.indexOf(name) < 0) || runs.has(name)) continue;
    runs.set(name, measure(name));
  }
  const next = readFileSync(readme, 'utf8').replace(FIGURES_BLOCK, (block, name: string, opts: string) => (runs.has(name) ? renderBlock(name, opts, runs.get(name)!) : block));
  writeFileSync(readme, next);
  process.stderr.write(`README.md: ${runs.size} bench${runs.size === 1 ? '' : 'es'} run\n`);
}
