// Plausible bugs, one per entry, each with the suites (test/run.ts filters)
// that must notice it. The list of issue 19 is here; add one whenever a bug
// gets through. `find` must occur exactly once in `file`.
export interface Mutant {
  id: string;
  what: string;
  file: string;
  find: string;
  replace: string;
  suites: string[];
}

export const MUTANTS: Mutant[] = [
  {
    id: 'torn-page',
    what: 'runtime recovery: the torn-page comparison `>` becomes `>=` (a later write recovered without an earlier one)',
    file: 'datastore/runtime/mount-recovery.ts',
    find: 'if (Math.floor(at / page) > lastPage) return true;',
    replace: 'if (Math.floor(at / page) >= lastPage) return true;',
    suites: ['runtime-torn', 'runtime-store', 'powercut'],
  },
  {
    id: 'erased-trailer',
    what: 'runtime format: a CRC of 0xFFFFFFFF stored as is (an erased trailer validates: phantom keys)',
    file: 'datastore/runtime/format.ts',
    find: 'return dataCrc === 0xffffffff ? 0x7fffffff : dataCrc >>> 0;',
    replace: 'return dataCrc >>> 0;',
    suites: ['runtime-store', 'runtime-'],
  },
  {
    id: 'workload-throws',
    what: 'runtime store: every 397th set throws a plain Error (a power-cut sweep must not take it for the cut)',
    file: 'datastore/runtime/ring-store.ts',
    find: '  set(key: string, value: Uint8Array, options: WriteOptions = {}): void {\n    this.assertMounted();',
    replace: '  set(key: string, value: Uint8Array, options: WriteOptions = {}): void {\n    this.assertMounted();\n    const g = globalThis as any;\n    g.__sets = (g.__sets ?? 0) + 1;\n    if (g.__sets % 397 === 396) throw new Error("bug");',
    suites: ['powercut'],
  },
  {
    id: 'smp-rc-swap',
    what: 'SMP: the codes for "no entry" (5) and "bad state" (6) swapped in the server\'s table',
    file: 'firmware/smp/smp-errors.ts',
    find: 'NO_ENTRY: 5, BAD_STATE: 6,',
    replace: 'NO_ENTRY: 6, BAD_STATE: 5,',
    suites: ['smp'],
  },
  {
    id: 'lock-answers-ok',
    what: 'SMP: a factory write refused because the dock is locked answers rc 0 (the client reads success)',
    file: 'firmware/smp/smp-server.ts',
    find: '  locked: RC.ACCESS_DENIED,',
    replace: '  locked: RC.OK,',
    suites: ['link-factory'],
  },
  {
    id: 'dock-reports-zero-hash',
    what: 'factory commit: the dock reports a SHA-256 that is not the one it computed over the stored bytes (all zeros)',
    file: 'firmware/factory-service.ts',
    find: '    return { slot: s.target, generation, sha256: digest };',
    replace: '    return { slot: s.target, generation, sha256: new Uint8Array(32) };',
    suites: ['link-factory'],
  },
  {
    id: 'bmp-core-header',
    what: 'image check: the 12-byte BMP core header read with width and height swapped',
    file: 'images/image-check.ts',
    find: '    width = readU16LE(b, 18);\n    height = readU16LE(b, 20);',
    replace: '    width = readU16LE(b, 20);\n    height = readU16LE(b, 18);',
    suites: ['image-check'],
  },
  {
    id: 'unflagged-reservation',
    what: 'provision: a reservation for a dock that is not connected is left unflagged',
    file: 'flash-scripts/factory-line/provision.ts',
    find: '        await pool.flag(r.id, `reserved for dock',
    replace: '        void (r.id, `reserved for dock',
    suites: ['provision-crash'],
  },
];
