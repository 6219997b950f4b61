import fs from 'node:fs';
import path from 'node:path';
import { EventDraft, type StoredEvent } from '../src/events/event.js';
import { Settler, STORM_HOLD_CEILING_MS, type SettledBatch } from '../src/pipeline/settle.js';
import { TaskRunner, type StartGate } from '../src/pipeline/runner.js';
import { evaluateRunStep, gateTaskStart } from './task-gate.js';
import { auditRepoPolicy, policyChanged, touchesTrust } from './repo-trust.js';
import { ALL_REPOS, AuditLog, recordHookBlock } from '../src/policy/audit.js';
import { parseDuration } from '../src/policy/duration.js';
import type { Policy, Trigger } from '../src/policy/schema.js';
import { openDb, storePath, type Db } from '../src/store/db.js';
import { EventStore } from '../src/store/event-store.js';
import { RepoStore } from '../src/store/repo-store.js';
import { TaskStateError, TaskStore, type TaskRow } from '../src/store/task-store.js';
import { BatchingNotifier } from '../src/report/notify-batch.js';
import { Voice } from '../src/report/speech.js';
import type { Logger } from '../src/report/logger.js';
import { createModelClient, type ModelClient } from '../src/model/client.js';
import { loadPriceTable, readPriceOverrides } from '../src/model/prices.js';
import { detectSandbox } from '../src/policy/sandbox.js';
import { shellGrammarStatus } from '../src/policy/shell.js';
import { reconcileWorktrees } from '../src/agent/worktree.js';
import { AgentTasks } from './agent-tasks.js';
import { loadPluginPolicy, type PluginReport } from '../src/agent/plugin-policy.js';
import { pluginTrustStatus } from '../src/agent/plugins/trust.js';
import { recoverAfterStop, startApprovalExpiry, type ApprovalExpiry } from './recovery.js';
import { DaemonHooks } from './daemon-hooks.js';
import { FileChangedBatches } from './file-changed.js';
import type { DbusNotifier } from '../src/report/dbus-notify.js';
import { spendReport } from '../src/model/spend-report.js';
import { Ambient, AMBIENT_TRIGGER, ambientTaskTrigger, queueAmbientTask } from './ambient.js';
import { ApprovalQueue, isPaused, pauseStatus, proposalActions } from '../src/pipeline/approvals.js';
import { pokeTargets } from './poke-targets.js';
import { CommandTasks } from './command-tasks.js';
import { desktopNotifiers, Reporter } from './reporter.js';
import { DecisionFollowUp } from './decisions.js';
import { followTask } from '../src/pipeline/task-follow.js';
import { repoStatus, startRepoCron } from './repo-watch.js';
import { acquireLock, type InstanceLock } from './lock.js';
import { OwnWrites } from './own-writes.js';
import { enabledTriggers, loadUserPolicy, resolveRepoPolicy, type RepoPolicy } from '../src/policy/effective.js';
import { watchRepo, type RepoWatch } from './repo-watch.js';
import { StoreGuard } from './store-guard.js';
import { RetentionJob, retentionSettings, type RetentionRun } from './retention-job.js';
import { watchPolicyFiles, type PolicyWatch } from './policy-watch.js';
import { ensureIncrementalVacuum } from '../src/store/retention.js';
import { isDamaged, StoreDamagedError } from '../src/store/store-errors.js';
import { dreamStatus, memoryStatus } from '../src/pipeline/dream.js';
import { messageOf } from '../src/core/errors.js';

export const DEFAULT_SETTLE_MS = 1500;

export interface DaemonOptions {
  home: string;
  /** Absolute, real paths. Added to those the daemon already watched. */
  repos: string[];
  env: NodeJS.ProcessEnv;
  logger: Logger;
  maxConcurrentTasks?: number;
}

interface WatchedRepo {
  path: string;
  policy: RepoPolicy;
  watch: RepoWatch;
  gitOperation: string | null;
  cron: { stop(): void } | undefined;
}

/** A corrupt page met while starting (not only at open) is the same problem for the user: one line, what to do. */
function damagedAsOneLine(e: unknown, home: string): unknown {
  return isDamaged(e) && !(e instanceof StoreDamagedError) ? new StoreDamagedError(storePath(home), messageOf(e), { cause: e }) : e;
}

