// Token import files, as the token vendor ships them: `.csv` (a header row
// with `id` and `token` columns, RFC 4180 quoting) or `.jsonl` (one
// {"id": ..., "token": ...} per line). Every problem is collected with its
// line number, so one fix-up pass handles them all; any problem refuses the
// whole file. Duplicates are the pool's business (TokenPool.import).

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { idProblem, TokenPoolError, tokenProblem } from './token-pool.ts';
import { csvRecords } from './csv-records.ts';

export interface ImportedToken {
  id: string;
  value: string;
}

const MAX_LISTED = 20;

export function parseTokenFile(path: string): ImportedToken[] {
  const ext = extname(path).toLowerCase();
  if (ext !== '.csv' && ext !== '.jsonl') {
    throw new TokenPoolError('malformed', `${path}: unknown token file type ${JSON.stringify(ext || '(none)')}: give a .csv (columns id, token) or a .jsonl ({"id", "token"} per line)`);
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TokenPoolError(code === 'ENOENT' ? 'not-found' : 'malformed', `${path}: cannot read it (${code ?? (e as Error).message})`);
  }
  text = text.replace(/^\uFEFF/, ''); // spreadsheet exports start with a byte-order mark
  const problems: string[] = [];
  const tokens = ext === '.csv' ? parseCsv(text, problems) : parseJsonl(text, problems);
  if (problems.length === 0 && tokens.length === 0) problems.push('no tokens in the file');
  if (problems.length) {
    const more = problems.length > MAX_LISTED ? `\n  … and ${problems.length - MAX_LISTED} more` : '';
    throw new TokenPoolError('malformed', `${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'}, nothing imported:\n  ${problems.slice(0, MAX_LISTED).join('\n  ')}${more}`);
  }
  return tokens;
}

/** Adds the id and token problems of one entry. */
function check(id: string, value: string, line: number, problems: string[]): boolean {
  const found = [idProblem(id), tokenProblem(value)].filter((p) => p !== undefined);
  for (const p of found) problems.push(`line ${line}: ${p}`);
  return found.length === 0;
}

function parseJsonl(text: string, problems: string[]): ImportedToken[] {
  const out: ImportedToken[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch (e) {
      problems.push(`line ${line}: not valid JSON (${(e as Error).message})`);
      return;
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      problems.push(`line ${line}: not a JSON object`);
      return;
    }
    const { id, token } = o as Record<string, unknown>;
    let ok = true;
    for (const [name, v] of [['id', id], ['token', token]] as const) {
      if (typeof v === 'string') continue;
      problems.push(`line ${line}: ${v === undefined ? `no "${name}"` : `"${name}" must be a string (got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v})`}`);
      ok = false;
    }
    if (ok && check(id as string, token as string, line, problems)) out.push({ id: id as string, value: token as string });
  });
  return out;
}


function parseCsv(text: string, problems: string[]): ImportedToken[] {
  const records = csvRecords(text, problems).filter((r) => !(r.fields.length === 1 && r.fields[0].trim() === ''));
  const [header, ...rows] = records;
  if (!header) return [];
  const names = header.fields.map((f) => f.trim().toLowerCase());
  const column = (name: string): number | undefined => {
    const at = names.indexOf(name);
    if (at < 0) problems.push(`line ${header.line}: the header has no "${name}" column (it has: ${header.fields.join(', ')})`);
    else if (names.indexOf(name, at + 1) >= 0) problems.push(`line ${header.line}: the header has two "${name}" columns`);
    else return at;
    return undefined;
  };
  const idAt = column('id');
  const tokenAt = column('token');
  if (idAt === undefined || tokenAt === undefined) return [];
  const out: ImportedToken[] = [];
  for (const r of rows) {
    const missing = [idAt < r.fields.length ? undefined : 'id', tokenAt < r.fields.length ? undefined : 'token'].filter(Boolean);
    if (missing.length) {
      problems.push(`line ${r.line}: no ${missing.join(' or ')} field (the row has ${r.fields.length} of ${header.fields.length} columns)`);
      continue;
    }
    const id = r.fields[idAt];
    const value = r.fields[tokenAt];
    if (check(id, value, r.line, problems)) out.push({ id, value });
  }
  return out;
}
