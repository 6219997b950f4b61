import fs from 'node:fs';
import path from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';
import { BurstTracker } from './burst.js';
import { checkAgainstDisk, type RawChange, type RawKind, type Reported } from './disk-check.js';
import type { FsSource, FsSourceOptions, WatcherStatus } from './file-watch.js';
import { IgnoreRules, isIgnoreFile } from './ignore-rules.js';
import { missedInStorm } from './storm-recovery.js';

const KIND: Record<string, RawKind> = { add: 'create', change: 'update', unlink: 'delete' };
const RELOAD_DEBOUNCE_MS = 150;

/**
 * The fallback engine, for when @parcel/watcher cannot load: chokidar, one inotify watch per file and
 * per folder. Ignored folders are never descended into. Symlinks are not followed: a link pointing
 * outside the repository must not make the daemon watch (or later read) what it points at. It keeps
 * no snapshot, so changes made while Kairos is stopped are not recovered; `status` says so.
 */
export function watchWithChokidar(opts: FsSourceOptions, status: WatcherStatus): FsSource {
  const repo = opts.repo;
  let rules = new IgnoreRules(repo, opts.ignore);
  const ignored = (abs: string, stats?: fs.Stats): boolean => {
    const rel = path.relative(repo, abs).split(path.sep).join('/');
    if (rel === '' || rel.startsWith('..')) return false;
    if (stats) return rules.ignores(rel, stats.isDirectory());
    if (rules.ignores(rel, false)) return true;
    // No stats (an fs.watch event): a folder-only pattern like `build/` needs to know what this is.
    return rules.ignores(rel, true) && isDirectory(abs);
  };
  let pending: RawChange[] = [];
  let scheduled = false;
  const reported: Reported = new Map();
  let storm: { since: number; dirs: Set<string>; seen: Set<string> } | undefined;
  const origin = (rel: string): 'user' | 'daemon' => (opts.isOwnWrite?.(rel) ? 'daemon' : 'user');
  const emit = (changes: RawChange[], data?: Record<string, unknown>): void => {
    const { drafts } = checkAgainstDisk(changes, { repo, rules, origin, reported, data, onRefused: (rel, why) => opts.onRefused?.(rel, why) });
    if (drafts.length) opts.onEvents(drafts);
  };
  const flush = (): void => {
    scheduled = false;
    const out = pending;
    pending = [];
    if (out.length) emit(out);
  };
  const burst = new BurstTracker({
    onStorm: () => opts.onStorm?.(true),
    onQuiet: (wasStorm) => {
      const s = storm;
      storm = undefined;
      reported.clear();
      if (!wasStorm || !s) return;
      flush(); // what the watcher did report goes first
      const missed = missedInStorm(repo, rules, s.dirs, s.seen, s.since - 1000);
      if (missed.length) emit(missed.map((rel) => ({ rel, kind: 'create' })), { recovered: true });
      opts.onStorm?.(false);
    },
  });
  let reloadTimer: NodeJS.Timeout | undefined;
  const onAll = (event: string, abs: string): void => {
    const kind = KIND[event];
    if (!kind) return;
    status.raw_events++;
    const rel = path.relative(repo, abs).split(path.sep).join('/');
    storm ??= { since: Date.now(), dirs: new Set(), seen: new Set() };
    storm.seen.add(rel);
    // The folder and its ancestors: a folder created whole during an overflow shows only as a newer mtime above it.
    for (let dir = rel; dir.includes('/'); ) {
      dir = dir.slice(0, dir.lastIndexOf('/'));
      if (storm.dirs.has(dir)) break;
      storm.dirs.add(dir);
    }
    storm.dirs.add('');
    burst.note(1);
    if (isIgnoreFile(rel)) {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(() => void reload(), RELOAD_DEBOUNCE_MS);
    }
    pending.push({ rel, kind });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  const start = (): { watcher: FSWatcher; ready: Promise<void> } => {
    const watcher = chokidar.watch(repo, { ignored, ignoreInitial: true, followSymlinks: false, persistent: true, alwaysStat: false });
    watcher.on('all', onAll);
    watcher.on('error', (err) => opts.onError(err instanceof Error ? err : new Error(String(err))));
    return { watcher, ready: new Promise<void>((resolve) => watcher.once('ready', () => resolve())) };
  };
  let current = start();
  // An ignore file changed: chokidar decides what to descend into when it adds a folder, so it is
  // started again under the new rules (ignoreInitial: a folder no longer ignored brings no flood).
  const reload = async (): Promise<void> => {
    rules = rules.reloaded();
    const old = current;
    current = start();
    await Promise.all([old.watcher.close(), current.ready]);
    opts.onInfo?.('ignore rules reloaded', { repo, engine: 'chokidar' });
  };
  const startedAt = Date.now();
  const ready = current.ready.then(() => {
    status.state = 'watching';
    status.elapsed_ms = Date.now() - startedAt;
  });
  return {
    ready,
    status: () => ({ ...status, ...(status.state === 'indexing' ? { elapsed_ms: Date.now() - startedAt } : {}) }),
    close: async () => {
      burst.stop();
      clearTimeout(reloadTimer);
      await current.watcher.close();
      flush();
      status.state = 'closed';
    },
  };
}

function isDirectory(abs: string): boolean {
  try {
    return fs.statSync(abs).isDirectory();
  } catch {
    // Gone by the time it is looked at: not a folder, and its delete event follows.
    return false;
  }
}