/** The long-running process's engine: sources → store → settle → tasks → report. */
export class Daemon {
  readonly startedAt = new Date();
  readonly db: Db;
  readonly events: EventStore;
  readonly tasks: TaskStore;
  readonly repoStore: RepoStore;
  readonly audit: AuditLog;
  private readonly settler: Settler;
  private readonly runner: TaskRunner;
  private readonly repos = new Map<string, WatchedRepo>();
  private readonly ownWrites = new OwnWrites();
  private readonly reporter: Reporter;
  /** Non-urgent notifications gathered while the user is active (presence.batch_every). */
  private readonly batching: BatchingNotifier;
  private readonly commands: CommandTasks;
  /** The last change the user made in each repository, for the gate's edit back-off. */
  private readonly lastUserEdit = new Map<string, Date>();
  private userPolicy: Policy;
  private stopping: Promise<{ unwritten: number; errors: string[] }> | undefined;
  readonly model: ModelClient;
  readonly agents: AgentTasks;
  readonly approvals: ApprovalQueue;
  readonly ambient: Ambient;
  private readonly hooks: DaemonHooks;
  /** FileChanged hooks' own settling of file changes. */
  private readonly fileChanges: FileChangedBatches;
  /** What the plugins came to at the last load (status shows refused rules). */
  private pluginReport: PluginReport = { plugins: [], errors: [] };
  /** The user's policy in force, before the plugins were added to it. */
  private policyWithoutPlugins!: Policy;
  private readonly proposalNotifier: DbusNotifier | null;
  private expiry: ApprovalExpiry | undefined;
  private indexing = true;
  private watchingAll: Promise<void> = Promise.resolve();
  /** Holds events in memory while the store's disk is full. */
  private readonly guard: StoreGuard;
  private readonly retention: RetentionJob;
  private policyWatch: PolicyWatch | undefined;
  private policyLoadedAt = new Date();
  private lastReload: { ok: boolean; error: string | null; at: string } | null = null;

