import type { EventDraft } from '../src/events/event.js';
import { watchFiles, type FsSource } from '../src/events/fs-source.js';
import type { GitOperation } from '../src/events/git-diff.js';
import { watchGit } from '../src/events/git-source.js';
import { withChangedPaths } from '../src/events/git-changed-paths.js';
import { enabledTriggers, type RepoPolicy } from '../src/policy/effective.js';
import { startCron, type CronDraft } from '../src/events/cron.js';
import type { Db } from '../src/store/db.js';
import type { Logger } from '../src/report/logger.js';

export interface RepoWatchOptions {
  repo: string;
  ignore: readonly string[];
  /** The git state saved when the daemon last ran, to report what changed while it was down. */
  lastGitState: string | null;
  onEvents(drafts: EventDraft[]): void;
  /** Git events and the state snapshot they lead to: store both in one transaction. */
  onGitEvents(drafts: EventDraft[], snapshot: string): void;
  onGitOperation(op: GitOperation | null): void;
  onStorm(active: boolean): void;
  isOwnBranch(branch: string): boolean;
  onError(err: Error, source: 'fs' | 'git'): void;
  isOwnWrite(rel: string): boolean;
}

export interface RepoWatch {
  ready: Promise<void>;
  close(): Promise<void>;
  /** The git state now, serialized: saved on start so the next start has a baseline. */
  gitSnapshot(): string;
}

/** The sources of one repository: its files and its git state. */
export function watchRepo(o: RepoWatchOptions): RepoWatch {
  const files: FsSource = watchFiles({
    repo: o.repo,
    ignore: o.ignore,
    onEvents: o.onEvents,
    onError: (e) => o.onError(e, 'fs'),
    isOwnWrite: o.isOwnWrite,
    onStorm: o.onStorm,
  });
  const git = watchGit({
    repoDir: o.repo,
    previous: o.lastGitState,
    onEvents: (drafts, snapshot) => {
      const at = new Date().toISOString();
      const full = drafts.map((d) => ({ ...d, repo: o.repo, at, origin: d.origin ?? 'user' }) as EventDraft);
      o.onGitEvents(withChangedPaths(o.repo, full), snapshot);
    },
    onOperation: o.onGitOperation,
    onError: (e) => o.onError(e, 'git'),
    isOwnBranch: o.isOwnBranch,
  });
  return {
    ready: Promise.all([files.ready, git.ready]).then(() => undefined),
    gitSnapshot: () => git.snapshot(),
    close: async () => {
      await Promise.all([files.close(), git.close()]);
    },
  };
}

/** How `kairos status` shows one watched repository. */
export function repoStatus(r: { path: string; policy: RepoPolicy; gitOperation: string | null }): Record<string, unknown> {
  return {
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
    return startCron({ schedules, db, log, onFire });
  } catch (e) {
    log.error({ repo, err: (e as Error).message }, 'cron schedules not started');
    return undefined;
  }
}
