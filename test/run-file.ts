// Runs one test file's uvu suites in this process and ends with one line the
// runner (test/run.ts) reads: `@@result {"total":N,"passed":N,"skipped":N}`.
// Usage: node --import tsx test/run-file.ts <file>
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const file = process.argv[2];
if (!file) {
  console.error('usage: node --import tsx test/run-file.ts <file>');
  process.exit(2);
}

let captured = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

(globalThis as Record<string, unknown>).UVU_DEFER = 1;
const uvu = await import('uvu');
const queue = (globalThis as unknown as { UVU_QUEUE: unknown[][] }).UVU_QUEUE;
(globalThis as Record<string, unknown>).UVU_INDEX = 0;
queue.push([relative(resolve(import.meta.dirname, '..'), resolve(file))]);
await import(pathToFileURL(resolve(file)).href);
await uvu.exec(false);
process.stdout.write = write;

const plain = captured.replace(/\x1b\[[0-9;]*m/g, '');
const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
console.log(`@@result ${JSON.stringify({ total, passed, skipped })}`);
// Handles a test left open (a port, a timer) must not keep the file running.
process.exit(0);
