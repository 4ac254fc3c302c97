// Makes a minified bundle fit a JerryScript 3.0 static snapshot. A static
// snapshot runs its bytecode in place from flash; every constant it names
// must then be a "direct" value: a small integer (|n| < 2^27) or a string the
// engine knows (registered from the literal list, also in flash). Two kinds
// of literal are neither, so they are rewritten into expressions that make
// the same value at run time:
//   - numbers outside the direct range: integers as (hi*67108864+lo), other
//     numbers as (+"text");
//   - regular expression literals: new RegExp("source","flags") (a literal
//     in a function also makes a new object at each evaluation).
// And a class without a constructor gets the one the language implies
// (`constructor(){}`, or `constructor(...a){super(...a)}` when it extends):
// JerryScript 3.0 makes an implicit constructor from the script record, which
// a static snapshot has none of (a failed assertion; a crash in release).
// Only the snapshot's input is rewritten; the source bundle that ships for
// QuickJS and the profile check keeps esbuild's bytes.
//
// The scanner knows what esbuild's minified output contains: strings,
// template literals (nested), regular expressions told from division by the
// token before them, numbers, names and punctuation. A mistake is loud, not
// silent: a division taken for a regex does not parse, a regex taken for a
// division is refused by the snapshot generator.

/** JerryScript's direct integers (JERRY_NUMBER_TYPE_FLOAT64: ECMA_INTEGER_NUMBER_MIN/MAX). */
const DIRECT_MAX = 0x7ffffff;
const DIRECT_MIN = -0x8000000;
const SPLIT = 67108864; // 2^26: both halves of an integer below 2^53 are then direct

/**
 * Keywords after which `/` starts a regular expression (they end no
 * expression). `of` is one only in `for (x of …)`, after a binding, which
 * ends an expression; elsewhere it is a name (a minifier may pick it), and
 * `of/2` divides.
 */
const BEFORE_REGEX = new Set(['return', 'typeof', 'instanceof', 'in', 'of', 'new', 'delete', 'void', 'throw', 'case', 'do', 'else', 'yield', 'await']);

export class SnapshotRewriteError extends Error {}

export interface SnapshotRewrite {
  code: string;
  numbers: number;
  regexes: number;
  constructors: number;
}

/** A class being scanned: where its body opens, whether it extends another and states a constructor. */
interface ClassScan {
  depth: number;
  bodyAt: number;
  derived: boolean;
  hasConstructor: boolean;
}

const isIdStart = (c: string) => /[A-Za-z_$\u0080-\uffff]/.test(c);
const isIdPart = (c: string) => /[\w$\u0080-\uffff]/.test(c);
const isDigit = (c: string) => c >= '0' && c <= '9';

/** A number the engine keeps direct, or the expression that makes it. */
export function numberExpression(text: string): string | null {
  const value = Number(text.replace(/_/g, ''));
  if (Number.isNaN(value)) throw new SnapshotRewriteError(`${text}: not a number literal`);
  if (Number.isInteger(value) && value >= DIRECT_MIN && value <= DIRECT_MAX) return null;
  if (Number.isInteger(value) && value <= Number.MAX_SAFE_INTEGER) return `(${Math.floor(value / SPLIT)}*${SPLIT}+${value % SPLIT})`;
  return `(+${JSON.stringify(String(value))})`;
}

