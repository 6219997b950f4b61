import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './temp.js';

export interface PrivateWatchman {
  sock: string;
  stop(): Promise<void>;
}

/** Why Watchman tests are skipped on this machine, or null when `watchman` is installed. */
export function watchmanMissing(): string | null {
  const r = spawnSync('watchman', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? null : 'watchman is not installed (apt-get install watchman)';
}

/**
 * A Watchman server of the test's own (its socket, state and log in a temp folder), so tests
 * neither share nor leave behind the user's server. Point WATCHMAN_SOCK at `sock`.
 */
export async function startWatchman(): Promise<PrivateWatchman> {
  const tmp = tempDir('kairos-watchman-');
  const sock = path.join(tmp.dir, 'sock');
  const proc: ChildProcess = spawn(
    'watchman',
    ['--foreground', `--sockname=${sock}`, `--statefile=${path.join(tmp.dir, 'state')}`, `--logfile=${path.join(tmp.dir, 'log')}`, `--pidfile=${path.join(tmp.dir, 'pid')}`, '--no-save-state'],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  const deadline = Date.now() + 15_000;
  while (!fs.existsSync(sock)) {
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`private watchman did not start (see ${path.join(tmp.dir, 'log')})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    sock,
    stop: async () => {
      proc.kill('SIGTERM');
      await exited;
      tmp.cleanup();
    },
  };
}
