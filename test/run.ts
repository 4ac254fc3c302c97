// Runs every test file (test/ and *.test.ts beside the code) in its own
// process, so a file that crashes (an unhandled error event, a native abort)
// counts as failed and the rest still run; then prints the closing line CI
// reads: `N passed, N failed`. Each file gets its own TMPDIR, removed after it
// ends, so no test leaves temp folders behind even when it dies.
// Usage: tsx test/run.ts [substring filter]   (DL7450_TEST_TIMEOUT_S: per file, default 900)
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dirs = ['test', 'hal', 'datastore', 'images', 'simulator', 'flash-scripts', 'firmware'];
const filter = process.argv[2] ?? '';
const timeoutMs = Number(process.env.DL7450_TEST_TIMEOUT_S ?? 900) * 1000;

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.test.ts') && path.includes(filter)) out.push(path);
  }
}
const files: string[] = [];
for (const d of dirs) {
  try { walk(join(root, d), files); } catch { /* folder may not exist yet */ }
}
files.sort();

interface FileResult { file: string; total: number; passed: number; skipped: number; crashed: string | null; ms: number }

function runFile(file: string): Promise<FileResult> {
  const rel = relative(root, file);
  const tmp = mkdtempSync(join(tmpdir(), 'dl7450-test-'));
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'run-file.ts'), rel], {
      cwd: root,
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      out += text;
      process.stdout.write(text.replace(/^@@result .*\n?/m, ''));
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      rmSync(tmp, { recursive: true, force: true });
      const m = /^@@result (.*)$/m.exec(out);
      const ms = Date.now() - started;
      if (!m) {
        const why = signal === 'SIGKILL' && Date.now() - started >= timeoutMs ? `timed out after ${timeoutMs / 1000} s` : `exited (${signal ?? `code ${code}`}) before its tests finished`;
        return done({ file: rel, total: 1, passed: 0, skipped: 0, crashed: why, ms });
      }
      const r = JSON.parse(m[1]) as { total: number; passed: number; skipped: number };
      done({ file: rel, ...r, crashed: r.total === 0 ? 'ran no tests' : null, ms });
    });
  });
}

const results: FileResult[] = [];
for (const file of files) {
  const r = await runFile(file);
  if (r.crashed) console.log(`\n  FAIL  ${r.file}: ${r.crashed}\n`);
  results.push(r);
}

const total = results.reduce((s, r) => s + r.total, 0);
const passed = results.reduce((s, r) => s + r.passed, 0);
const skipped = results.reduce((s, r) => s + r.skipped, 0);
const failed = total - passed - skipped;
console.log('\ntime per file:');
for (const r of [...results].sort((a, b) => b.ms - a.ms)) console.log(`  ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${r.file}${r.crashed ? `  (${r.crashed})` : r.total - r.passed - r.skipped ? '  (failures)' : ''}`);
if (files.length === 0) {
  console.log('no tests found');
  process.exitCode = 1;
}
if (skipped) console.log(`${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);
if (failed > 0 || files.length === 0) process.exitCode = 1;
