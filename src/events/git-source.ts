import path from 'node:path';
import chokidar, { type FSWatcher } from 'chokidar';
import { resolveGitDirs, type GitDirs } from './git-dir.js';
import { diffGitState, operationInProgress, type GitEventDraft, type GitOperation } from './git-diff.js';
import { parseGitState, readGitState, serializeGitState, type GitState } from './git-state.js';

export interface GitSourceOptions {
  /** The work tree (the folder holding `.git`, folder or `gitdir:` file). */
  repoDir: string;
  /**
   * Semantic events, in order. `snapshot` is the serialized state they bring the repository to:
   * store it with the events (one transaction) and pass it back as `previous` on the next start.
   */
  onEvents(drafts: GitEventDraft[], snapshot: string): void;
  /** A git operation started or ended (null). Called before the events of a start, after those of an end. */
  onOperation?(inProgress: GitOperation | null): void;
  onError(err: Error): void;
  /**
   * The snapshot stored by the last run. What changed since (a commit made while the daemon was
   * stopped) is reported once, before `ready` resolves, with `data.reconciled: true`. Null or
   * absent on a first run: the current state is then the baseline and nothing is reported.
   */
  previous?: string | null;
  /** Events naming one of these branches are tagged `origin: 'daemon'` (the daemon's own worktree branches). */
  isOwnBranch?(branch: string): boolean;
  /** Quiet time before re-reading after a change in .git. Default 75 ms. */
  debounceMs?: number;
  /** A change storm is still re-read at least this often. Default 500 ms. */
  maxWaitMs?: number;
  /**
   * A fetch is held this long in case it is the first half of a `git pull`, whose merge follows in
   * a separate process a moment later: the pull is then reported alone. Default 1000 ms.
   */
  pullGraceMs?: number;
}

export interface GitSource {
  ready: Promise<void>;
  close(): Promise<void>;
  /** The state as last read. */
  state(): GitState;
  /** The serialized form of state(), for storing. */
  snapshot(): string;
  dirs: GitDirs;
}

/** Files directly in the per-worktree git folder that carry state; everything else there (index, objects) is not watched. */
const PER_WORKTREE = new Set([
  'HEAD',
  'ORIG_HEAD',
  'FETCH_HEAD',
  'MERGE_HEAD',
  'CHERRY_PICK_HEAD',
  'REVERT_HEAD',
  'BISECT_LOG',
  'index.lock',
  'rebase-merge',
  'rebase-apply',
  'logs',
  'logs/HEAD',
]);
const COMMON = new Set(['packed-refs', 'refs', 'refs/heads', 'refs/remotes', 'refs/stash', 'logs', 'logs/refs', 'logs/refs/stash']);

function allowedPerWorktree(rel: string): boolean {
  return rel === '' || PER_WORKTREE.has(rel);
}

function allowedCommon(rel: string): boolean {
  if (rel === '' || COMMON.has(rel)) return true;
  // Loose branch and remote refs, any depth (feature/x); their `.lock` files are transient.
  return (rel.startsWith('refs/heads/') || rel.startsWith('refs/remotes/')) && !rel.endsWith('.lock');
}

function relativeInside(root: string, p: string): string | null {
  const rel = path.relative(root, p);
  if (rel === '') return '';
  if (rel.startsWith('..') || path.isAbsolute(rel)) return null;
  return rel.split(path.sep).join('/');
}

/**
 * The chokidar `ignored` test: an allow-list, so objects/, the index, hooks and other worktrees'
 * folders never cost a watch. For a linked worktree its own folder sits inside the common one
 * (`<common>/worktrees/<name>`), so it is matched first.
 */
export function gitWatchIgnored(dirs: GitDirs): (p: string) => boolean {
  const linked = dirs.gitDir !== dirs.commonDir;
  return (p) => {
    const inGit = relativeInside(dirs.gitDir, p);
    if (inGit !== null) return !(allowedPerWorktree(inGit) || (!linked && allowedCommon(inGit)));
    const inCommon = relativeInside(dirs.commonDir, p);
    if (inCommon !== null) return !allowedCommon(inCommon);
    return false;
  };
}

/**
 * Watches a repository's `.git` state and reports semantic git events (see git-diff.ts). Only the
 * few files that carry state are watched; each burst of changes is re-read once (debounced) and
 * diffed against the last state.
 */
