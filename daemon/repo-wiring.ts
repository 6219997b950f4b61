import path from 'node:path';
import { auditRepoPolicy, policyChanged } from './repo-trust.js';
import type { Logger } from '../src/report/logger.js';
import { startRepoCron, watchRepo, type RepoWatch } from './repo-watch.js';
import { enabledTriggers, resolveRepoPolicy, type RepoPolicy } from '../src/policy/effective.js';
import { messageOf } from '../src/core/errors.js';
import type { DaemonParts } from './daemon-parts.js';

export interface WatchedRepo {
  path: string;
  policy: RepoPolicy;
  /** Undefined only while addRepo starts it (the entry is listed first, so the watcher's callbacks find it). */
  watch: RepoWatch | undefined;
  gitOperation: string | null;
  cron: { stop(): void } | undefined;
}

/** What the repository wiring uses of the daemon's parts; it adds to and removes from `repos`. */
export type RepoWiringDeps = Pick<
  DaemonParts,
  'repos' | 'ownWrites' | 'db' | 'repoStore' | 'events' | 'audit' | 'reporter' | 'log' | 'home' | 'env' | 'settler' | 'fileChanges' | 'userPolicy' | 'ingest' | 'storeEvents' | 'stopping'
>;

/** One repository's wiring: its watcher into the store, its git operations and storms into the settlers, its cron, its policy. */
export class RepoWiring {
  constructor(private readonly d: RepoWiringDeps) {}

  private get repos(): Map<string, WatchedRepo> {
    return this.d.repos;
  }

  private get log(): Logger {
    return this.d.log;
  }

  async addRepo(repo: string): Promise<void> {
    if (this.repos.has(repo)) return;
    this.d.repoStore.setWatched(repo, true, new Date().toISOString());
    const policy = resolveRepoPolicy(this.d.db, this.d.userPolicy(), repo);
    this.d.reporter.policyProblems(repo, policy);
    const entry: WatchedRepo = { path: repo, policy, gitOperation: null, cron: undefined, watch: undefined };
    this.repos.set(repo, entry);
    let watch: RepoWatch;
    try {
      watch = this.watchRepo(repo, entry);
      entry.watch = watch;
    } catch (e) {
      this.repos.delete(repo);
      throw e;
    }
    try {
      await watch.ready;
    } catch (e) {
      // Listed with its failed watcher (status shows the reason) rather than dropped silently.
      this.log.error({ repo, err: messageOf(e) }, 'watcher failed');
      return;
    }
    if (this.repos.get(repo) !== entry || this.d.stopping()) return; // removed, or stopping, while it indexed
    // The baseline for the next start, even when nothing changed this time.
    this.d.repoStore.saveGitState(repo, watch.gitSnapshot());
    entry.cron = startRepoCron(entry.path, entry.policy, this.d.db, this.log, (d) => void this.d.ingest([d]));
    this.log.info({ repo, trust: policy.trust, triggers: enabledTriggers(policy).map((t) => t.name), watcher: watch.status().engine }, 'watching');
    if (policy.trust === 'untrusted') this.log.info({ repo }, `not trusted: agent work here is read-only until 'kairos trust ${repo}'`);
  }

  private watchRepo(repo: string, entry: WatchedRepo): RepoWatch {
    const policy = entry.policy;
    return watchRepo({
      repo,
      ignore: policy.policy.ignore ?? [],
      lastGitState: () => this.d.repoStore.gitState(repo),
      snapshotDir: path.join(this.d.home, 'watch'),
      env: this.d.env,
      log: this.log,
      onEvents: (drafts) => this.d.storeEvents(drafts),
      onGitEvents: (drafts, snapshot) => this.d.storeEvents(drafts, () => this.d.repoStore.saveGitState(repo, snapshot)),
      onGitOperation: (op) => {
        for (const s of [this.d.settler, this.d.fileChanges]) {
          if (op) s.hold(repo, 'git');
          else s.release(repo, 'git');
        }
        entry.gitOperation = op;
      },
      onStorm: (active) => {
        for (const s of [this.d.settler, this.d.fileChanges]) {
          if (active) s.hold(repo, 'storm');
          else s.release(repo, 'storm');
        }
      },
      isOwnBranch: (branch) => branch.startsWith('kairos/'),
      onError: (err, source) => this.log.error({ repo, source, err: err.message }, 'watcher error'),
      isOwnWrite: (rel) => this.d.ownWrites.has(repo, rel),
      pendingFileStates: () => this.d.events.pendingFileStates(repo),
    });
  }

  async removeRepo(repo: string): Promise<boolean> {
    const r = this.repos.get(repo);
    if (!r) return false;
    this.repos.delete(repo);
    r.cron?.stop();
    this.d.settler.dropRepo(repo);
    this.d.fileChanges.dropRepo(repo);
    await r.watch?.close();
    this.d.repoStore.setWatched(repo, false, new Date().toISOString());
    return true;
  }

  /**
   * Re-reads one repository's policy and trust (after a git event, a policy file event, before a
   * task, for status). Triggers, cron and status follow a change; a change of trust is logged and
   * audited. Cheap: one small YAML file and the sha256 of the pinned files.
   */
  refreshPolicy(repo: string, why: string): void {
    const r = this.repos.get(repo);
    if (!r) return;
    const next = resolveRepoPolicy(this.d.db, this.d.userPolicy(), repo);
    if (!policyChanged(r.policy, next)) return;
    const before = r.policy;
    r.policy = next;
    if (before.trust !== next.trust) {
      this.log.warn({ repo, from: before.trust, to: next.trust, why }, 'repository trust changed');
      auditRepoPolicy(this.d.audit, repo, next, why);
    }
    this.d.reporter.policyProblems(repo, next);
    r.cron?.stop();
    r.cron = startRepoCron(r.path, r.policy, this.d.db, this.log, (d) => void this.d.ingest([d]));
  }
}
