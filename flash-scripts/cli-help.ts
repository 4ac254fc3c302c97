// `dl7450 --help`, `dl7450 help <command>`, `dl7450 <command> --help`: what
// each command does, its options and examples. Exit codes are documented
// here once: 0 done, 1 failed (the message says why), 2 usage.

export interface CommandHelp {
  /** As typed: "romstore build", "kv". */
  name: string;
  summary: string;
  usage: string[];
  options?: [string, string][];
  examples: string[];
}

const CONN = ['<conn>', 'the dock: serial:///dev/ttyUSB0?baud=921600, serial:/dev/ttyUSB0@921600, /dev/ttyUSB0, or sim://<dock dir>'];
const JSON_OPT: [string, string] = ['--json', 'one JSON object per result on stdout (errors too: {"ok":false,"error":{…}})'];

export const COMMANDS: CommandHelp[] = [
  {
    name: 'keys generate',
    summary: 'make an Ed25519 manufacturer signing pair (factory.key 0600, factory.pub); never overwrites',
    usage: ['dl7450 keys generate --out <dir>'],
    options: [['--out <dir>', 'folder for factory.key and factory.pub (created 0700)']],
    examples: ['dl7450 keys generate --out keys'],
  },
  {
    name: 'romstore build',
    summary: "build a signed factory image from the vendor's ROM-store YAML; the same inputs give the same bytes",
    usage: ['dl7450 romstore build <config.yaml> --key <factory.key> -o <factory.bin> [--allow-empty] [--json]'],
    options: [
      ['--key <file>', 'the private signing key (dl7450 keys generate)'],
      ['-o, --out <file>', 'where to write the image (written whole or not at all)'],
      ['--allow-empty', 'build an image with no items (refused otherwise)'],
      JSON_OPT,
    ],
    examples: ['dl7450 romstore build ../shared/samples/vendor-rom-store/config.yaml --key keys/factory.key -o factory.bin'],
  },
  {
    name: 'romstore inspect',
    summary: 'check a factory image: ACCEPTED or REFUSED, and why; lists its items',
    usage: ['dl7450 romstore inspect <factory.bin> [--pubkey <factory.pub>] [--json]'],
    options: [['--pubkey <file>', 'check the signature against this public key'], JSON_OPT],
    examples: ['dl7450 romstore inspect factory.bin --pubkey keys/factory.pub'],
  },
  {
    name: 'build',
    summary: "bundle an app for the dock's engine (its own code only; the SDK modules come from the firmware)",
    usage: ['dl7450 build <app.ts> -o <app.js>'],
    options: [['-o, --out <file>', 'the bundle to write']],
    examples: ['dl7450 build firmware/default-app/app.ts -o app.js'],
  },
  {
    name: 'sim start',
    summary: 'start a simulated dock whose files live in --dir (data survives restarts); one process per dock directory',
    usage: ['dl7450 sim start --dir <dock dir> [--keys <dir>] [--factory <factory.bin> --otp <otp.json>] [--serve pty[@baud]|<conn> [--unthrottled]] [--run-ms N] [--power-cut-after N] [--bitflips RATE]'],
    options: [
      ['--dir <dir>', "the dock's files (partitions, OTP, splash.png); created 0700"],
      ['--keys <dir>', 'a new dock trusts keys/factory.pub and its first image is signed with keys/factory.key'],
      ['--factory <file> --otp <file>', 'start from this factory image and the OTP that trusts its key'],
      ['--serve pty[@baud]', 'serve the serial line on a pseudo-terminal pair made here; sim://<dir> attaches to it'],
      ['--unthrottled', 'do not pace the line at its baud rate'],
      ['--run-ms N', 'stop after N ms (default: until Ctrl-C)'],
      ['--power-cut-after N', 'fault: cut power at the Nth runtime flash operation'],
      ['--bitflips RATE', 'fault: flip bits read from flash at this rate per bit'],
    ],
    examples: ['dl7450 sim start --dir mydock --keys keys --serve pty@921600', 'dl7450 sim start --dir mydock --run-ms 2000'],
  },
  {
    name: 'sim restart',
    summary: 'as sim start, on an existing dock directory',
    usage: ['dl7450 sim restart --dir <dock dir> [options of sim start]'],
    examples: ['dl7450 sim restart --dir mydock --serve pty'],
  },
  {
    name: 'sim factory-reset',
    summary: 'factory-reset a stopped simulated dock (a running one: dl7450 factory-reset sim://<dir>)',
    usage: ['dl7450 sim factory-reset --dir <dock dir>'],
    examples: ['dl7450 sim factory-reset --dir mydock'],
  },
  { name: 'ports', summary: 'list the serial ports the OS knows', usage: ['dl7450 ports'], examples: ['dl7450 ports'] },
  {
    name: 'ping',
    summary: 'check that a dock answers, and how fast',
    usage: ['dl7450 ping <conn> [--timeout MS] [--json]'],
    options: [CONN as [string, string], JSON_OPT],
    examples: ['dl7450 ping sim://mydock', 'dl7450 ping serial:///dev/ttyUSB0?baud=921600'],
  },
  {
    name: 'flash',
    summary: "write a signed factory image into the dock's spare slot, verify it on the dock, commit, restart",
    usage: ['dl7450 flash <conn> <factory.bin> [--lane auto|bulk|smp] [--no-reset] [--json]'],
    options: [CONN as [string, string], ['--lane', 'bulk lane (fast), SMP, or auto (bulk when the dock has it)'], ['--no-reset', 'commit but do not restart'], JSON_OPT],
    examples: ['dl7450 flash sim://mydock factory.bin'],
  },
  {
    name: 'send-code',
    summary: 'build an app, push it to the ephemeral tier and run it now',
    usage: ['dl7450 send-code <conn> <app.ts|app.js> [--json]'],
    examples: ['dl7450 send-code sim://mydock myapp.ts'],
  },
  {
    name: 'kv',
    summary: "read and write the dock's key-value store",
    usage: ['dl7450 kv get <conn> <key> [--file <out>]', 'dl7450 kv set <conn> <key> <value>|-|--file <path> [--type text|json|bytes]', 'dl7450 kv delete <conn> <key>', 'dl7450 kv list <conn> [prefix]'],
    options: [CONN as [string, string], ['--file <path>', 'set: the value is this file\'s bytes; get: write the value to this file'], ['--type text|json|bytes', 'what the app reads (default: text for a value on the command line, bytes for a file or - (standard input))'], ['--namespace <name>', "the app's namespace (KvStore({ namespace })): its keys as the app wrote them"], JSON_OPT],
    examples: ['dl7450 kv set sim://mydock timezone CET', 'dl7450 kv set sim://mydock layout --file layout.json --type json', 'cat logo.bin | dl7450 kv set sim://mydock logo -', 'dl7450 kv list sim://mydock net.', 'dl7450 kv get sim://mydock ssid --namespace wifi'],
  },
  {
    name: 'fs',
    summary: 'upload a checked image (at most 192 KiB) to /images/<tag>, or download an image or the app',
    usage: ['dl7450 fs upload <conn> <file> /images/<tag>', 'dl7450 fs download <conn> /images/<tag>|/code/app.js <file>'],
    examples: ['dl7450 fs upload sim://mydock logo.png /images/logo', 'dl7450 fs download sim://mydock /images/logo logo-back.png'],
  },
  {
    name: 'events',
    summary: "follow the dock's events (key-changed, app-started, app-crashed, factory-committed)",
    usage: ['dl7450 events <conn> [--all] [--for <ms>] [--json]'],
    options: [['--all', 'every event kept, not only new ones'], ['--for <ms>', 'stop after this long'], JSON_OPT],
    examples: ['dl7450 events sim://mydock --all --for 5000'],
  },
  {
    name: 'inspect',
    summary: 'tiers, usage, keys, images, factory slots and wear of a dock (per-dock data redacted)',
    usage: ['dl7450 inspect <conn> [--json]'],
    examples: ['dl7450 inspect sim://mydock'],
  },
  { name: 'reset', summary: 'restart the dock', usage: ['dl7450 reset <conn> [--json]'], examples: ['dl7450 reset sim://mydock'] },
  {
    name: 'factory-reset',
    summary: 'runtime data and ephemeral area wiped, the dock restarts as manufactured',
    usage: ['dl7450 factory-reset <conn> [--json]'],
    examples: ['dl7450 factory-reset sim://mydock'],
  },
  {
    name: 'lock',
    summary: 'burn the factory-lock fuse: factory writes are refused for good',
    usage: ['dl7450 lock <conn> --yes [--json]'],
    options: [['--yes', 'required: this cannot be undone']],
    examples: ['dl7450 lock serial:///dev/ttyUSB0 --yes'],
  },
  {
    name: 'smp',
    summary: 'raw SMP echo and OS info',
    usage: ['dl7450 smp echo|info --conn <conn> [text]'],
    examples: ['dl7450 smp echo --conn sim://mydock hello'],
  },
  {
    name: 'settings',
    summary: 'the SMP settings group on the runtime tier',
    usage: ['dl7450 settings get|set|delete --conn <conn> <name> [value]'],
    examples: ['dl7450 settings get --conn sim://mydock timezone'],
  },
  {
    name: 'provision',
    summary: 'provision docks at once: signed image, per-dock section, an enrolment token each from the pool, audit record',
    usage: ['dl7450 provision --config <romstore.yaml> --key <factory.key> --db <pool dir|postgres://…> [--station NAME] [--lock] [--force] [--upd per-dock.csv] [--json] <conn>…'],
    options: [
      ['--db <pool>', 'the token pool and audit database: an LMDB folder, or postgres://user@host:port/db'],
      ['--lock', 'burn each dock’s factory-lock fuse once it is verified'],
      ['--force', 're-provision docks that already hold a section (they keep their token)'],
      ['--upd <csv>', 'per-dock values by dock id'],
      ['--station NAME', 'this station, in reservations and audit (default: the host name)'],
    ],
    examples: ['dl7450 provision --config romstore.yaml --key keys/factory.key --db pool serial:///dev/ttyUSB0?baud=921600 serial:///dev/ttyUSB1?baud=921600'],
  },
  {
    name: 'tokens import',
    summary: 'import enrolment tokens (columns id,token, or .jsonl); a bad line refuses the whole file',
    usage: ['dl7450 tokens import <tokens.csv|tokens.jsonl> --db <pool> [--json]'],
    examples: ['dl7450 tokens import tokens.csv --db pool'],
  },
  { name: 'tokens status', summary: 'free / reserved / used, and reservations flagged for a look', usage: ['dl7450 tokens status --db <pool> [--json]'], examples: ['dl7450 tokens status --db pool'] },
  {
    name: 'tokens release',
    summary: 'free a reserved token after checking the dock does not hold it',
    usage: ['dl7450 tokens release <token id> --dock <dock id> --db <pool> [--json]'],
    examples: ['dl7450 tokens release T-0042 --dock 4f1c… --db pool'],
  },
  {
    name: 'fleet query',
    summary: 'which dock got which token and image, and when',
    usage: ['dl7450 fleet query --db <pool> [--dock ID] [--token ID] [--image DIGEST] [--since 2026-11-01] [--json]'],
    examples: ['dl7450 fleet query --db pool --since 2026-11-01'],
  },
  {
    name: 'db migrate',
    summary: 'create or update the PostgreSQL schema of a token pool; --from copies an LMDB pool into it',
    usage: ['dl7450 db migrate --to postgres://user@host:5432/db [--from <LMDB pool dir>] [--json]'],
    options: [
      ['--to <url>', 'the PostgreSQL database (PG* environment variables fill what the URL leaves out)'],
      ['--from <dir>', 'copy every token state and audit record of this LMDB pool (into an empty database)'],
      JSON_OPT,
    ],
    examples: ['dl7450 db migrate --to postgres://line@db.factory:5432/dl7450', 'dl7450 db migrate --from pool --to postgres://line@db.factory:5432/dl7450'],
  },
  {
    name: 'fleet sync',
    summary: 'read what docks hold back into the database',
    usage: ['dl7450 fleet sync <conn>… --db <pool> [--json]'],
    examples: ['dl7450 fleet sync serial:///dev/ttyUSB0 --db pool'],
  },
];

