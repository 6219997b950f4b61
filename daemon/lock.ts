import fs from 'node:fs';
import path from 'node:path';
import { isAlive as pidAlive } from '../src/cli/process-alive.js';

export class LockError extends Error {
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


export function readLockPid(file: string): number | null {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** The pid of a live daemon holding the lock, or null. */
export function runningDaemonPid(home: string): number | null {
  const pid = readLockPid(lockPath(home));
  return pid !== null && pidAlive(pid) ? pid : null;
}

export function lockPath(home: string): string {
  return path.join(home, 'kairos.pid');
}

/**
 * One daemon per KAIROS_HOME. The lock is a pid file created with O_EXCL; a lock whose pid is dead
 * (the daemon was SIGKILLed) is stale and is taken over. The take-over renames the stale file to a
 * name unique to this process first, so two daemons recovering at once cannot both win.
 */
export function acquireLock(home: string): InstanceLock {
  const file = lockPath(home);
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx', 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return {
        file,
        release: () => {
          if (readLockPid(file) === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = readLockPid(file);
    if (holder !== null && holder !== process.pid && pidAlive(holder)) {
      throw new LockError(
        `another Kairos daemon (pid ${holder}) already runs for ${home}. Stop it with 'kairos stop', or set KAIROS_HOME to use a separate state folder.`,
        holder,
      );
    }
    const aside = `${file}.stale.${process.pid}`;
    try {
      fs.renameSync(file, aside);
      // Only remove it if what we moved is still the stale lock we judged, not a fresh one.
      const moved = readLockPid(aside);
      if (moved !== null && moved !== holder && pidAlive(moved)) fs.renameSync(aside, file);
      else fs.rmSync(aside, { force: true });
    } catch {
      // someone else moved it first; try again
    }
  }
  throw new LockError(`could not take the lock ${file} after 3 attempts; remove it if no daemon runs`, readLockPid(file));
}
