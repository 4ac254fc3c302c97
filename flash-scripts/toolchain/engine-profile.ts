// The language the dock's engine has (a JerryScript 3.0-class engine), as
// esbuild settings plus a check of the built bundle. Measured facts:
// JerryScript 3.0 rejects compound assignment to private class fields, and
// lacks regex named groups, lookbehind, \p{} and the d flag, findLast,
// String.prototype.normalize, Intl, TextEncoder, FinalizationRegistry and
// Error cause. esbuild lowers some of these silently (a regex literal it
// cannot keep becomes a runtime `new RegExp`), so the output is checked too.

import type { BuildOptions } from 'esbuild';

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
