import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { isAlive as pidAlive, processStartTime } from '../src/cli/process-alive.js';
import { DaemonStateError, isAbsent, errnoCode } from '../src/core/errors.js';

export class LockError extends DaemonStateError {
  override name = 'LockError';
  constructor(
    message: string,
    readonly holderPid: number | null,
  ) {
    super(message);
  }
}

export interface InstanceLock {
  readonly file: string;
  release(): void;
}

/**
 * Who holds the lock, as the lock file records it. A pid alone is not an identity: after a crash and
 * a reboot (or enough forks) the pid names some other process. The start time (clock ticks since
 * boot, /proc/<pid>/stat) and the executable are recorded with it, and a pid whose start time or
 * executable differ is not the daemon that wrote the lock.
 */
export interface LockHolder {
  pid: number;
  /** Null where /proc is absent (macOS): then only liveness can be checked. */
  start: string | null;
  exe: string | null;
  cmdline: string | null;
}

/** The file: the pid alone on the first line (what older versions wrote and read), then the holder as JSON. */
/** The lock file's second line, as currentHolder writes it; a field that is missing or not text reads as unknown (null). */
const LockFileJson = z.looseObject({
  pid: z.number(),
  start: z.string().nullable().catch(null),
  exe: z.string().nullable().catch(null),
  cmdline: z.string().nullable().catch(null),
});

export function readLockHolder(file: string): LockHolder | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    // No lock file: no holder. One that cannot be read is not "no holder": taking the lock over it could run two daemons.
    if (isAbsent(e)) return null;
    throw e;
  }
  const [first, second] = text.split('\n');
  const pid = Number.parseInt((first ?? '').trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    const j = LockFileJson.safeParse(JSON.parse(second ?? ''));
    if (j.success && j.data.pid === pid) return { pid, start: j.data.start, exe: j.data.exe, cmdline: j.data.cmdline };
  } catch {
    // a lock written by an older version: the pid only
  }
  return { pid, start: null, exe: null, cmdline: null };
}

export function readLockPid(file: string): number | null {
  return readLockHolder(file)?.pid ?? null;
}

function procText(pid: number, what: 'exe' | 'cmdline'): string | null {
  try {
    return what === 'exe' ? fs.readlinkSync(`/proc/${pid}/exe`) : fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    // Gone (ENOENT), another user's process (EACCES), or no /proc at all (macOS): null is "unknown",
    // and the caller then judges by the pid and its start time alone. Nothing is lost.
    return null;
  }
}

/** This process as a lock records it. */
export function currentHolder(pid: number = process.pid): LockHolder {
  return { pid, start: processStartTime(pid), exe: procText(pid, 'exe'), cmdline: procText(pid, 'cmdline') };
}

/**
 * Whether the process the lock names still is the one that wrote it. With a recorded start time
 * (Linux), that start time and the executable must match the live process's; a lock from an older
 * version (pid only) counts only while its process looks like a Kairos daemon (`… run …`).
 */
export function holderAlive(h: LockHolder): boolean {
  if (!pidAlive(h.pid)) return false;
  const now = currentHolder(h.pid);
  if (h.start !== null && now.start !== null) {
    if (h.start !== now.start) return false;
    return h.exe === null || now.exe === null || h.exe === now.exe;
  }
  if (h.start === null && now.cmdline !== null) return /(?:^|[\s/])(?:kairos|main\.[jt]s)\b.*\brun\b/.test(now.cmdline);
  return true;
}

export function lockPath(home: string): string {
  return path.join(home, 'kairos.pid');
}

/**
 * One daemon per KAIROS_HOME. The lock is a pid file created with O_EXCL; a lock whose holder is
 * gone (the daemon was SIGKILLed; or its pid now belongs to another process) is stale and is taken
 * over. The take-over renames the stale file to a name unique to this process first, so two daemons
 * recovering at once cannot both win.
 */
export function acquireLock(home: string): InstanceLock {
  const file = lockPath(home);
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const me = currentHolder();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, `${me.pid}\n${JSON.stringify(me)}\n`);
      fs.closeSync(fd);
      return {
        file,
        release: () => {
          if (readLockPid(file) === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
    }
    const holder = readLockHolder(file);
    if (holder !== null && holder.pid !== process.pid && holderAlive(holder)) {
      throw new LockError(
        `another Kairos daemon (pid ${holder.pid}) already runs for ${home}. Stop it with 'kairos stop', or set KAIROS_HOME to use a separate state folder.`,
        holder.pid,
      );
    }
    const aside = `${file}.stale.${process.pid}`;
    try {
      fs.renameSync(file, aside);
      // Only remove it if what we moved is still the stale lock we judged, not a fresh one.
      const moved = readLockHolder(aside);
      if (moved !== null && moved.pid !== holder?.pid && holderAlive(moved)) fs.renameSync(aside, file);
      else fs.rmSync(aside, { force: true });
    } catch (e) {
      // Someone else moved it first: try again. Any other failure (EACCES, EROFS) will not go away by retrying.
      if (!isAbsent(e)) throw e;
    }
  }
  throw new LockError(`could not take the lock ${file} after 3 attempts; remove it if no daemon runs`, readLockPid(file));
}
