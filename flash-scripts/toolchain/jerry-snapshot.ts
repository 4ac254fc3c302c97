// The firmware as the dock's JerryScript runs it: a static snapshot (bytecode
// executed in place from flash) and its literal list (the strings it names,
// registered as the engine's external magic strings, also in flash). Parsed
// from source, the firmware's bytecode and strings sat in the 512 KiB heap
// (about 205 KB); run from a static snapshot they cost the heap nothing, and
// only the objects the firmware makes at run time remain.
//
// Made with the kit's own `jerry-snapshot`: a plain snapshot to list the
// literals (litdump), then the static snapshot against that list. Its input
// is the shipped bundle with the literals a static snapshot cannot hold
// rewritten (snapshot-rewrite.ts). Cached under .tmp/ by the bundle's hash.

import { spawnSync } from 'node:child_process';
import { transformSync } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { findJerryKit, type JerryKit } from '../../simulator/engine/jerryscript/kit.ts';
import { staticSnapshotRewrite, SnapshotRewriteError } from './snapshot-rewrite.ts';

export interface JerrySnapshot {
  /** The static snapshot's bytes (jerry_exec_snapshot with JERRY_SNAPSHOT_EXEC_ALLOW_STATIC). */
  snapshot: Uint8Array;
  /** The literal list file (litdump's list format), registered before the engine makes any string. */
  literalsFile: string;
  literalsBytes: number;
  literalCount: number;
}

const cacheRoot = resolve(import.meta.dirname, '..', '..', '.tmp', 'jerry-snapshot');

function run(tool: string, args: string[], cwd: string): void {
  const r = spawnSync(tool, args, { cwd, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`jerry-snapshot ${args[0]} failed: ${(r.error?.message ?? `${r.stdout}${r.stderr}`).trim()}`);
}

/**
 * The shipped bundle as the snapshot's input: arrow functions lowered to
 * function expressions (JerryScript 3.0 reads a static arrow function's
 * bytecode pointer from the wrong offset and crashes: a static snapshot
 * must hold none), then literals and implicit constructors rewritten.
 */
export function snapshotSource(code: string): string {
  const lowered = transformSync(code, { minify: true, supported: { arrow: false }, legalComments: 'none' }).code;
  return staticSnapshotRewrite(thisAfterSuper(lowered)).code;
}

/**
 * esbuild captures `this` for the lowered arrows of a derived class's
 * constructor before its super() call (`var J=this;super(e)`), which throws
 * ReferenceError; the capture moves after the call. Any other shape of it (a
 * super() taking an expression, a conditional super(), an arrow using both
 * this and arguments: `var J=this,K=arguments;super(e)`) is refused with
 * its place rather than shipped.
 */
export function thisAfterSuper(code: string): string {
  const fixed = code.replace(/\{var ([\w$]+)=this;super\(([\w$,]*)\)/g, '{var $1;super($2),$1=this');
  // Every block that opens by capturing `this` and calls super() inside is a derived constructor's body left unfixed.
  for (const m of fixed.matchAll(/\{var ([^;{}]*);/g)) {
    if (!/(?:^|,)[\w$]+=this(?:,|$)/.test(m[1])) continue;
    const at = m.index ?? 0;
    const body = fixed.slice(at, closingBrace(fixed, at));
    const call = /(?<![\w$.])super\(/.exec(body);
    if (!call) continue;
    const shape = /=arguments\b/.test(m[1])
      ? 'an arrow using both this and arguments in a derived constructor'
      : /^[^;]*;super\(/.test(body.slice(1))
        ? 'a super() call taking an expression'
        : 'a super() call that is not the constructor\'s first statement (conditional, or after other code)';
    throw new SnapshotRewriteError(
      `a lowered arrow captures this before super() ${where(fixed, at)}: ${shape}. Call super() once, first, with plain names (compute its arguments before the class), and keep arrows that use this from also using arguments (use rest parameters)`,
    );
  }
  return fixed;
}

/** The index just past the `}` closing the block opened at `open` (strings and templates skipped; esbuild's output has no comments). */
function closingBrace(code: string, open: number): number {
  let depth = 0;
  for (let at = open; at < code.length; at++) {
    const c = code[at];
    if (c === '"' || c === "'" || c === '`') {
      for (at++; at < code.length && code[at] !== c; at++) if (code[at] === '\\') at++;
    } else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return at + 1;
  }
  return code.length;
}

/** Where `at` is in the snapshot source: line, column and an excerpt (as the other build refusals say it). */
function where(code: string, at: number): string {
  const before = code.slice(0, at).split('\n');
  return `at line ${before.length}, column ${before[before.length - 1].length + 1} of the snapshot source (${JSON.stringify(code.slice(Math.max(0, at - 30), at + 50))})`;
}

/** Counts the entries of a literal list ("<bytes> <text>\n" each; the text may hold newlines). */
export function literalCount(list: Buffer): number {
  let n = 0;
  for (let at = 0; at < list.length; ) {
    const space = list.indexOf(0x20, at);
    const len = Number(list.subarray(at, space).toString('latin1'));
    if (!(len > 0)) break;
    n++;
    at = space + 1 + len + 1;
  }
  return n;
}

/** The static snapshot of `code`, or why there is none (no kit, or no jerry-snapshot in it). */
export function jerrySnapshot(code: string, kit: JerryKit | string = findJerryKit()): JerrySnapshot | string {
  if (typeof kit === 'string') return kit;
  if (!kit.snapshotTool) return `the JerryScript kit at ${kit.dir} has no bin/jerry-snapshot: the firmware is parsed from source instead`;
  const source = snapshotSource(code);
  const dir = join(cacheRoot, createHash('sha256').update(source).update(kit.dir).digest('hex').slice(0, 16));
  const snapshotFile = join(dir, 'firmware.snapshot');
  const literalsFile = join(dir, 'firmware.literals');
  if (!existsSync(snapshotFile)) {
    const work = `${dir}.part-${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'firmware.js'), source);
    run(kit.snapshotTool, ['generate', '-o', 'plain.snapshot', 'firmware.js'], work);
    run(kit.snapshotTool, ['litdump', '-o', 'firmware.literals', 'plain.snapshot'], work);
    run(kit.snapshotTool, ['generate', '--static', '--load-literals-list-format', 'firmware.literals', '-o', 'firmware.snapshot', 'firmware.js'], work);
    rmSync(join(work, 'plain.snapshot'));
    try {
      renameSync(work, dir);
    } catch {
      // Another process made the same snapshot first (test files run side by side): keep theirs, which may be in use.
      rmSync(work, { recursive: true, force: true });
    }
  }
  const literals = readFileSync(literalsFile);
  return { snapshot: new Uint8Array(readFileSync(snapshotFile)), literalsFile, literalsBytes: literals.length, literalCount: literalCount(literals) };
}