/** The code with every non-direct number and regex literal rewritten and every class given its constructor (see above). */
export function staticSnapshotRewrite(code: string): SnapshotRewrite {
  let at = 0;
  let numbers = 0;
  let regexes = 0;
  let constructors = 0;
  // Classes whose header is being read (after `class`, before its body's `{`), and those whose body is open.
  let header: { derived: boolean; parens: number } | null = null;
  let parens = 0;
  const classes: ClassScan[] = [];
  // The last significant token: does it end an expression (then `/` divides)?
  let endsExpression = false;
  // One entry per open `{` or template `${`: true when `}` resumes a template.
  const braces: boolean[] = [];
  // Edits are collected, then applied in order: a constructor's place is known only at its body's end.
  const edits: { from: number; to: number; text: string }[] = [];
  const replace = (from: number, to: number, text: string) => edits.push({ from, to, text });

  /** Scans a template from just after its ` or } to just after its ` or ${; returns whether it opened ${. */
  const templatePart = (): boolean => {
    while (at < code.length) {
      const c = code[at];
      if (c === '\\') at += 2;
      else if (c === '`') {
        at++;
        return false;
      } else if (c === '$' && code[at + 1] === '{') {
        at += 2;
        return true;
      } else at++;
    }
    throw new SnapshotRewriteError('unterminated template literal');
  };

  while (at < code.length) {
    const c = code[at];
    if (c === ' ' || c === '\n' || c === '\t' || c === '\r') {
      at++;
      continue;
    }
    if (c === '/' && code[at + 1] === '/') {
      at = code.indexOf('\n', at);
      if (at < 0) at = code.length;
      continue;
    }
    if (c === '/' && code[at + 1] === '*') {
      const end = code.indexOf('*/', at + 2);
      if (end < 0) throw new SnapshotRewriteError('unterminated comment');
      at = end + 2;
      continue;
    }
    if (c === '"' || c === "'") {
      const start = at++;
      while (at < code.length && code[at] !== c) at += code[at] === '\\' ? 2 : 1;
      if (at >= code.length) throw new SnapshotRewriteError(`unterminated string at ${start}`);
      at++;
      // A string-named member "constructor"(…) is the class's constructor too.
      const member = classes[classes.length - 1];
      if (member && member.depth === braces.length && code[at] === '(' && code.slice(start + 1, at - 1) === 'constructor' && !/[.\w$\]]$/.test(code.slice(0, start).trimEnd()) && code[start - 1] !== '[') member.hasConstructor = true;
      endsExpression = true;
      continue;
    }
    if (c === '`') {
      at++;
      if (templatePart()) {
        braces.push(true);
        endsExpression = false;
      } else endsExpression = true;
      continue;
    }
    if (c === '{') {
      if (header && header.parens === parens) {
        classes.push({ depth: braces.length + 1, bodyAt: at + 1, derived: header.derived, hasConstructor: false });
        header = null;
      }
      braces.push(false);
      at++;
      endsExpression = false;
      continue;
    }
    if (c === '}') {
      const open = classes[classes.length - 1];
      if (open && open.depth === braces.length) {
        classes.pop();
        if (!open.hasConstructor) {
          replace(open.bodyAt, open.bodyAt, open.derived ? 'constructor(...a){super(...a)}' : 'constructor(){}');
          constructors++;
        }
      }
      at++;
      if (braces.pop()) {
        if (templatePart()) {
          braces.push(true);
          endsExpression = false;
        } else endsExpression = true;
      } else endsExpression = true; // an object literal's end; a block's end before a regex does not occur in esbuild's output
      continue;
    }
    if (isDigit(c) || (c === '.' && isDigit(code[at + 1] ?? ''))) {
      const start = at;
      if (c === '0' && /[xXoObB]/.test(code[at + 1] ?? '')) {
        at += 2;
        while (at < code.length && /[0-9a-fA-F_]/.test(code[at])) at++;
      } else {
        while (at < code.length && /[0-9_.]/.test(code[at])) at++;
        if (code[at] === 'e' || code[at] === 'E') {
          at++;
          if (code[at] === '+' || code[at] === '-') at++;
          while (at < code.length && isDigit(code[at])) at++;
        }
      }
      if (code[at] === 'n') throw new SnapshotRewriteError(`a BigInt literal at ${start}: the dock's engine has none`);
      const expr = numberExpression(code.slice(start, at));
      if (expr !== null) {
        // A number as a property name ({4294967296:x}) cannot become an expression; it never occurs in our bundle.
        if (code[at] === ':' && /[{,]\s*$/.test(code.slice(Math.max(0, start - 2), start))) throw new SnapshotRewriteError(`${code.slice(start, at)} as a property name at ${start}: write it as a string key`);
        replace(start, at, expr);
        numbers++;
      }
      endsExpression = true;
      continue;
    }
    if (isIdStart(c) || c === '\\') {
      const start = at++;
      while (at < code.length && isIdPart(code[at])) at++;
      const word = code.slice(start, at);
      // `a.return` is a property name, which does end an expression.
      const property = code[start - 1] === '.' && code[start - 2] !== '.';
      if (!property && word === 'class') header = { derived: false, parens };
      else if (!property && word === 'extends' && header) header.derived = true;
      const member = classes[classes.length - 1];
      if (word === 'constructor' && member && member.depth === braces.length && code[at] === '(' && code[start - 1] !== '.') member.hasConstructor = true;
      endsExpression = property || !BEFORE_REGEX.has(word) || (word === 'of' && !endsExpression);
      continue;
    }
    if (c === '/' && !endsExpression) {
      const start = at++;
      let inClass = false;
      while (at < code.length && (inClass || code[at] !== '/')) {
        if (code[at] === '\\') at++;
        else if (code[at] === '[') inClass = true;
        else if (code[at] === ']') inClass = false;
        else if (code[at] === '\n') throw new SnapshotRewriteError(`unterminated regular expression at ${start}`);
        at++;
      }
      const source = code.slice(start + 1, at);
      at++;
      const flagsStart = at;
      while (at < code.length && isIdPart(code[at])) at++;
      const flags = code.slice(flagsStart, at);
      // `return/a/` needs a space before `new`.
      const space = start > 0 && isIdPart(code[start - 1]) ? ' ' : '';
      replace(start, at, `${space}new RegExp(${JSON.stringify(source)}${flags ? `,${JSON.stringify(flags)}` : ''})`);
      regexes++;
      endsExpression = true;
      continue;
    }
    // Punctuation: `)` and `]` end an expression, `++`/`--` after an operand too; everything else starts one.
    if (c === '(') parens++;
    if (c === ')') parens--;
    at++;
    if (c === ')' || c === ']') endsExpression = true;
    else if ((c === '+' || c === '-') && code[at] === c) {
      at++;
      // x++ / y: postfix after an operand; ++x: prefix before one.
    } else endsExpression = false;
  }
  if (classes.length > 0 || header) throw new SnapshotRewriteError('a class body does not end');
  edits.sort((a, b) => a.from - b.from);
  const out: string[] = [];
  let copied = 0;
  for (const e of edits) {
    out.push(code.slice(copied, e.from), e.text);
    copied = e.to;
  }
  out.push(code.slice(copied));
  return { code: out.join(''), numbers, regexes, constructors };
}
