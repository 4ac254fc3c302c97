// A bench line flattened for a table: nested objects become dotted columns, arrays one cell.
// Shared by `npm run bench` (its readable tables) and `npm run figures` (the README's).

export function flattenLine(o: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flattenLine(v as Record<string, unknown>, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = Array.isArray(v) ? v.join('; ') : v;
  }
  return out;
}