  private constructor(
    private readonly opts: DaemonOptions,
    private readonly lock: InstanceLock,
  ) {
    this.log.info({ home: opts.home }, 'starting');
    // The store first: a plugin's explicit trust is kept there.
    this.db = openDb(storePath(opts.home));
    this.userPolicy = this.withPlugins(loadUserPolicy(opts.home));
    this.events = new EventStore(this.db);
    this.tasks = new TaskStore(this.db, (task, problem) => this.log.warn({ task, problem }, 'task data partly unreadable: the stored text is kept, the rest of the task goes on'));
    this.repoStore = new RepoStore(this.db);
    this.audit = new AuditLog(this.db);
    this.hooks = new DaemonHooks({
      db: this.db,
      home: opts.home,
      log: opts.logger,
      notify: (title, body) => this.reporter.notify(title, body),
      daily: (text, repo) => this.reporter.daily(text, repo),
    });
    this.fileChanges = new FileChangedBatches({
      wanted: (repo) => this.hooks.has(repo, 'FileChanged'),
      settleMs: () => this.userPolicy.defaults?.settle_ms ?? DEFAULT_SETTLE_MS,
      fire: (repo, files) => this.hooks.fileChanged(repo, files),
    });
    const { notifier, proposals } = desktopNotifiers(opts.env, opts.home, opts.logger);
    this.proposalNotifier = proposals;
    this.batching = new BatchingNotifier({
      inner: notifier,
      batchEveryMs: () => {
        const every = this.userPolicy.presence?.batch_every;
        return every !== undefined ? parseDuration(every) : undefined;
      },
      mode: () => this.ambient.presence.mode(),
    });
    // Spoken notifications follow the user's policy as reloaded (notify.speak); KAIROS_SPEECH_WAV is the tests' hook.
    const voice = new Voice({ enabled: () => this.userPolicy.notify?.speak === true, env: opts.env, log: opts.logger, wavDir: opts.env.KAIROS_SPEECH_WAV });
    this.reporter = new Reporter({ home: opts.home, log: opts.logger, notifier: this.batching, voice });
    const decisions = new DecisionFollowUp({
      reporter: this.reporter,
      proposals: () => this.proposalNotifier,
      hooks: this.hooks,
      tasks: this.tasks,
      triggerFor: (repo, name) => {
        const r = this.repos.get(repo);
        return r && enabledTriggers(r.policy).find((t) => t.name === name);
      },
      enqueue: (id) => this.runner.enqueue(id),
      log: opts.logger,
    });
    this.guard = new StoreGuard({
      db: this.db,
      events: this.events,
      log: opts.logger,
      notify: (title, body) => this.reporter.notify(title, body, 'critical'),
      onStored: (stored) => this.afterStored(stored),
      // A queued task whose start could not be recorded was dropped by the runner: offer them all again.
      onRecovered: () => this.tasks.queued().forEach((t) => this.runner.enqueue(t.id)),
    });
    this.retention = new RetentionJob({
      db: this.db,
      events: this.events,
      settings: () => retentionSettings(this.userPolicy),
      log: opts.logger,
      storeWritable: () => !this.guard.degraded,
    });
    this.commands = new CommandTasks({ tasks: this.tasks, env: opts.env, log: opts.logger, check: (task, command) => this.checkRun(task, command) });
    // The user's budget and models are global: one ledger for every repository. Getters, so a
    // reloaded policy (a raised cap) applies to the next call.
    this.model = createModelClient({
      db: this.db,
      budget: () => this.userPolicy.budget,
      models: () => this.userPolicy.models,
      apiKey: opts.env.ANTHROPIC_API_KEY,
      baseURL: opts.env.ANTHROPIC_BASE_URL,
      prices: loadPriceTable({ overrides: readPriceOverrides(path.join(opts.home, 'prices.yaml')) }),
      onThreshold: (c) => {
        this.reporter.budgetThreshold(c);
        this.hooks.budgetThreshold([...this.repos.keys()], c);
      },
      fallbackAfter: () => this.userPolicy.models?.fallback_after,
      onLadderStep: (step, call) => {
        this.log.warn({ step, origin: call.origin }, 'model ladder step');
        this.reporter.daily(`model ${step.cause === 'overloaded' ? 'fallback' : 'step down'} (${call.origin}${call.taskId ? `, task ${call.taskId}` : ''}): ${step.fromModel} → ${step.toModel ?? 'no model'}: ${step.reason}`, call.repo);
      },
      onGiveUp: (g) => this.reporter.daily(`model call gave up (${g.origin}${g.taskId ? `, task ${g.taskId}` : ''}): ${g.reason}`, g.repo),
    });
    // Approving applies exactly the stored diff under its stored hash; the writes are tagged as the daemon's own.
    this.approvals = new ApprovalQueue(this.db, {
      ...proposalActions({ db: this.db, home: opts.home, onBeforeWrite: (repo, paths) => this.markOwnWrites(repo, paths) }),
      onDecided: (r) => decisions.decided(r),
      onQueued: (a) => this.expiry?.queued(a.expiresAt),
    });
    this.agents = new AgentTasks({
      announce: (notice) => {
        void this.proposalNotifier?.notifyProposal(notice);
        this.reporter.speak(notice.repo ? `a change is ready for review in ${path.basename(notice.repo)}` : 'a change is ready for review');
      },
      approvals: this.approvals,
      db: this.db,
      home: opts.home,
      tasks: this.tasks,
      model: this.model,
      sandbox: detectSandbox(),
      log: opts.logger,
      notify: (title, body) => this.reporter.notify(title, body),
      daily: (text, repo) => this.reporter.daily(text, repo),
      markOwnWrites: (repo, paths) => this.markOwnWrites(repo, paths),
    });
    this.settler = new Settler({
      defaultSettleMs: this.userPolicy.defaults?.settle_ms ?? DEFAULT_SETTLE_MS,
      triggersFor: (repo) => {
        const r = this.repos.get(repo);
        return r ? enabledTriggers(r.policy) : [];
      },
      notBefore: (repo, t) => this.cooldownUntil(repo, t),
      holdCeilingMs: (why) => (why === 'storm' ? Number(opts.env.KAIROS_STORM_CEILING_MS) || STORM_HOLD_CEILING_MS : undefined),
      alreadyBatched: (id, trigger) => this.tasks.triggersHolding(id).has(trigger),
      onBatch: (batch, settled) => this.onBatch(batch, settled),
      onSettled: (ids) =>
        this.guard.run('settle unmatched events', () => {
          this.events.markSettled(ids, new Date().toISOString());
          this.ambient.offerUnmatched(this.events.byIds(ids));
        }),
    });
    this.ambient = new Ambient({
      db: this.db,
      home: opts.home,
      model: this.model,
      log: opts.logger,
      userPolicy: () => this.userPolicy,
      repoPolicy: (repo) => this.repos.get(repo)?.policy.policy,
      watchedRepos: () => [...this.repos.keys()],
      lastTaskId: (repo) => this.tasks.list({ repo, limit: 1 })[0]?.id,
      act: (repo, instruction, _decision, origin) => this.runner.enqueue(queueAmbientTask(this.tasks, repo, instruction, origin)),
      daily: (text, repo) => this.reporter.daily(text, repo),
      steppedAway: () => this.batching.flush(),
    });
    this.runner = new TaskRunner({
      tasks: this.tasks,
      maxConcurrent: opts.maxConcurrentTasks ?? 2,
      execute: (task) => this.execute(task),
      gate: (task) => this.gate(task),
      onDeferred: (task, reason, retryAt) =>
        this.log.info({ task: task.id, trigger: task.trigger, reason, retry_at: retryAt ? new Date(retryAt).toISOString() : null }, 'task held by the gate'),
      onFinished: (task) => void this.report(task),
      onError: (err, task) => this.log.error({ err: err.message, task: task.id }, 'task bookkeeping failed'),
    });
  }

  private get log(): Logger {
    return this.opts.logger;
  }

