// `npm run bench [-- --json] [NAME…]`: runs the named benchmarks (all when
// none is named). With --json, one JSON object per line, each with `bench`;
// without, a readable table per benchmark.
import { registry } from './registry.ts';
import { flattenLine } from './bench-line.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const names = args.filter((a) => !a.startsWith('--'));
for (const name of names) {
  if (!registry[name]) {
    console.error(`unknown benchmark "${name}". Known: ${Object.keys(registry).join(', ')}`);
    process.exit(2);
  }
}
for (const name of names.length ? names : Object.keys(registry)) {
  const lines = await registry[name]();
  if (json) {
    for (const line of lines) console.log(JSON.stringify(line));
    continue;
  }
  console.log(`\n== ${name}`);
  const flat = lines.map((l) => flattenLine(l));
  const cols = [...new Set(flat.flatMap((l) => Object.keys(l)))].filter((c) => c !== 'bench' && c !== 'heapMethod' && !c.startsWith('floor.note'));
  const width = cols.map((c) => Math.max(c.length, ...flat.map((l) => String(l[c] ?? '').length)));
  console.log(cols.map((c, i) => c.padEnd(width[i])).join('  '));
  for (const l of flat) console.log(cols.map((c, i) => String(l[c] ?? '').padEnd(width[i])).join('  '));
}
