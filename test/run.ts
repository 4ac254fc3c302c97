// Runs every test file (test/ and *.test.ts beside the code) in its own
// process, so a file that crashes (an unhandled error event, a native abort)
// counts as failed and the rest still run; then prints the closing line CI
// reads: `N passed, N failed`. Each file gets its own TMPDIR, removed after it
// ends, so no test leaves temp folders behind even when it dies. Files run
// side by side, one per core (most of a serial-link test's time is waiting
// on a paced line); each file's output is printed whole when it ends.
// Usage: tsx test/run.ts [substring filter]
//   DL7450_TEST_TIMEOUT_S: per file, default 900; DL7450_TEST_JOBS: files at once, default the cores.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const dirs = ['test', 'hal', 'bytes', 'datastore', 'images', 'simulator', 'flash-scripts', 'firmware'];
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
// DL7450_TEST_DIR: run the test files of one other folder (the runner's own test uses it).
for (const d of process.env.DL7450_TEST_DIR ? [resolve(process.env.DL7450_TEST_DIR)] : dirs.map((x) => join(root, x))) {
  try { walk(d, files); } catch { /* folder may not exist yet */ }
}
files.sort();

interface FileResult { file: string; total: number; passed: number; skipped: number; crashed: string | null; ms: number }

function runFile(file: string): Promise<FileResult> {
  const rel = relative(root, file);
  const tmp = mkdtempSync(join(tmpdir(), 'dl7450-test-'));
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'run-file.ts'), file], {
      cwd: root,
      env: { ...process.env, TMPDIR: tmp },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      process.stdout.write(out.replace(/^@@result .*\n?/m, ''));
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
const jobs = Math.max(1, Number(process.env.DL7450_TEST_JOBS ?? availableParallelism()));
let next = 0;
async function worker(): Promise<void> {
  while (next < files.length) {
    const r = await runFile(files[next++]);
    if (r.crashed) console.log(`\n  FAIL  ${r.file}: ${r.crashed}\n`);
    results.push(r);
  }
}
const started = Date.now();
await Promise.all(Array.from({ length: Math.min(jobs, files.length) }, worker));

const total = results.reduce((s, r) => s + r.total, 0);
const passed = results.reduce((s, r) => s + r.passed, 0);
const skipped = results.reduce((s, r) => s + r.skipped, 0);
// uvu's Total counts the tests that ran: skipped ones are not in it (total - passed - skipped hid one failure per skip).
const failed = total - passed;
console.log(`\ntime per file (${jobs} at once, ${((Date.now() - started) / 1000).toFixed(0)} s in all):`);
for (const r of [...results].sort((a, b) => b.ms - a.ms)) console.log(`  ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${r.file}${r.crashed ? `  (${r.crashed})` : r.total - r.passed ? '  (failures)' : ''}`);
if (files.length === 0) {
  console.log('no tests found');
  process.exitCode = 1;
}
if (skipped) console.log(`${skipped} skipped`);
console.log(`${passed} passed, ${failed} failed`);
if (failed > 0 || files.length === 0) process.exitCode = 1;