  static async start(opts: DaemonOptions): Promise<Daemon> {
    const lock = acquireLock(opts.home);
    let d: Daemon;
    try {
      d = new Daemon(opts, lock);
    } catch (e) {
      lock.release();
      throw damagedAsOneLine(e, opts.home);
    }
    try {
      await d.recoverAndWatch();
    } catch (e) {
      await d.stop('start failed');
      throw damagedAsOneLine(e, opts.home);
    }
    return d;
  }

  /** Resolves once every repository's watcher is indexed and live (the control socket answers meanwhile). */
  get watching(): Promise<void> {
    return this.watchingAll;
  }

  private async recoverAndWatch(): Promise<void> {
    const now = new Date().toISOString();
    this.convertToIncrementalVacuum();
    this.events.count(); // counted once here, so status never counts a big table
    await recoverAfterStop({
      db: this.db,
      model: this.model,
      tasks: this.tasks,
      approvals: this.approvals,
      log: this.log,
      onInterrupted: (t) => {
        this.commands.stopOrphaned(t);
        this.reporter.interrupted(t);
      },
    });
    this.expiry = startApprovalExpiry(this.approvals, this.log);
    const shownAgain = this.proposalNotifier ? this.agents.announcePending() : 0;
    if (shownAgain) this.log.info({ count: shownAgain }, 'proposals still waiting shown again');
    for (const r of this.opts.repos) this.repoStore.setWatched(r, true, now);
    // Sources start now; indexing finishes in the background so `status` answers "indexing" meanwhile.
    const indexing: Promise<void>[] = [];
    for (const r of this.repoStore.watched()) {
      if (!fs.existsSync(r)) {
        this.log.warn({ repo: r }, 'watched repository no longer exists; skipping');
        continue;
      }
      indexing.push(this.addRepo(r).catch((e: Error) => this.log.error({ repo: r, err: e.message }, 'could not watch repository')));
    }
    this.watchingAll = Promise.all(indexing).then(() => {
      this.indexing = false;
      this.log.info({ repos: [...this.repos.keys()] }, 'ready');
    });
    // Agent worktrees of tasks that are no longer running leaked with the crash: remove them.
    const onFailure = (f: { repo: string; taskId?: string; err: unknown }): void =>
      this.log.warn({ repo: f.repo, task: f.taskId, err: messageOf(f.err) }, 'could not remove a leftover agent worktree; the next start tries again');
    const leaked = await reconcileWorktrees({ home: this.opts.home, repos: [...this.repos.keys()], liveTaskIds: [], onFailure }).catch((e: Error) => {
      this.log.warn({ err: e.message }, 'could not reconcile agent worktrees');
      return [];
    });
    if (leaked.length) this.log.warn({ count: leaked.length }, 'removed agent worktrees left by the last stop');
    // Settled batches whose task never started run now; events stored but never settled are replayed.
    for (const t of this.tasks.queued()) this.runner.enqueue(t.id);
    const unsettled = this.events.unsettled().filter((e) => this.repos.has(e.repo));
    if (unsettled.length) {
      this.log.info({ count: unsettled.length }, 'replaying events stored before the last stop');
      this.settler.add(unsettled);
    }
    this.ambient.start();
    this.retention.start();
    this.policyWatch = watchPolicyFiles(this.opts.home, () => this.reload(), this.log);
    if (!this.model.modelStepsEnabled) this.log.warn(this.model.disabledReason ?? 'model steps are off');
    const grammar = shellGrammarStatus();
    if (!grammar.ok) this.log.warn(`${grammar.error}: every agent command will wait for approval (reinstall kairos to restore it)`);
    this.reporter.daily(this.audit.anchor());
  }

  async addRepo(repo: string): Promise<void> {
    if (this.repos.has(repo)) return;
    this.repoStore.setWatched(repo, true, new Date().toISOString());
    const policy = resolveRepoPolicy(this.db, this.userPolicy, repo);
    this.reporter.policyProblems(repo, policy);
    const entry: WatchedRepo = { path: repo, policy, gitOperation: null, cron: undefined, watch: undefined as unknown as RepoWatch };
    this.repos.set(repo, entry);
    try {
      entry.watch = this.watchRepo(repo, entry);
    } catch (e) {
      this.repos.delete(repo);
      throw e;
    }
    try {
      await entry.watch.ready;
    } catch (e) {
      // Listed with its failed watcher (status shows the reason) rather than dropped silently.
      this.log.error({ repo, err: messageOf(e) }, 'watcher failed');
      return;
    }
    if (this.repos.get(repo) !== entry || this.stopping) return; // removed, or stopping, while it indexed
    // The baseline for the next start, even when nothing changed this time.
    this.repoStore.saveGitState(repo, entry.watch.gitSnapshot());
    entry.cron = startRepoCron(entry.path, entry.policy, this.db, this.log, (d) => void this.ingest([d]));
    this.log.info({ repo, trust: policy.trust, triggers: enabledTriggers(policy).map((t) => t.name), watcher: entry.watch.status().engine }, 'watching');
    if (policy.trust === 'untrusted') this.log.info({ repo }, `not trusted: agent work here is read-only until 'kairos trust ${repo}'`);
  }

