import fs from 'node:fs';
import path from 'node:path';
import type { EventDraft } from '../src/events/event.js';
import { watchFiles, type FsSource, type WatcherStatus } from '../src/events/fs-source.js';
import type { GitOperation } from '../src/events/git-diff.js';
import { watchGit, type GitSource } from '../src/events/git-source.js';
import { rootIno } from '../src/events/tree-snapshot.js';
import { guardRoot } from './root-guard.js';
import { withChangedPaths } from '../src/events/git-changed-paths.js';
import { enabledTriggers, type RepoPolicy } from '../src/policy/effective.js';
import { startCron, type CronDraft } from '../src/events/cron.js';
import type { Db } from '../src/store/db.js';
import { cronSlots } from '../src/store/cron-store.js';
import type { Logger } from '../src/report/logger.js';
import { asError, messageOf } from '../src/core/errors.js';

export interface RepoWatchOptions {
  repo: string;
  ignore: readonly string[];
  /** The git state saved when the daemon last ran, to report what changed while it was down (read again on a re-watch). */
  lastGitState(): string | null;
  /** Where the work tree's snapshot is kept ($KAIROS_HOME/watch). */
  snapshotDir: string;
  env: NodeJS.ProcessEnv;
  onEvents: (drafts: EventDraft[]) => void;
  /** Git events and the state snapshot they lead to: store both in one transaction. */
  onGitEvents(drafts: EventDraft[], snapshot: string): void;
  onGitOperation: (op: GitOperation | null) => void;
  onStorm: (active: boolean) => void;
  isOwnBranch: (branch: string) => boolean;
  onError(err: Error, source: 'fs' | 'git'): void;
  isOwnWrite: (rel: string) => boolean;
  /** See FsSourceOptions.pendingFileStates. */
  pendingFileStates?: () => ReadonlyMap<string, 'present' | 'gone'>;
  /** Log lines: refused paths, offline recovery, ignore reloads, a folder lost and found. */
  log: Logger;
  /**
   * The folder is watched for being deleted or replaced through its parent (daemon/root-guard.ts); only
   * when the parent cannot be watched is it looked at this often instead. Default 10 s.
   */
  rootCheckMs?: number;
}

export type RepoWatchStatus = Omit<WatcherStatus, 'state'> & {
  /** `lost`: the folder was deleted or replaced; it is watched again when it is back. */
  state: WatcherStatus['state'] | 'lost';
};

export interface RepoWatch {
  ready: Promise<void>;
  /** The first start of the work tree's watcher has walked its folders (FsSource.scanned); never rejects. */
  scanned: Promise<void>;
  close(): Promise<void>;
  /** The git state now, serialized: saved on start so the next start has a baseline. */
  gitSnapshot(): string;
  status(): RepoWatchStatus;
}

interface Sources {
  files: FsSource;
  git: GitSource;
  ino: number;
}

/**
 * The sources of one repository: its files and its git state. The folder itself is guarded by kernel
 * notifications on it and its parent (nothing runs when idle): when it is deleted, or deleted and cloned
 * again at the same path, the sources are closed and started again once a work tree is back.
 */
