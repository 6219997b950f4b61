import fs from 'node:fs';
import path from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';
import type { EventDraft } from './event.js';
import { IgnoreRules } from './ignore-rules.js';
import { missedInStorm } from './storm-recovery.js';

/** A burst at least this large is rescanned once quiet: enough events to have overflowed the kernel queue. */
const STORM_EVENTS = 1000;
const STORM_QUIET_MS = 300;

export interface FsSourceOptions {
  repo: string;
  /** Extra ignore patterns from the policy, in .gitignore syntax. */
  ignore?: readonly string[];
  onEvents(drafts: EventDraft[]): void;
  onError(err: Error): void;
  /** A storm large enough to overflow the kernel queue began (true) or its recovery is done (false). */
  onStorm?(active: boolean): void;
  /** Paths the daemon itself is writing: their events are tagged `origin: daemon`. */
  isOwnWrite?(rel: string): boolean;
}

export interface FsSource {
  ready: Promise<void>;
  close(): Promise<void>;
}

const TYPE = { add: 'file.added', change: 'file.changed', unlink: 'file.removed' } as const;

/**
 * Watches a repository's files with chokidar. Ignored folders are never descended into, so a
 * 50,000-file node_modules costs no inotify watch at all. Symlinks are not followed: a link
 * pointing outside the repository must not make the daemon watch (or later read) what it points at.
 */
export function watchFiles(opts: FsSourceOptions): FsSource {
  const repo = opts.repo;
  const rules = new IgnoreRules(repo, opts.ignore);
  const ignored = (abs: string, stats?: fs.Stats): boolean => {
    const rel = path.relative(repo, abs).split(path.sep).join('/');
    if (rel === '' || rel.startsWith('..')) return false;
    if (stats) return rules.ignores(rel, stats.isDirectory());
    if (rules.ignores(rel, false)) return true;
    // No stats (an fs.watch event): a folder-only pattern like `build/` needs to know what this is.
    return rules.ignores(rel, true) && isDirectory(abs);
  };
  const watcher: FSWatcher = chokidar.watch(repo, {
    ignored,
    ignoreInitial: true,
    followSymlinks: false,
    persistent: true,
    alwaysStat: false,
  });
  // Emit in small synchronous groups: chokidar reports one path at a time, the store wants batches.
  let pending: EventDraft[] = [];
  let scheduled = false;
  // The current burst: when it began, which folders it touched, which paths it reported.
  let storm: { since: number; dirs: Set<string>; seen: Set<string>; count: number; timer?: NodeJS.Timeout } | undefined;
  const endStorm = (): void => {
    const s = storm;
    storm = undefined;
    if (!s || s.count < STORM_EVENTS) return;
    flush(); // what the watcher did report goes first
    const missed = missedInStorm(repo, rules, s.dirs, s.seen, s.since - 1000);
    const at = new Date().toISOString();
    if (missed.length) opts.onEvents(missed.map((rel) => ({ type: 'file.added', repo, path: rel, at, origin: opts.isOwnWrite?.(rel) ? 'daemon' : 'user', data: { recovered: true } })));
    opts.onStorm?.(false);
  };
  const flush = (): void => {
    scheduled = false;
    const out = pending;
    pending = [];
    if (out.length) opts.onEvents(out);
  };
  watcher.on('all', (event, abs) => {
    if (event !== 'add' && event !== 'change' && event !== 'unlink') return;
    const rel = path.relative(repo, abs).split(path.sep).join('/');
    storm ??= { since: Date.now(), dirs: new Set(), seen: new Set(), count: 0 };
    // Settle waits for the recovery scan, so a storm is one batch with every file in it.
    if (++storm.count === STORM_EVENTS) opts.onStorm?.(true);
    storm.seen.add(rel);
    // The folder and its ancestors: a folder created whole during an overflow shows only as a newer mtime above it.
    for (let dir = rel; dir.includes('/'); ) {
      dir = dir.slice(0, dir.lastIndexOf('/'));
      if (storm.dirs.has(dir)) break;
      storm.dirs.add(dir);
    }
    storm.dirs.add('');
    clearTimeout(storm.timer);
    storm.timer = setTimeout(endStorm, STORM_QUIET_MS);
    pending.push({
      type: TYPE[event],
      repo,
      path: rel,
      at: new Date().toISOString(),
      origin: opts.isOwnWrite?.(rel) ? 'daemon' : 'user',
      data: {},
    });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });
  watcher.on('error', (err) => opts.onError(err instanceof Error ? err : new Error(String(err))));
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    ready,
    close: async () => {
      clearTimeout(storm?.timer);
      await watcher.close();
      flush();
    },
  };
}

function isDirectory(abs: string): boolean {
  try {
    return fs.statSync(abs).isDirectory();
  } catch {
    return false;
  }
}