  private watchRepo(repo: string, entry: WatchedRepo): RepoWatch {
    const policy = entry.policy;
    return watchRepo({
      repo,
      ignore: policy.policy.ignore ?? [],
      lastGitState: () => this.repoStore.gitState(repo),
      snapshotDir: path.join(this.opts.home, 'watch'),
      env: this.opts.env,
      log: this.log,
      onEvents: (drafts) => this.ingest(drafts),
      onGitEvents: (drafts, snapshot) => this.ingest(drafts, () => this.repoStore.saveGitState(repo, snapshot)),
      onGitOperation: (op) => {
        for (const s of [this.settler, this.fileChanges]) {
          if (op) s.hold(repo, 'git');
          else s.release(repo, 'git');
        }
        entry.gitOperation = op;
      },
      onStorm: (active) => {
        for (const s of [this.settler, this.fileChanges]) {
          if (active) s.hold(repo, 'storm');
          else s.release(repo, 'storm');
        }
      },
      isOwnBranch: (branch) => branch.startsWith('kairos/'),
      onError: (err, source) => this.log.error({ repo, source, err: err.message }, 'watcher error'),
      isOwnWrite: (rel) => this.ownWrites.has(repo, rel),
    });
  }

  async removeRepo(repo: string): Promise<boolean> {
    const r = this.repos.get(repo);
    if (!r) return false;
    this.repos.delete(repo);
    r.cron?.stop();
    this.settler.dropRepo(repo);
    this.fileChanges.dropRepo(repo);
    await r.watch.close();
    this.repoStore.setWatched(repo, false, new Date().toISOString());
    return true;
  }

  /** Re-reads the user's and every repository's policy; an invalid user policy keeps the old one. */
  reload(): { ok: boolean; error?: string } {
    const at = new Date();
    try {
      this.userPolicy = this.withPlugins(loadUserPolicy(this.opts.home));
    } catch (e) {
      const error = messageOf(e);
      // Said once per distinct error: an editor saving the same broken file twice is not news.
      if (this.lastReload?.error !== error) this.reporter.policyReloadFailed(error);
      this.lastReload = { ok: false, error, at: at.toISOString() };
      this.audit.record({ repo: ALL_REPOS, origin: 'user', action: { type: 'reload', detail: 'user policy' } }, { validate: { decision: 'deny', reason: `invalid, the previous policy stays: ${error}` } });
      return { ok: false, error };
    }
    if (this.lastReload && !this.lastReload.ok) this.reporter.policyReloadFixed();
    this.policyLoadedAt = at;
    this.lastReload = { ok: true, error: null, at: at.toISOString() };
    this.log.info({ triggers: this.userPolicy.triggers.map((t) => t.name) }, 'policy reloaded');
    this.audit.record({ repo: ALL_REPOS, origin: 'user', action: { type: 'reload', detail: 'user policy' } }, { validate: { decision: 'allow', reason: 'the user policy parsed' } });
    for (const r of this.repos.values()) {
      r.policy = resolveRepoPolicy(this.db, this.userPolicy, r.path);
      auditRepoPolicy(this.audit, r.path, r.policy, 'reload');
      this.reporter.policyProblems(r.path, r.policy);
      r.cron?.stop();
      r.cron = startRepoCron(r.path, r.policy, this.db, this.log, (d) => void this.ingest([d]));
    }
    this.ambient.restartDream();
    this.hooks.reset();
    this.runner.retryDeferred();
    return { ok: true };
  }