export function watchGit(opts: GitSourceOptions): GitSource {
  const dirs = resolveGitDirs(opts.repoDir);
  const debounceMs = opts.debounceMs ?? 75;
  const maxWaitMs = opts.maxWaitMs ?? 500;
  const pullGraceMs = opts.pullGraceMs ?? 1000;

  let current = readGitState(dirs);
  let reconciled: GitEventDraft[] = [];
  if (opts.previous) {
    try {
      const prev = parseGitState(opts.previous);
      current = readGitState(dirs, { since: prev });
      reconciled = diffGitState(prev, current).map((d) => ({ ...d, data: { ...d.data, reconciled: true } }));
    } catch (err) {
      opts.onError(err instanceof Error ? err : new Error(String(err)));
    }
  }
  let operation: GitOperation | null = null;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let firstPendingAt = 0;
  let held: GitEventDraft[] = [];
  let holdTimer: NodeJS.Timeout | undefined;

  const fail = (err: unknown): void => opts.onError(err instanceof Error ? err : new Error(String(err)));

  const tag = (d: GitEventDraft): GitEventDraft => {
    const branch = d.data.branch;
    return typeof branch === 'string' && opts.isOwnBranch?.(branch) ? { ...d, origin: 'daemon' } : d;
  };

  const deliver = (drafts: GitEventDraft[]): void => {
    if (drafts.length === 0) return;
    try {
      opts.onEvents(drafts.map(tag), serializeGitState(current));
    } catch (err) {
      fail(err);
    }
  };

  const flushHeld = (): void => {
    if (holdTimer) clearTimeout(holdTimer);
    holdTimer = undefined;
    const out = held;
    held = [];
    deliver(out);
  };

  const emit = (drafts: GitEventDraft[]): void => {
    if (drafts.some((d) => d.type === 'git.pull')) held = [];
    const fetches = drafts.filter((d) => d.type === 'git.fetch');
    const others = drafts.filter((d) => d.type !== 'git.fetch');
    held.push(...fetches);
    if (others.length === 0 && pullGraceMs > 0) {
      if (held.length > 0 && !holdTimer) holdTimer = setTimeout(flushHeld, pullGraceMs);
      return;
    }
    const out = [...held, ...others];
    held = [];
    if (holdTimer) clearTimeout(holdTimer);
    holdTimer = undefined;
    deliver(out);
  };

  const setOperation = (op: GitOperation | null, when: 'before' | 'after'): void => {
    if (op === operation) return;
    // A start is announced before its events (so they are held with it), an end after them.
    if ((op !== null) !== (when === 'before')) return;
    operation = op;
    try {
      opts.onOperation?.(op);
    } catch (err) {
      fail(err);
    }
  };

  const refresh = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    let next: GitState;
    try {
      next = readGitState(dirs, { since: current });
    } catch (err) {
      fail(err);
      return;
    }
    const drafts = diffGitState(current, next);
    current = next;
    const op = operationInProgress(next);
    setOperation(op, 'before');
    emit(drafts);
    setOperation(op, 'after');
  };

  const schedule = (): void => {
    if (closed) return;
    const now = Date.now();
    if (timer) clearTimeout(timer);
    else firstPendingAt = now;
    const wait = Math.max(0, Math.min(debounceMs, firstPendingAt + maxWaitMs - now));
    timer = setTimeout(refresh, wait);
  };

  const roots = dirs.gitDir === dirs.commonDir ? [dirs.gitDir] : [dirs.gitDir, dirs.commonDir];
  const watcher: FSWatcher = chokidar.watch(roots, {
    ignored: gitWatchIgnored(dirs),
    ignoreInitial: true,
    followSymlinks: false,
    persistent: true,
    // git replaces files by rename; chokidar's atomic mode would only delay the unlink it reports.
    atomic: false,
  });
  watcher.on('all', () => schedule());
  watcher.on('error', (err) => fail(err));

  let resolveReady = (): void => {};
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
    watcher.once('ready', () => {
      if (!closed) {
        const op = operationInProgress(current);
        setOperation(op, 'before');
        deliver(reconciled);
        reconciled = [];
        // Anything that changed while the watches were being set up.
        refresh();
      }
      resolve();
    });
  });

  return {
    ready,
    dirs,
    state: () => current,
    snapshot: () => serializeGitState(current),
    close: async () => {
      if (closed) return;
      if (timer) refresh();
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      flushHeld();
      await watcher.close();
      resolveReady();
    },
  };
}
