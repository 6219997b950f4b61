import fs from 'node:fs';
import path from 'node:path';
import { rootIno } from '../src/events/tree-snapshot.js';

export interface RootGuardOptions {
  /** Events closer together than this make one check (an `rm -rf` and a clone are many). Default 100 ms. */
  debounceMs?: number;
  /** How often to look when the parent folder cannot be watched (gone, or no inotify watch left). Default 10 s. */
  fallbackMs?: number;
}

export interface RootGuard {
  /** Look now (e.g. a source reported an error: its folder may be gone). */
  poke: () => void;
  close(): void;
}

interface DirWatch {
  watcher: fs.FSWatcher;
  ino: number;
}

/**
 * Calls `check` when a repository folder may have been deleted, replaced, re-created, or lost or
 * regained its `.git` — from kernel notifications, so a quiet folder never wakes the process:
 * a watch on the parent folder (the repository's own name appearing or going) and one on the folder
 * itself (its `.git` entry). Only while the parent cannot be watched does it fall back to looking
 * every `fallbackMs`. Every check re-arms the watches first, so nothing between them is missed.
 */
export function guardRoot(repo: string, check: () => void, o: RootGuardOptions = {}): RootGuard {
  const parentDir = path.dirname(repo);
  const name = path.basename(repo);
  let parent: DirWatch | undefined;
  let root: DirWatch | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let fallback: NodeJS.Timeout | undefined;
  let closed = false;

  const fire = (): void => {
    if (closed || debounce) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      if (closed) return;
      rearm();
      check();
    }, o.debounceMs ?? 100);
    debounce.unref();
  };

  const watch = (dir: string, current: DirWatch | undefined, wanted: (entry: string | null) => boolean): DirWatch | undefined => {
    const ino = rootIno(dir);
    if (current && current.ino === ino) return current;
    current?.watcher.close();
    if (ino === -1) return undefined;
    try {
      const watcher = fs.watch(dir, { persistent: false }, (_type, entry) => {
        if (wanted(entry === null ? null : String(entry))) fire();
      });
      // The folder went away under the watch, or the watch broke: look, and re-arm from what is there.
      watcher.on('error', () => {
        watcher.close();
        if (parent?.watcher === watcher) parent = undefined;
        if (root?.watcher === watcher) root = undefined;
        fire();
      });
      return { watcher, ino };
    } catch {
      return undefined; // gone meanwhile, or no inotify watch left: the fallback covers it
    }
  };

  const rearm = (): void => {
    parent = watch(parentDir, parent, (entry) => entry === null || entry === name);
    root = watch(repo, root, (entry) => entry === null || entry === '.git' || entry === name);
    clearTimeout(fallback);
    fallback = undefined;
    if (!parent && !closed) {
      fallback = setTimeout(fire, o.fallbackMs ?? 10_000);
      fallback.unref();
    }
  };

  rearm();
  return {
    poke: fire,
    close: () => {
      closed = true;
      clearTimeout(debounce);
      clearTimeout(fallback);
      parent?.watcher.close();
      root?.watcher.close();
    },
  };
}
