// The README's figures are generated (`npm run figures`), never typed: every
// block names a bench that exists and the columns it shows, and carries the
// stamp of the run that measured it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FIGURES_BLOCK, renderBlock } from '../bench/readme-figures.ts';
import { registry } from '../bench/registry.ts';

const root = resolve(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const t = suite('README figures come from the benches');

t('every figures block names a registered bench, has a table and the stamp of its run', () => {
  const blocks = [...readme.matchAll(FIGURES_BLOCK)];
  assert.ok(blocks.length >= 10, `found ${blocks.length} blocks`);
  for (const [block, name] of blocks) {
    assert.ok(registry[name], `${name}: not a bench (known: ${Object.keys(registry).join(', ')})`);
    assert.match(block, /\n\| .+ \|\n\|---/, `${name}: a table`);
    assert.match(block, new RegExp(`<sub>${name.replace('.', '\\.')}: measured by \`npm run figures\` on \\d{4}-\\d\\d-\\d\\d, commit [0-9a-f]{7}`), `${name}: stamped`);
  }
});

t('a block keeps the lines its where names (alternatives with |), in its columns, and refuses a column no line has', () => {
  const run = { stamp: 'measured by `npm run figures` on 2026-01-01, commit abcdef0', lines: [{ lane: 'bulk', rate: 1234.5678, n: 1200 }, { lane: 'smp', rate: 2, n: 3 }, { lane: 'rejected', ms: 7 }] };
  const out = renderBlock('link.throughput', ' columns=lane,rate,n where=lane:bulk|smp', run);
  assert.is(out.split('\n').filter((l) => l.startsWith('| ')).length, 3, 'header and two lines');
  assert.match(out, /\| bulk \| 1235 \| 1,200 \|/);
  assert.not.match(out, /rejected/);
  assert.throws(() => renderBlock('link.throughput', ' columns=lane,speed', run), /no line has the column speed/);
  assert.throws(() => renderBlock('link.throughput', ' where=lane:none', run), /no line of the bench matches/);
});

t.run();
