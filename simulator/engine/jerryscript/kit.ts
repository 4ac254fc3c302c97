// Where the JerryScript 3.0 engine kit is (headers, static libraries, the
// stock `jerry` command): $DL7450_JERRYSCRIPT, else ../shared/engines/
// jerryscript-3.0 beside the repository when present. Absent kit: the
// caller says so in one line and skips (npm test runs on Node alone).

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export interface JerryKit {
  dir: string;
  include: string;
  libs: string[];
  jerry: string;
  /** The stock `jerry-snapshot` command (generate, litdump); absent in a kit without snapshot support. */
  snapshotTool: string | null;
}

const repoRoot = resolve(import.meta.dirname, '..', '..', '..');

export const KIT_HINT = 'set DL7450_JERRYSCRIPT to a JerryScript 3.0 kit (include/, lib/, bin/jerry), default ../shared/engines/jerryscript-3.0';

/** The kit, or a one-line reason it is not usable. */
export function findJerryKit(): JerryKit | string {
  const dir = process.env.DL7450_JERRYSCRIPT ? resolve(process.env.DL7450_JERRYSCRIPT) : resolve(repoRoot, '..', 'shared', 'engines', 'jerryscript-3.0');
  const kit: JerryKit = {
    dir,
    include: join(dir, 'include'),
    libs: ['libjerry-ext.a', 'libjerry-core.a', 'libjerry-port.a'].map((l) => join(dir, 'lib', l)),
    jerry: join(dir, 'bin', 'jerry'),
    snapshotTool: existsSync(join(dir, 'bin', 'jerry-snapshot')) ? join(dir, 'bin', 'jerry-snapshot') : null,
  };
  const missing = [join(kit.include, 'jerryscript.h'), ...kit.libs, kit.jerry].find((p) => !existsSync(p));
  return missing ? `no JerryScript kit (${missing} missing): ${KIT_HINT}` : kit;
}
