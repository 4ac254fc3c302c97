// The language the dock's engine has (a JerryScript 3.0-class engine), as
// esbuild settings plus a check of the built bundle. Measured facts:
// JerryScript 3.0 rejects compound assignment to private class fields, and
// lacks regex named groups, lookbehind, \p{} and the d flag, findLast,
// String.prototype.normalize, Intl, TextEncoder, FinalizationRegistry and
// Error cause. esbuild lowers some of these silently (a regex literal it
// cannot keep becomes a runtime `new RegExp`), so the output is checked too.
// JerryScript 3.0 also refuses a single-parameter arrow without parentheses
// as a property value in a parenthesised object literal (`({x: r => 1})`),
// which esbuild's minifier writes from `(x) => …` (there is no option to
// keep them; lowering arrows to functions breaks derived constructors):
// parenthesiseArrowParams puts them back on the minified bytes, proven by
// re-printing, and checkShippedSyntax refuses any that ship.

import { transformSync, type BuildOptions } from 'esbuild';

export const ENGINE_TARGET: Pick<BuildOptions, 'target' | 'supported' | 'platform' | 'format'> = {
  target: 'es2020',
  platform: 'neutral',
  format: 'iife',
  supported: {
    'class-private-field': false,
    'class-private-method': false,
    'class-private-accessor': false,
    'class-private-static-field': false,
    'class-private-static-method': false,
    'class-private-static-accessor': false,
    'class-private-brand-check': false,
    bigint: false,
    'top-level-await': false,
    'dynamic-import': false,
    'import-meta': false,
  },
};

/** Language features the engine cannot even parse or that esbuild lowered into runtime calls: never allowed. */
const SYNTAX: [RegExp, string][] = [
  [/\bnew RegExp\s*\(\s*["'`]/, 'a regex esbuild could not keep as a literal (named groups, lookbehind, \\p{} or the d flag)'],
  [/\(\?<[=!]/, 'regex lookbehind'],
  [/\(\?<[A-Za-z]/, 'regex named group'],
  [/\\p\{/, 'regex \\p{} class'],
  [/\b\d+n\b/, 'a BigInt literal'],
];

/** Library calls the engine lacks: never in our code; in packages only behind feature tests (typeof X). */
const FORBIDDEN: [RegExp, string][] = [
  [/\brequire\s*\(/, 'require(): the engine has no module loader'],
  [/\.findLast(Index)?\s*\(/, 'Array findLast'],
  [/\.normalize\s*\(\s*["'`]?N?F?K?[CD]?["'`]?\s*\)/, 'String.prototype.normalize'],
  [/\bIntl\./, 'Intl'],
  [/\bnew TextEncoder\b|\bnew TextDecoder\b/, 'TextEncoder / TextDecoder'],
  [/\bFinalizationRegistry\b|\bWeakRef\b/, 'FinalizationRegistry / WeakRef'],
  [/\bBigInt\s*\(/, 'BigInt'],
  [/\bprocess\.|\bBuffer\./, 'a Node global'],
];

export interface ProfileViolation {
  rule: string;
  line: number;
  text: string;
}

/**
 * Lines of an unminified esbuild bundle that use something outside the
 * engine profile. esbuild marks each input with a `// path` comment: our own
 * code gets every check; code from node_modules gets the syntax checks only,
 * since packages such as cbor-x probe for TextEncoder, Buffer or BigInt
 * behind feature tests and run without them (cbor-x is proven on QuickJS and
 * JerryScript 3.0).
 */
export function checkEngineProfile(code: string): ProfileViolation[] {
  const out: ProfileViolation[] = [];
  let source = '';
  code.split('\n').forEach((text, i) => {
    const marker = /^\s*\/\/ (\S+\.(?:ts|js|mjs|cjs))$/.exec(text);
    if (marker) {
      source = marker[1];
      return;
    }
    const ours = source.indexOf('node_modules/') < 0;
    for (const [pattern, rule] of ours ? SYNTAX.concat(FORBIDDEN) : SYNTAX) {
      if (pattern.test(text)) out.push({ rule, line: i + 1, text: `${source}: ${text.trim().slice(0, 140)}` });
    }
  });
  return out;
}

/** A property value that is an unparenthesised single-parameter arrow (`{a:r=>…`): JerryScript 3.0 refuses it inside `( … )`. */
const BARE_ARROW_PROPERTY = /[{,](?:[\w$]+|"[^"\n]*"|'[^'\n]*'|\[[^\]\n]*\]):(?:async\s+)?[A-Za-z_$][\w$]*\s*=>/g;

/**
 * Syntax the engine cannot parse, checked on the bytes that ship (the
 * minified bundle: the unminified twin keeps parentheses the minifier drops).
 * Conservative: the construct inside a string literal is refused too.
 */
export function checkShippedSyntax(code: string): ProfileViolation[] {
  const out: ProfileViolation[] = [];
  for (const m of code.matchAll(BARE_ARROW_PROPERTY)) {
    const at = m.index ?? 0;
    const line = code.slice(0, at).split('\n').length;
    out.push({ rule: 'an unparenthesised single-parameter arrow as a property value (JerryScript 3.0 refuses `({x: r => 1})`)', line, text: code.slice(Math.max(0, at - 40), at + 40) });
  }
  for (const [pattern, rule] of SYNTAX) {
    const m = pattern.exec(code);
    if (m) out.push({ rule, line: code.slice(0, m.index).split('\n').length, text: code.slice(Math.max(0, m.index - 40), m.index + 40) });
  }
  return out;
}

export class ShippedSyntaxError extends Error {
  readonly code = 'shipped-syntax';
}

/** One match of BARE_ARROW_PROPERTY with its parameter in parentheses. */
function parenthesised(match: string): string {
  return match.replace(/:(async\s+)?([A-Za-z_$][\w$]*)\s*=>$/, ':$1($2)=>');
}

/** The first match whose rewrite alone changes the program (a match inside a string), as line:column and an excerpt. Runs only on the refusal path. */
function whereRewriteChanges(code: string, print: (c: string) => string): string {
  const original = print(code);
  for (const m of code.matchAll(BARE_ARROW_PROPERTY)) {
    const at = m.index ?? 0;
    const one = code.slice(0, at) + parenthesised(m[0]) + code.slice(at + m[0].length);
    if (print(one) === original) continue;
    const before = code.slice(0, at).split('\n');
    return `at line ${before.length}, column ${before[before.length - 1].length + 1} of the bundle (${JSON.stringify(code.slice(Math.max(0, at - 30), at + m[0].length + 10))})`;
  }
  return '(no single rewrite is to blame)';
}

/**
 * `{a:r=>` becomes `{a:(r)=>` in minified code. A match inside a string
 * would change the program, so the result is proven equal: esbuild's
 * unminified printer writes every arrow parameter in parentheses, so both
 * texts print identically exactly when only those parentheses were added.
 */
export function parenthesiseArrowParams(code: string): string {
  const fixed = code.replace(BARE_ARROW_PROPERTY, parenthesised);
  if (fixed === code) return code;
  const print = (c: string) => transformSync(c, { minify: false, legalComments: 'none' }).code;
  if (print(fixed) !== print(code)) throw new ShippedSyntaxError(`parenthesising arrow parameters would change the program ${whereRewriteChanges(code, print)}: refusing to ship (move that text out of a string or template, or write the arrow's parameter in parentheses)`);
  return fixed;
}