  /**
   * Every event is stored before the pipeline sees it. `alsoInTransaction` commits with the events
   * (the git state they lead to), so a crash cannot store one without the other.
   */
  ingest(drafts: readonly unknown[], alsoInTransaction?: () => void): StoredEvent[] {
    const valid: EventDraft[] = [];
    for (const d of drafts) {
      const parsed = EventDraft.safeParse(d);
      if (parsed.success) valid.push(parsed.data);
      else this.log.error({ event: d, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'invalid event dropped');
    }
    // Empty while the disk is full: the events are held and reach afterStored once written.
    const stored = this.guard.write(valid, alsoInTransaction);
    this.afterStored(stored);
    return stored;
  }

  private afterStored(stored: StoredEvent[]): void {
    for (const e of stored) if (e.type.startsWith('file.') && e.origin === 'user') this.lastUserEdit.set(e.repo, new Date(e.at));
    for (const repo of new Set(stored.filter(touchesTrust).map((e) => e.repo))) this.refreshPolicy(repo, 'a git or policy file event');
    this.ambient.noteEvents(stored);
    if (stored.length) {
      this.settler.add(stored);
      this.fileChanges.add(stored);
    }
  }

  /**
   * A trusted plugin whose files changed since its trust loses its allow rules before anything
   * else runs under them, even when no watcher saw the change: reloads, and returns true, then.
   */
  private recheckPluginTrust(): boolean {
    const stale = this.pluginReport.plugins.some((p) => p.trust === 'trusted' && pluginTrustStatus(this.db, p.dir) !== 'trusted');
    if (!stale) return false;
    if (!this.reload().ok) {
      // The policy file is broken just now: the plugins are applied again to the policy in force.
      this.userPolicy = this.withPlugins(this.policyWithoutPlugins);
      for (const r of this.repos.values()) r.policy = resolveRepoPolicy(this.db, this.userPolicy, r.path);
    }
    return true;
  }

  /** The user's policy with their plugins' triggers, rules and MCP servers; what was refused is kept for status. */
  private withPlugins(policy: Policy): Policy {
    this.policyWithoutPlugins = policy;
    const r = loadPluginPolicy(policy, this.opts.home, this.opts.logger, this.db);
    this.pluginReport = r.report;
    return r.policy;
  }

  /** A poke's note through the UserPromptSubmit hooks (the repository's, or the user's own without one). */
  submitNote(repo: string | undefined, note: string): Promise<{ blocked: string } | { note: string }> {
    return this.hooks.userPromptSubmit(repo, note);
  }

  poke(repo: string | undefined, note: string | undefined, trigger: string | undefined): StoredEvent[] {
    const targets = pokeTargets(new Map([...this.repos].map(([k, r]) => [k, r.policy.policy])), repo, trigger);
    const at = new Date().toISOString();
    const stored = this.ingest(targets.map((r) => ({ type: 'manual', repo: r, at, origin: 'user', data: { ...(note ? { note } : {}), ...(trigger ? { trigger } : {}) } })));
    // A poke no trigger takes is the user asking Kairos itself to look, now.
    for (const e of stored) {
      const manualTrigger = this.repos.get(e.repo)?.policy.policy.triggers.some((t) => t.enabled && t.on.manual);
      if (!trigger && !manualTrigger) this.ambient.offerPoke(e, note);
    }
    return stored;
  }

  status(): Record<string, unknown> {
    this.recheckPluginTrust();
    const pause = pauseStatus(this.db);
    const moneyPause = this.model.paused() ?? null;
    // Held: what the runner holds now (a row's hold can be stale for a moment after a resume, while the task waits for a free slot).
    const deferred = new Set(this.runner.deferredTaskIds());
    return {
      pid: process.pid,
      home: this.opts.home,
      started_at: this.startedAt.toISOString(),
      model_steps: {
        enabled: this.model.modelStepsEnabled,
        reason: this.model.modelStepsEnabled ? 'ANTHROPIC_API_KEY is set' : this.model.disabledReason,
        paused: moneyPause,
        state: !this.model.modelStepsEnabled ? 'off' : pause.paused ? 'paused' : moneyPause ? 'budget' : 'on',
      },
      state: this.indexing ? 'indexing' : 'ready',
      repos: [...this.repos.values()].map((r) => (this.refreshPolicy(r.path, 'status'), { ...repoStatus(r), memory: memoryStatus(this.db, this.opts.home, r.path) })),
      dream: dreamStatus(this.userPolicy, Date.now()),
      pending: this.settler.pending(),
      running: this.runner.runningTaskIds(),
      queued: this.tasks.queued().map((t) => t.id),
      held: this.runner.deferredTaskIds(),
      ambient: this.ambient.pending(),
      paused: pause.paused,
      pause,
      held_tasks: this.tasks.held().filter((t) => deferred.has(t.id)),
      spend: spendReport(this.db, this.userPolicy.budget, Date.now()),
      events: this.events.count(),
      store: this.guard.health(),
      policy: { loaded_at: this.policyLoadedAt.toISOString(), last_reload: this.lastReload },
      plugins: this.pluginReport,
    };
  }

  /** Runs the retention prune now (the control method `prune`; it also runs on its own schedule). */
  prune(): Promise<RetentionRun> {
    return this.retention.run();
  }

  /** A store made before incremental vacuum is rewritten once, at start, before anything is watched. */
  private convertToIncrementalVacuum(): void {
    const t0 = Date.now();
    try {
      if (ensureIncrementalVacuum(this.db) === 'converted') this.log.info({ ms: Date.now() - t0 }, 'store converted to incremental vacuum (once)');
    } catch (e) {
      this.log.warn({ err: messageOf(e) }, 'could not convert the store to incremental vacuum (needs free disk as large as the store); tried again at the next start');
    }
  }

  /** Never rejects. `unwritten`: events held in memory (disk full) that could not be written before exit. */
  stop(reason: string): Promise<{ unwritten: number; errors: string[] }> {
    this.stopping ??= this.shutdown(reason);
    return this.stopping;
  }

  /** Every step runs even when one before it failed (a full disk, a watcher that will not close). */
  private async shutdown(reason: string): Promise<{ unwritten: number; errors: string[] }> {
    this.log.info({ reason }, 'stopping');
    const errors: string[] = [];
    const step = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        errors.push(`${what}: ${messageOf(e)}`);
        this.log.error({ err: messageOf(e) }, `stopping: ${what} failed`);
      }
    };
    this.policyWatch?.close();
    await step('settle', () => this.settler.stop());
    await step('file changes', () => this.fileChanges.stop());
    await step('ambient', () => this.ambient.stop());
    await step('retention', () => this.retention.stop());
    await step('notifications', () => this.proposalNotifier?.close());
    this.expiry?.stop();
    for (const r of this.repos.values()) await step('cron', () => r.cron?.stop());
    await Promise.allSettled([...this.repos.values()].map((r) => r.watch?.close()));
    // Give running commands a moment, then stop them; they are recorded as interrupted, not lost.
    await step('tasks', () => this.runner.stop(3000));
    await step('commands', () => this.commands.stopAll());
    let unwritten = 0;
    await step('held events', () => (unwritten = this.guard.stop()));
    if (unwritten) this.log.error({ unwritten }, `${unwritten} events held in memory could not be written (disk still full); they are lost with this process`);
    await step('interrupted tasks', () => this.tasks.interruptRunning(new Date().toISOString()));
    await step('audit anchor', () => this.reporter.daily(this.audit.anchor()));
    // Held notifications are shown, not lost, when the daemon stops.
    await step('notifications', async () => {
      this.batching.flush();
      await this.batching.settled();
    });
    await step('store', () => this.db.close());
    this.lock.release();
    this.log.info('stopped');
    return { unwritten, errors };
  }

  /** The trigger a task runs under: its policy trigger, or the instruction ambient triage gave it. */
  private triggerOf(task: TaskRow): Trigger | undefined {
    if (task.trigger === AMBIENT_TRIGGER) return ambientTaskTrigger(task);
    const r = this.repos.get(task.repo);
    return r && enabledTriggers(r.policy).find((t) => t.name === task.trigger);
  }

  /** After `kairos resume`, held tasks get another look. (Decisions reach hooks, logs and notifications through DecisionFollowUp.) */
  onApprovalsChanged(change: { type: string; approval?: Record<string, unknown> }): void {
    if (change.type === 'resumed') this.runner.retryDeferred();
  }

  private markOwnWrites(repo: string, paths: readonly string[]): void {
    for (const p of paths) this.ownWrites.mark(repo, p);
  }

  private gate(task: TaskRow): StartGate {
    const r = this.repos.get(task.repo);
    if (!r) return { go: true };
    this.refreshPolicy(task.repo, `task ${task.id} starting`);
    return gateTaskStart(task, { ...this.startContext(r, task), tasks: this.tasks, lastUserEdit: this.lastUserEdit.get(task.repo), paused: isPaused(this.db) });
  }

  /** A trigger's command, through the layers right before it runs: trust is read from disk again now. */
  private checkRun(task: TaskRow, command: string): ReturnType<typeof evaluateRunStep> {
    const r = this.repos.get(task.repo);
    if (r) this.refreshPolicy(task.repo, `task ${task.id} running`);
    const poked = task.batch_id !== null && this.tasks.batchHasPoke(task.batch_id);
    const policy = r ? this.startContext(r, task) : { policy: this.userPolicy, trust: 'untrusted' as const, fromRepo: true, audit: this.audit, kairosHome: this.opts.home };
    return evaluateRunStep(task, command, { ...policy, paused: isPaused(this.db) && !poked });
  }

  private startContext(r: WatchedRepo, task: TaskRow) {
    // A trigger is the repository's own unless the user's policy (with plugins) has it; ambient tasks are Kairos's.
    const fromRepo = task.trigger !== AMBIENT_TRIGGER && !this.userPolicy.triggers.some((t) => t.name === task.trigger);
    return { policy: r.policy.policy, trust: r.policy.trust, fromRepo, audit: this.audit, kairosHome: this.opts.home };
  }

  /**
   * Re-reads one repository's policy and trust (after a git event, a policy file event, before a
   * task, for status). Triggers, cron and status follow a change; a change of trust is logged and
   * audited. Cheap: one small YAML file and the sha256 of the pinned files.
   */
  private refreshPolicy(repo: string, why: string): void {
    const r = this.repos.get(repo);
    if (!r) return;
    const next = resolveRepoPolicy(this.db, this.userPolicy, repo);
    if (!policyChanged(r.policy, next)) return;
    const before = r.policy;
    r.policy = next;
    if (before.trust !== next.trust) {
      this.log.warn({ repo, from: before.trust, to: next.trust, why }, 'repository trust changed');
      auditRepoPolicy(this.audit, repo, next, why);
    }
    this.reporter.policyProblems(repo, next);
    r.cron?.stop();
    r.cron = startRepoCron(r.path, r.policy, this.db, this.log, (d) => void this.ingest([d]));
  }

  private cooldownUntil(repo: string, t: Trigger): number {
    if (!t.cooldown) return 0;
    const last = this.tasks.lastStarted(repo, t.name);
    return last?.started_at ? Date.parse(last.started_at) + parseDuration(t.cooldown) : 0;
  }

  /** A settled batch is stored before its task runs; with the disk full, it waits behind the held events. */
  private onBatch(batch: SettledBatch, settledIds: number[]): void {
    this.guard.run(`batch of ${batch.trigger.name}`, () => this.storeBatch(batch, settledIds));
  }

  private storeBatch(batch: SettledBatch, settledIds: number[]): void {
    const t = batch.trigger;
    const kind = t.run ? 'command' : t.ask ? 'agent' : 'notify';
    const at = new Date().toISOString();
    const { taskId, joined } = this.db.transaction(() => {
      const r = this.tasks.createBatchTask({ repo: batch.repo, trigger: t.name, kind, command: t.run, eventIds: batch.eventIds, paths: batch.paths, at });
      this.events.markSettled(settledIds, at);
      return r;
    })();
    this.log.info({ repo: batch.repo, trigger: t.name, task: taskId, events: batch.eventIds.length, joined }, 'batch settled');
    // Stored first; an EventSettled hook may still drop the run (recorded as skipped, not lost).
    const settled = this.hooks.eventSettled(batch.repo, t.name, batch.paths).catch((e: unknown) => {
      // Hooks that could not run did not block: the task runs, and the log says why no hook had a say.
      this.log.warn({ repo: batch.repo, task: taskId, err: messageOf(e) }, 'EventSettled hooks not run');
      return true;
    });
    void settled.then((go) => {
      if (go) return this.runner.enqueue(taskId);
      recordHookBlock(this.audit, { repo: batch.repo, taskId, trigger: t.name, origin: 'trigger', action: { type: 'task', kind } }, 'EventSettled', 'the settled batch was dropped');
      try {
        this.tasks.move(taskId, 'queued', 'skipped', new Date().toISOString(), { reason: 'dropped by an EventSettled hook' });
      } catch (e) {
        // Already started or joined by a later batch: it runs. Anything else is not that race: logged.
        if (!(e instanceof TaskStateError)) this.log.error({ task: taskId, err: messageOf(e) }, 'could not record the dropped batch');
      }
    }).catch((e: unknown) => this.log.error({ repo: batch.repo, trigger: t.name, task: taskId, err: e instanceof Error ? e.message : String(e) }, 'EventSettled hook step failed'));
  }

  private execute(task: TaskRow): Promise<import('../src/pipeline/runner.js').Execution> {
    const r = this.repos.get(task.repo);
    const trigger = r && this.triggerOf(task);
    // An ambient task's trigger is its stored instruction: unreadable data, not a policy change, is then why it has none.
    if (!r || !trigger) return Promise.resolve({ state: 'failed', reason: task.trigger === AMBIENT_TRIGGER && task.data_problem ? `its stored data is unreadable (${task.data_problem})` : 'its trigger is no longer in the policy' });
    const paths = task.batch_id ? this.tasks.batchPaths(task.batch_id) : [];
    if (task.kind === 'agent' && this.recheckPluginTrust()) return this.execute(task);
    if (task.kind === 'agent') return this.agents.run(task, trigger, r.policy.policy, paths);
    return this.commands.run(task, trigger, r.policy.policy, paths);
  }

  private async report(task: TaskRow): Promise<void> {
    // A click faster than the runner's bookkeeping decided the approval while the task was still running.
    if (task.state === 'proposed') this.db.transaction(() => followTask(this.db, task.id, new Date().toISOString(), 'caught up with its approval, decided while the task was finishing'))();
    const r = this.repos.get(task.repo);
    const trigger = r && this.triggerOf(task);
    await this.reporter.taskFinished(task, trigger, this.tasks.lastFinished(task.repo, task.trigger, task.id));
    const next = trigger && task.kind === 'command' ? this.agents.followUp(task, trigger) : undefined;
    if (next !== undefined) {
      this.log.info({ task: next, after: task.id, trigger: task.trigger }, 'agent task queued to look at the result');
      this.runner.enqueue(next);
    }
  }
}