const GROUPS = ['keys', 'romstore', 'sim', 'tokens', 'fleet', 'db'];

/** The help entry for argv's command (["romstore", "build", …] or ["kv", …]), or null. */
export function helpFor(words: string[]): CommandHelp[] {
  const [group, command] = words;
  if (!group) return [];
  const exact = COMMANDS.find((c) => c.name === `${group} ${command}`) ?? COMMANDS.find((c) => c.name === group);
  if (exact) return [exact];
  if (GROUPS.indexOf(group) >= 0) return COMMANDS.filter((c) => c.name.startsWith(`${group} `));
  return [];
}

export function formatHelp(entries: CommandHelp[]): string {
  return entries
    .map((c) => {
      const lines = [`${c.usage.map((u) => `  ${u}`).join('\n')}`, '', `${c.summary}.`];
      if (c.options?.length) {
        lines.push('', 'options:');
        const w = Math.max(...c.options.map(([o]) => o.length));
        for (const [o, d] of c.options) lines.push(`  ${o.padEnd(w)}  ${d}`);
      }
      lines.push('', 'examples:', ...c.examples.map((e) => `  ${e}`));
      return lines.join('\n');
    })
    .join('\n\n');
}

export function overview(version: string): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `dl7450 ${version}: host tools for DL-7450 docks (factory images, serial link, simulated docks, the factory line)`,
    '',
    'usage: dl7450 <command> [options]      dl7450 <command> --help for its options and examples',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'options for every command: --json (machine output), -v/--verbose (stack traces), -q/--quiet (no progress), -h/--help',
    'exit codes: 0 done, 1 failed (the message says why and what to do), 2 usage (unknown command or option, missing argument)',
  ].join('\n');
}
