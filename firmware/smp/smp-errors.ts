// SMP error numbers and the two answer forms (firmware/smp/FORMAT.md, "Errors").
// SMP v1 clients read a top-level `rc` (mcumgr_err_t); SMP v2 clients read
// `err: {group, rc}` with the group's own code, and still a top-level `rc`
// for errors of SMP itself (no handler, malformed request). Numbers are those
// of Zephyr's mgmt_defines.h and the group headers.

/** mcumgr_err_t: the codes of SMP itself (and of every group, for v1 clients). */
export const RC = { OK: 0, UNKNOWN: 1, NO_MEMORY: 2, INVALID: 3, TIMEOUT: 4, NO_ENTRY: 5, BAD_STATE: 6, MSG_SIZE: 7, NOT_SUPPORTED: 8, CORRUPT: 9, BUSY: 10, ACCESS_DENIED: 11, TOO_OLD: 12, TOO_NEW: 13 } as const;

/** os_mgmt_err_code_t (group 0). */
export const OS_ERR = { UNKNOWN: 1, INVALID_FORMAT: 2, QUERY_YIELDS_NO_ANSWER: 3, RTC_NOT_SET: 4, RTC_COMMAND_FAILED: 5 } as const;

/** img_mgmt_err_code_t (group 1): only the codes this dock sends. */
export const IMG_ERR = {
  UNKNOWN: 1,
  NO_IMAGE: 3,
  INVALID_TLV: 5,
  HASH_NOT_FOUND: 8,
  NO_FREE_SLOT: 9,
  FLASH_CONTEXT_NOT_SET: 17,
  INVALID_OFFSET: 20,
  INVALID_LENGTH: 21,
  INVALID_IMAGE_HEADER: 22,
  INVALID_HASH: 24,
  IMAGE_ALREADY_PENDING: 28,
  INVALID_IMAGE_TOO_LARGE: 30,
  INVALID_IMAGE_DATA_OVERRUN: 31,
  IMAGE_CONFIRMATION_DENIED: 32,
  IMAGE_SETTING_TEST_TO_ACTIVE_DENIED: 33,
} as const;

/** settings_mgmt_ret_code_t (group 3). */
export const SETTINGS_ERR = { UNKNOWN: 1, KEY_TOO_LONG: 2, KEY_NOT_FOUND: 3, READ_NOT_SUPPORTED: 4, ROOT_KEY_NOT_FOUND: 5, WRITE_NOT_SUPPORTED: 6, DELETE_NOT_SUPPORTED: 7, SAVE_NOT_SUPPORTED: 8 } as const;

/** fs_mgmt_err_code_t (group 8). */
export const FS_ERR = { UNKNOWN: 1, FILE_INVALID_NAME: 2, FILE_NOT_FOUND: 3, FILE_WRITE_FAILED: 10, FILE_OFFSET_NOT_VALID: 11, FILE_OFFSET_LARGER_THAN_FILE: 12, READ_ONLY_FILESYSTEM: 15, FILE_EMPTY: 16 } as const;

/** What a v1 client is told for a group code (Zephyr's per-group translate_error functions). */
export function legacyRc(group: number, code: number): number {
  if (group === 1) {
    if (code === 3 || code === 4) return RC.NO_ENTRY;
    if (code === 9 || code === 27 || code === 28) return RC.BAD_STATE;
    if (code === 15) return RC.NO_MEMORY;
    if (code === 14 || code === 19 || code === 20 || code === 21 || code === 22 || code === 24 || code === 25) return RC.INVALID;
    return RC.UNKNOWN;
  }
  if (group === 3) {
    if (code === 2) return RC.INVALID;
    if (code === 3 || code === 5) return RC.NO_ENTRY;
    if (code === 4 || code === 6 || code === 7 || code === 8) return RC.NOT_SUPPORTED;
    return RC.UNKNOWN;
  }
  if (group === 8) {
    if (code === 2 || code === 4 || code === 11 || code === 12) return RC.INVALID;
    if (code === 3 || code === 14) return RC.NO_ENTRY;
    if (code === 15) return RC.ACCESS_DENIED;
    if (code === 16) return RC.NO_ENTRY;
    return RC.UNKNOWN;
  }
  if (group === 0) {
    if (code === 2) return RC.INVALID;
    if (code === 3 || code === 4) return RC.NO_ENTRY;
    return RC.UNKNOWN;
  }
  // The dock's own group (64) numbers its codes as mcumgr_err_t.
  return code;
}

/**
 * A refusal: `rc` is an mcumgr_err_t; with `groupRc` it is a group error
 * (v2: `err`, v1: translated), without it an error of SMP itself (`rc` in both).
 */
export class SmpRefusal extends Error {
  constructor(
    readonly rc: number,
    message: string,
    readonly groupRc?: number,
  ) {
    super(message);
  }
}

/** The answer body for a refusal in the form the request's version expects. */
export function errorBody(version: number, group: number, refusal: { rc: number; groupRc?: number; message: string }): Record<string, unknown> {
  const rsn = refusal.message ? { rsn: refusal.message } : {};
  if (refusal.groupRc === undefined) return { rc: refusal.rc, ...rsn };
  if (version >= 1) return { err: { group, rc: refusal.groupRc }, ...rsn };
  return { rc: legacyRc(group, refusal.groupRc), ...rsn };
}
