// The one place where any error a command raises becomes what the user sees:
// a message and an exit code (1 failed, 2 usage), JSON under --json, and the
// stack trace only with -v. Our typed errors already say what went wrong and
// what to do; operating-system errors get the same treatment here, so a file
// that is in the way or a folder that is read-only never shows a trace.

import { UsageError } from './cli-args.ts';

export interface CliFailure {
  exitCode: 1 | 2;
  code: string;
  message: string;
  /** A programming error, not the user's: worth a report. */
  internal: boolean;
}

const SYSTEM: Record<string, (path: string) => string> = {
  EEXIST: (p) => `${p}: a file is in the way (a folder was expected there); remove it or choose another path`,
  ENOTDIR: (p) => `${p}: part of this path is a file, not a folder; choose another path`,
  EISDIR: (p) => `${p} is a folder; give a file`,
  EACCES: (p) => `${p}: permission denied; check the owner and mode of this path, or choose another`,
  EPERM: (p) => `${p}: operation not permitted; check the owner and mode of this path`,
  EROFS: (p) => `${p}: the file system is read-only; choose a writable path`,
  ENOSPC: (p) => `${p}: no space left on the device; free some space and run the command again`,
  ENOENT: (p) => `${p}: no such file or folder`,
  EMFILE: () => 'too many open files; close other programs or raise the limit (ulimit -n)',
  EBUSY: (p) => `${p} is busy: another program is using it`,
};

export function describeFailure(e: unknown): CliFailure {
  if (e instanceof UsageError) return { exitCode: 2, code: 'usage', message: e.message, internal: false };
  if (e instanceof Error) {
    const sys = e as NodeJS.ErrnoException;
    if (typeof sys.errno === 'number' && typeof sys.code === 'string' && SYSTEM[sys.code]) {
      return { exitCode: 1, code: sys.code.toLowerCase(), message: SYSTEM[sys.code](sys.path ?? sys.message), internal: false };
    }
    const code = (e as { code?: unknown }).code;
    // Our own errors are typed (a class of their own with a string code); a bare TypeError or RangeError is a bug.
    const internal = e.constructor === Error ? false : e instanceof TypeError || e instanceof RangeError || e instanceof ReferenceError || e instanceof SyntaxError;
    return {
      exitCode: 1,
      code: typeof code === 'string' ? code : internal ? 'internal' : 'failed',
      message: internal ? `internal error: ${e.message} (run again with -v for the stack trace, and please report it)` : e.message,
      internal,
    };
  }
  return { exitCode: 1, code: 'failed', message: String(e), internal: true };
}
