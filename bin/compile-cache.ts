import module from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * Node's on-disk cache of compiled code (Node ≥ 22.1; absent on Node 20, where this does nothing):
 * a second `kairos` start skips compiling the few hundred modules it loads. The cache lives in the
 * user's own cache folder ($XDG_CACHE_HOME or ~/.cache), not Node's default under the shared /tmp,
 * where another local user could plant entries, and not in $KAIROS_HOME, whose modes `kairos`
 * checks and which may not exist yet. NODE_DISABLE_COMPILE_CACHE=1 turns it off (Node's own switch).
 */
export function enableCompileCache(env: NodeJS.ProcessEnv = process.env): void {
  // Not in Node 20's types: looked up, not assumed.
  if (!('enableCompileCache' in module) || typeof module.enableCompileCache !== 'function') return;
  try {
    const cacheHome = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
    module.enableCompileCache(path.join(cacheHome, 'kairos', 'compile-cache'));
  } catch {
    // Only a speed-up: a folder that cannot be made leaves start-up as it was.
  }
}
