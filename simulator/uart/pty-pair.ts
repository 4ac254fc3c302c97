// A serial line without hardware: socat joins two pseudo-terminals (the simulated dock on one end, host tools on the other).

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PtyPair {
  dock: string;
  host: string;
  close(): void;
}

export async function ptyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'dl7450-pty-'));
  const dock = join(dir, 'dock');
  const host = join(dir, 'host');
  const socat: ChildProcess = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${dock}`, `pty,raw,echo=0,link=${host}`], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(existsSync(dock) && existsSync(host)); i++) await new Promise((r) => setTimeout(r, 30));
  if (!existsSync(dock) || !existsSync(host)) throw new Error('socat did not create the pseudo-terminals (is socat installed? .ci/run installs it)');
  return {
    dock,
    host,
    close() {
      socat.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
