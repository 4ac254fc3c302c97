// Command-line arguments: positionals and options. `--name value`,
// `--name=value` and `-o value` for options that take a value; `--name` for
// switches. An option the command does not know is refused (a typo must not
// widen a query or skip a check). `--` ends options.

export class UsageError extends Error {
  readonly code = 'usage';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

/** Switches every command takes. */
export const GLOBAL_SWITCHES = ['json', 'help', 'h', 'verbose', 'v', 'quiet', 'q'];

/**
 * Switches known across the tool's commands: a command that does not list
 * its own switches accepts these (and refuses anything else).
 */
export const KNOWN_SWITCHES = ['unthrottled', 'yes', 'no-reset', 'lock', 'force', 'all', 'allow-empty'];

export function parseArgs(argv: string[], withValue: string[], switches: string[] = KNOWN_SWITCHES): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const known = (name: string) => withValue.indexOf(name) >= 0 || switches.indexOf(name) >= 0 || GLOBAL_SWITCHES.indexOf(name) >= 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('-') && a.length > 1 && !/^-\d/.test(a)) {
      const eq = a.indexOf('=');
      const name = a.slice(0, eq < 0 ? a.length : eq).replace(/^-+/, '');
      const inline = eq < 0 ? undefined : a.slice(eq + 1);
      if (!known(name)) throw new UsageError(`unknown option ${a.slice(0, eq < 0 ? a.length : eq)}${suggest(name, [...withValue, ...switches, ...GLOBAL_SWITCHES])}`);
      if (withValue.indexOf(name) >= 0) {
        const v = inline ?? argv[++i];
        if (v === undefined) throw new UsageError(`${a} needs a value`);
        flags.set(name, v);
      } else {
        if (inline !== undefined) throw new UsageError(`${a.slice(0, eq)} takes no value`);
        flags.set(name, true);
      }
    } else positional.push(a);
  }
  return { positional, flags };
}

export function flagText(a: Args, name: string): string | undefined {
  const v = a.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** " (did you mean --json?)" for a near miss, else "". */
function suggest(name: string, candidates: string[]): string {
  let best = '';
  let bestDistance = 3;
  for (const c of candidates) {
    if (c.length < 2) continue;
    const d = editDistance(name, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best ? ` (did you mean --${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const here = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = here;
    }
  }
  return row[b.length];
}
