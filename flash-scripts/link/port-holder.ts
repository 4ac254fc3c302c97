// Who holds a serial device open, for the refusal a user sees when the port is taken: read from
// /proc (Linux). Elsewhere, or without permission to look, the answer is simply unknown.

import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';

export interface PortHolder {
  pid: number;
  command: string;
}

export function portHolders(devicePath: string): PortHolder[] {
  let target: string;
  try {
    target = realpathSync(devicePath);
  } catch {
    return [];
  }
  const holders: PortHolder[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to look at
    }
    const holds = fds.some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === target;
      } catch {
        return false;
      }
    });
    const command = commandOf(pid);
    // The simulator's pty relay keeps both ends of its line open without taking the port's lock: not a holder.
    if (holds && !command.includes('pty-relay.mjs')) holders.push({ pid: Number(pid), command });
  }
  return holders;
}

function commandOf(pid: string): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    return argv.map((a) => a.replace(/^.*\/(?=[^/]+$)/, '')).join(' ').slice(0, 80);
  } catch {
    return '?';
  }
}
