// SMP OS group (0): echo, task statistics, date and time, reset, MCUmgr
// parameters, OS information. Field names as Zephyr's smp_group_0.

import { OS_ERR, RC, SmpRefusal } from './smp-errors.ts';

export const OS_ECHO = 0;
export const OS_TASKSTAT = 2;
export const OS_DATETIME = 4;
export const OS_RESET = 5;
export const OS_PARAMS = 6;
export const OS_INFO = 7;

/** The largest SMP packet the dock assembles (a 2 KiB upload chunk plus its CBOR); advertised as buf_size. */
export const SMP_BUFFER_BYTES = 4096;
/** Packets the dock buffers at once: one (it answers each before reading the next). */
export const SMP_BUFFER_COUNT = 1;

export interface OsContext {
  dockId: string;
  firmwareVersion: string;
  /** The dock's clock (ms since 1970) and, when it can be set, its setter. */
  clock?: { now(): number; set?(ms: number): void };
  requestReset?: () => void;
  /** The app task's state for taskstat: running, and its stack/heap use when the engine reports it. */
  appTask?: () => { running: boolean; heapBytes?: number; heapLimit?: number };
}

type Body = Record<string, unknown>;

const pad = (n: number, w = 2) => {
  let s = String(n);
  while (s.length < w) s = '0' + s;
  return s;
};

/** RFC 3339 without offset, as Zephyr's datetime read: yyyy-mm-ddThh:mm:ss.ffffff (UTC). */
export function formatDatetime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds() * 1000, 6)}`;
}

/** yyyy-mm-ddThh:mm:ss[.f…][Z|±hh:mm] → ms since 1970, or null. */
export function parseDatetime(text: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?$/.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  let ms = Date.UTC(y, mo - 1, d, h, mi, s) + (m[7] ? Math.floor(Number(m[7]) * 1000) : 0);
  if (m[8] && m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    ms -= sign * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(4, 6))) * 60_000;
  }
  return new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d ? ms : null; // 2026-02-30 is no date
}

export function osGroup(ctx: OsContext, id: number, write: boolean, p: Body): Body | null {
  if (id === OS_ECHO && write) {
    if (typeof p.d !== 'string') throw new SmpRefusal(RC.INVALID, 'echo needs a text field d');
    return { r: p.d };
  }
  if (id === OS_TASKSTAT && !write) {
    // JerryScript runs one app task; SMP is served between its turns, on the same engine.
    const app = ctx.appTask ? ctx.appTask() : { running: false };
    const heapUse = app.heapBytes !== undefined && app.heapLimit ? Math.round(app.heapBytes / 4) : 0;
    const heapSize = app.heapLimit ? Math.round(app.heapLimit / 4) : 0;
    return {
      tasks: {
        app: { prio: 1, tid: 1, state: app.running ? 1 : 0, stkuse: heapUse, stksiz: heapSize, cswcnt: 0, runtime: 0, last_checkin: 0, next_checkin: 0 },
        smp: { prio: 0, tid: 0, state: 1, stkuse: 0, stksiz: 0, cswcnt: 0, runtime: 0, last_checkin: 0, next_checkin: 0 },
      },
    };
  }
  if (id === OS_DATETIME && !write) {
    const now = ctx.clock ? ctx.clock.now() : 0;
    if (!(now > 0)) throw new SmpRefusal(RC.UNKNOWN, 'the dock clock is not set (set it with datetime write)', OS_ERR.RTC_NOT_SET);
    return { datetime: formatDatetime(now) };
  }
  if (id === OS_DATETIME && write) {
    if (typeof p.datetime !== 'string') throw new SmpRefusal(RC.INVALID, 'datetime write needs datetime (text, yyyy-mm-ddThh:mm:ss)');
    const ms = parseDatetime(p.datetime);
    if (ms === null) throw new SmpRefusal(RC.INVALID, `${p.datetime}: not a date and time in the form yyyy-mm-ddThh:mm:ss[.ffffff][Z|±hh:mm]`, OS_ERR.INVALID_FORMAT);
    if (!ctx.clock || !ctx.clock.set) throw new SmpRefusal(RC.UNKNOWN, 'this dock cannot set its clock', OS_ERR.RTC_COMMAND_FAILED);
    ctx.clock.set(ms);
    return {};
  }
  if (id === OS_RESET && write) {
    if (!ctx.requestReset) return null;
    ctx.requestReset();
    return {};
  }
  // MCUmgr parameters: clients size their requests from buf_size.
  if (id === OS_PARAMS && !write) return { buf_size: SMP_BUFFER_BYTES, buf_count: SMP_BUFFER_COUNT };
  if (id === OS_INFO && !write) return { output: `DL-7450 dock ${ctx.dockId} firmware ${ctx.firmwareVersion}` };
  return null;
}
