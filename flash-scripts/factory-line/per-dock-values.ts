// The `--upd` file: unique-per-dock values by dock id, as a CSV with a
// `dock_id` column and one column per value (`name`, if present, is the
// dock's name). Every problem is reported with its line; any problem refuses
// the file before a dock is touched.

import { readFileSync } from 'node:fs';
import { csvRecords } from './csv-records.ts';

export class PerDockValuesError extends Error {
  readonly code = 'per-dock-values';
  constructor(message: string) {
    super(message);
    this.name = 'PerDockValuesError';
  }
}

const DOCK_ID = /^[0-9a-f]{64}$/;

export function loadPerDockValues(path: string): Map<string, Record<string, string>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw new PerDockValuesError(`${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const problems: string[] = [];
  const records = csvRecords(text, problems).filter((r) => !(r.fields.length === 1 && r.fields[0].trim() === ''));
  const out = new Map<string, Record<string, string>>();
  const [header, ...rows] = records;
  const names = header ? header.fields.map((f) => f.trim()) : [];
  const idAt = names.indexOf('dock_id');
  if (header && idAt < 0) problems.push(`line ${header.line}: no dock_id column (the header row names the columns: dock_id, then one per value)`);
  for (const r of idAt < 0 ? [] : rows) {
    const id = (r.fields[idAt] ?? '').trim().toLowerCase();
    if (!DOCK_ID.test(id)) {
      problems.push(`line ${r.line}: dock_id "${r.fields[idAt] ?? ''}" is not a dock id (64 hex digits, as dl7450 inspect shows)`);
      continue;
    }
    if (out.has(id)) {
      problems.push(`line ${r.line}: dock ${id.slice(0, 12)}… appears twice`);
      continue;
    }
    const values: Record<string, string> = {};
    names.forEach((n, i) => {
      const v = (r.fields[i] ?? '').trim();
      if (i !== idAt && n !== '' && v !== '') values[n] = v;
    });
    out.set(id, values);
  }
  if (problems.length) throw new PerDockValuesError(`${path}: ${problems.length} problem${problems.length === 1 ? '' : 's'}, no dock touched:\n  ${problems.slice(0, 20).join('\n  ')}${problems.length > 20 ? `\n  … and ${problems.length - 20} more` : ''}`);
  return out;
}
