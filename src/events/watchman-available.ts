import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { z } from 'zod';
import { errnoCode, isAbsent, messageOf } from '../core/errors.js';

/** `watchman get-sockname`'s answer (another process's output: checked, not trusted). */
const WatchmanSockname = z.looseObject({ sockname: z.string().optional() });

/**
 * Is a Watchman server reachable? With WATCHMAN_SOCK set (a private server), its socket must exist;
 * otherwise `watchman get-sockname` must succeed (it starts the user's server when none runs).
 */
export function watchmanAvailable(env: NodeJS.ProcessEnv): { ok: boolean; why: string } {
  if (env.WATCHMAN_SOCK) {
    try {
      return fs.statSync(env.WATCHMAN_SOCK).isSocket() ? { ok: true, why: `WATCHMAN_SOCK=${env.WATCHMAN_SOCK}` } : { ok: false, why: `WATCHMAN_SOCK=${env.WATCHMAN_SOCK} is not a socket` };
    } catch (e) {
      if (isAbsent(e)) return { ok: false, why: `WATCHMAN_SOCK=${env.WATCHMAN_SOCK} does not exist` };
      return { ok: false, why: `WATCHMAN_SOCK=${env.WATCHMAN_SOCK} cannot be checked (${errnoCode(e) ?? messageOf(e)})` };
    }
  }
  const r = spawnSync('watchman', ['--output-encoding=json', '--no-pretty', 'get-sockname'], { env, encoding: 'utf8', timeout: 15_000 });
  if (r.error) return { ok: false, why: (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no watchman on PATH' : `watchman did not answer: ${r.error.message}` };
  if (r.status !== 0) return { ok: false, why: `watchman get-sockname exited ${r.status}: ${r.stderr.trim().split('\n')[0] ?? ''}` };
  try {
    const sock = WatchmanSockname.safeParse(JSON.parse(r.stdout)).data?.sockname;
    return sock ? { ok: true, why: `watchman at ${sock}` } : { ok: false, why: 'watchman named no socket' };
  } catch {
    // A parse attempt: the answer says what went wrong.
    return { ok: false, why: 'watchman answered something that is not JSON' };
  }
}
