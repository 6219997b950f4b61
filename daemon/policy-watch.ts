import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../src/report/logger.js';
import { messageOf, errnoCode } from '../src/core/errors.js';

/** The files in `$KAIROS_HOME` whose edit changes what the daemon does. */
const WATCHED_NAMES = new Set(['policy.yaml', 'hooks.json', 'plugins']);
const DEFAULT_DEBOUNCE_MS = 300;

export interface PolicyWatch {
  close(): void;
}

/**
 * Calls `reload` after the user's policy, hooks or plugins change (debounced: an editor's save is
 * several writes, and an atomic save is a rename). One fs.watch on the home folder (a rename replaces
 * the file, so the file itself cannot be watched) plus one on the plugins folder and each plugin in it,
 * re-armed after every reload so a plugin added later is seen too.
 */
export function watchPolicyFiles(home: string, reload: () => void, log: Logger, debounceMs = DEFAULT_DEBOUNCE_MS): PolicyWatch {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let pluginWatchers: fs.FSWatcher[] = [];
  const fire = (): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (closed) return;
      reload();
      armPlugins();
    }, debounceMs);
  };
  const watch = (dir: string, filter: (name: string | null) => boolean, recursive = false): fs.FSWatcher | undefined => {
    try {
      const w = fs.watch(dir, { persistent: false, recursive }, (_type, name) => {
        if (filter(name === null ? null : String(name))) fire();
      });
      w.on('error', (e) => log.warn({ dir, err: e.message }, 'policy file watch failed; SIGHUP or a restart reloads the policy'));
      return w;
    } catch (e) {
      const code = errnoCode(e);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') log.warn({ dir, err: messageOf(e) }, 'cannot watch for policy edits');
      return undefined;
    }
  };
  const armPlugins = (): void => {
    for (const w of pluginWatchers) w.close();
    pluginWatchers = [];
    const root = path.join(home, 'plugins');
    const any = (): boolean => true;
    const top = watch(root, any);
    if (top) pluginWatchers.push(top);
    // Recursive: a plugin's hooks, scripts and manifest live in subfolders, and a change to any file of
    // a trusted plugin must un-trust it (src/agent/plugins/trust.ts) at once.
    for (const d of listDirs(root)) {
      const w = watch(d, any, true);
      if (w) pluginWatchers.push(w);
    }
  };
  // The store, its WAL and the logs live here too and change all the time: only names that matter fire.
  const homeWatcher = watch(home, (name) => name === null || WATCHED_NAMES.has(name));
  armPlugins();
  return {
    close(): void {
      closed = true;
      clearTimeout(timer);
      homeWatcher?.close();
      for (const w of pluginWatchers) w.close();
    },
  };
}

function listDirs(root: string): string[] {
  try {
    return fs
      .readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => path.join(root, d.name));
  } catch {
    // No plugins folder: nothing to watch. An unreadable one: watch(root) just before has logged why.
    return [];
  }
}
