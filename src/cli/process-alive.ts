import fs from 'node:fs';
import { errnoCode } from '../core/errors.js';

/** Fields of /proc/<pid>/stat after the command name (which may itself contain spaces and parens). */
function procStat(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    // Gone, or no /proc (macOS): null is "unknown", and callers then judge by the pid alone.
    return null;
  }
}

/**
 * True while a process exists and is not a zombie. A daemon killed with SIGKILL after its parent left
 * is an orphan; where PID 1 does not reap (many containers) it stays a zombie, and kill(pid, 0) still
 * succeeds on a zombie, which would make its lock look held forever.
 */
export function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  if (stat) return stat[0] !== 'Z';
  // No /proc (macOS) or no such process: ask the kernel.
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoCode(e) === 'EPERM';
  }
}

/**
 * A process's start time in clock ticks since boot (Linux), so a pid recorded before a crash is not
 * mistaken for an unrelated process that later got the same pid. Null where /proc is absent.
 */
export function processStartTime(pid: number): string | null {
  return procStat(pid)?.[19] ?? null; // field 22 of stat: starttime
}
