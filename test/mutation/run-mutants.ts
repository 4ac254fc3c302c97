// `npm run mutants [-- ID…]`: plants each bug of mutants.ts, one at a time,
// in a scratch copy of the working tree, runs the suites that should notice
// it, and prints a table: caught (some test failed), MISSED (all passed) or
// stale (the code it targets is gone). Not part of `npm test` (it runs the
// named suites once per bug); run it before saying the tests are honest.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MUTANTS } from './mutants.ts';

const root = resolve(import.meta.dirname, '..', '..');
const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const scratch = mkdtempSync(join(tmpdir(), 'dl7450-mutants-'));
const copy = join(scratch, 'main');
cpSync(root, copy, { recursive: true, filter: (src) => !/\/(node_modules|\.git|dist|\.tmp|\.dock)(\/|$)/.test(src.slice(root.length)) });
symlinkSync(join(root, 'node_modules'), join(copy, 'node_modules'));
// The engine kit and samples beside the repository, as in CI.
if (existsSync(join(root, '..', 'shared'))) symlinkSync(join(root, '..', 'shared'), join(scratch, 'shared'));

const rows: { id: string; result: string; detail: string }[] = [];
try {
  for (const m of MUTANTS) {
    if (only.length && only.indexOf(m.id) < 0) continue;
    const file = join(copy, m.file);
    const original = existsSync(file) ? readFileSync(file, 'utf8') : null;
    const hits = original === null ? 0 : original.split(m.find).length - 1;
    if (hits !== 1) {
      rows.push({ id: m.id, result: 'stale', detail: `${m.file}: the text to change occurs ${hits} times` });
      continue;
    }
    writeFileSync(file, original!.replace(m.find, m.replace));
    try {
      let failed = 0;
      let ran = 0;
      for (const suite of m.suites) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', join(copy, 'test', 'run.ts'), suite], { cwd: copy, encoding: 'utf8', env: { ...process.env, DL7450_TEST_TIMEOUT_S: '600' } });
        const last = /(\d+) passed, (\d+) failed\s*$/.exec(r.stdout.trim());
        ran += last ? Number(last[1]) + Number(last[2]) : 0;
        failed += last ? Number(last[2]) : 1;
      }
      rows.push({ id: m.id, result: failed > 0 ? 'caught' : 'MISSED', detail: `${failed} of ${ran} tests failed in ${m.suites.join(', ')}` });
    } finally {
      writeFileSync(file, original!);
    }
    process.stderr.write(`${rows[rows.length - 1].id}: ${rows[rows.length - 1].result}\n`);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
console.log('| bug planted | result | detail |\n|---|---|---|');
for (const r of rows) console.log(`| ${MUTANTS.find((m) => m.id === r.id)!.what} | ${r.result} | ${r.detail} |`);
const missed = rows.filter((r) => r.result !== 'caught').length;
console.log(`${rows.length - missed} of ${rows.length} caught`);
process.exitCode = missed ? 1 : 0;