export function watchRepo(o: RepoWatchOptions): RepoWatch {
  let current: Sources | undefined;
  let lost: string | null = null;
  let closed = false;
  let lastStatus: WatcherStatus | undefined;
  let requestCheck = (): void => undefined;
  const start = (): Sources => {
    const files = watchFiles({
      repo: o.repo,
      ignore: o.ignore,
      env: o.env,
      snapshotDir: o.snapshotDir,
      onEvents: o.onEvents,
      onError: (e) => {
        o.onError(e, 'fs');
        requestCheck(); // a watcher's error may be its folder going away
      },
      isOwnWrite: o.isOwnWrite,
      ...(o.pendingFileStates ? { pendingFileStates: o.pendingFileStates } : {}),
      onStorm: o.onStorm,
      onRefused: (rel, reason) => o.log.warn({ repo: o.repo, path: rel, reason }, 'file event refused: the path cannot be recorded exactly'),
      onInfo: (msg, fields) => o.log.info(fields, msg),
    });
    const git = watchGit({
      repoDir: o.repo,
      previous: o.lastGitState(),
      onEvents: (drafts, snapshot) => {
        const at = new Date().toISOString();
        const full = drafts.map((d) => ({ ...d, repo: o.repo, at, origin: d.origin ?? 'user' }) as EventDraft);
        o.onGitEvents(withChangedPaths(o.repo, full), snapshot);
      },
      onOperation: o.onGitOperation,
      onError: (e) => {
        o.onError(e, 'git');
        requestCheck();
      },
      isOwnBranch: o.isOwnBranch,
    });
    return { files, git, ino: rootIno(o.repo) };
  };
  const stop = async (s: Sources | undefined): Promise<void> => {
    if (!s) return;
    lastStatus = s.files.status();
    await Promise.allSettled([s.files.close(), s.git.close()]);
  };
  current = start();
  const ready = Promise.all([current.files.ready, current.git.ready]).then(() => undefined);

  // The guard: a deleted or replaced folder is noticed and, once a work tree is back, watched again.
  // A check asked for while one runs runs again after it (the folder may have changed meanwhile).
  let checking = false;
  let again = false;
  const check = (): void => {
    if (closed) return;
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    void (async () => {
      const ino = rootIno(o.repo);
      const isTree = ino !== -1 && fs.existsSync(path.join(o.repo, '.git'));
      if (!lost && current && (!isTree || ino !== current.ino)) {
        lost = ino === -1 ? 'the folder was deleted' : isTree ? 'the folder was replaced' : 'the folder is no longer a git work tree';
        o.log.warn({ repo: o.repo, reason: lost }, 'repository folder lost; it is watched again when it is back');
        const s = current;
        current = undefined;
        await stop(s);
        // A folder replaced in one move (or re-cloned while the sources closed) is back already: look again.
        again = true;
      } else if (lost && isTree && !closed) {
        o.log.info({ repo: o.repo, was: lost }, 'repository folder is back; watching it again');
        try {
          const s = start();
          current = s;
          lost = null;
          await Promise.all([s.files.ready, s.git.ready]);
          o.onGitEvents([], s.git.snapshot());
        } catch (e) {
          o.onError(asError(e), 'fs');
        }
      }
    })().finally(() => {
      checking = false;
      if (again) {
        again = false;
        check();
      }
    });
  };
  const guard = guardRoot(o.repo, check, { fallbackMs: o.rootCheckMs });
  requestCheck = guard.poke;

  return {
    ready,
    scanned: current.files.scanned ?? Promise.resolve(),
    gitSnapshot: () => (current ?? { git: undefined }).git?.snapshot() ?? o.lastGitState() ?? '',
    status: () => {
      if (current && !lost) return current.files.status();
      const base = lastStatus ?? { engine: null, backend: null, reason: '', files: 0, dirs: 0, ignored_dirs: 0, elapsed_ms: 0, offline: '', raw_events: 0 };
      return { ...base, state: 'lost', error: lost ?? 'not watching' };
    },
    close: async () => {
      closed = true;
      guard.close();
      await stop(current);
      current = undefined;
    },
  };
}

/** How `kairos status` shows one watched repository. */
export function repoStatus(r: { path: string; policy: RepoPolicy; gitOperation: string | null; watch?: RepoWatch }): Record<string, unknown> {
  return {
    watcher: r.watch?.status() ?? null,
    path: r.path,
    trust: r.policy.trust,
    triggers: enabledTriggers(r.policy).map((t) => t.name),
    refused: r.policy.refused,
    policy_error: r.policy.error ?? null,
    git_operation: r.gitOperation,
  };
}

/** The repository's cron triggers, scheduled. One bad schedule must not stop the repository from being watched (the policy check names it). */
export function startRepoCron(repo: string, policy: RepoPolicy, db: Db, log: Logger, onFire: (draft: CronDraft) => void): { stop(): void } | undefined {
  const schedules = enabledTriggers(policy)
    .filter((t) => t.on.cron)
    .map((t) => ({ repo, trigger: t.name, expr: t.on.cron! }));
  if (!schedules.length) return undefined;
  try {
    return startCron({ schedules, slots: cronSlots(db), log, onFire });
  } catch (e) {
    log.error({ repo, err: messageOf(e) }, 'cron schedules not started');
    return undefined;
  }
}
