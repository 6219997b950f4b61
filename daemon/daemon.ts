import path from 'node:path';
import type { StoredEvent } from '../src/events/event.js';
import { Settler, STORM_HOLD_CEILING_MS } from '../src/pipeline/settle.js';
import { TaskRunner } from '../src/pipeline/runner.js';
import { AuditLog } from '../src/policy/audit.js';
import { parseDuration } from '../src/policy/duration.js';
import type { Policy } from '../src/policy/schema.js';
import { openDb, storePath, type Db } from '../src/store/db.js';
import { EventStore } from '../src/store/event-store.js';
import { RepoStore } from '../src/store/repo-store.js';
import { TaskStore } from '../src/store/task-store.js';
import { BatchingNotifier } from '../src/report/notify-batch.js';
import { Voice } from '../src/report/speech.js';
import type { Logger } from '../src/report/logger.js';
import { createModelClient, type ModelClient } from '../src/model/client.js';
import { loadPriceTable, readPriceOverrides } from '../src/model/prices.js';
import { detectSandbox } from '../src/policy/sandbox.js';
import { AgentTasks } from './agent-tasks.js';
import type { ApprovalExpiry } from './recovery.js';
import { DaemonHooks } from './daemon-hooks.js';
import { FileChangedBatches } from './file-changed.js';
import type { DbusNotifier } from '../src/report/dbus-notify.js';
import { Ambient, queueAmbientTask } from './ambient.js';
import { ApprovalQueue, proposalActions } from '../src/pipeline/approvals.js';
import { CommandTasks } from './command-tasks.js';
import { desktopNotifiers, Reporter } from './reporter.js';
import { DecisionFollowUp } from './decisions.js';
import { acquireLock, type InstanceLock } from './lock.js';
import { OwnWrites } from './own-writes.js';
import { enabledTriggers } from '../src/policy/effective.js';
import { StoreGuard } from './store-guard.js';
import { RetentionJob, retentionSettings, type RetentionRun } from './retention-job.js';
import type { PolicyWatch } from './policy-watch.js';
import { TaskDispatch } from './task-dispatch.js';
import { EventIntake } from './event-intake.js';
import { PolicyState } from './policy-state.js';
import { RepoWiring, type WatchedRepo } from './repo-wiring.js';
import { damagedAsOneLine, recoverAndWatch, shutdown } from './start-stop.js';
import { daemonStatus } from './daemon-status.js';
import type { DaemonParts } from './daemon-parts.js';

export const DEFAULT_SETTLE_MS = 1500;

export interface DaemonOptions {
  home: string;
  /** Absolute, real paths. Added to those the daemon already watched. */
  repos: string[];
  env: NodeJS.ProcessEnv;
  logger: Logger;
  maxConcurrentTasks?: number;
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
  private stopping: Promise<{ unwritten: number; errors: string[] }> | undefined;
  readonly model: ModelClient;
  readonly agents: AgentTasks;
  readonly approvals: ApprovalQueue;
  readonly ambient: Ambient;
  private readonly hooks: DaemonHooks;
  /** FileChanged hooks' own settling of file changes. */
  private readonly fileChanges: FileChangedBatches;
  /** The user's policy (with their plugins'), its reloads (policy-state.ts). */
  private readonly policy: PolicyState;
  private readonly proposalNotifier: DbusNotifier | null;
  private expiry: ApprovalExpiry | undefined;
  private indexing = true;
  private watchingAll: Promise<void> = Promise.resolve();
  /** Holds events in memory while the store's disk is full. */
  private readonly guard: StoreGuard;
  private readonly retention: RetentionJob;
  private policyWatch: PolicyWatch | undefined;
  /** From a settled batch to a finished task (task-dispatch.ts). */
  private readonly dispatch: TaskDispatch;
  /** Adds, removes and re-reads watched repositories (repo-wiring.ts). */
  private readonly wiring: RepoWiring;
  /** Events in, stored first (event-intake.ts). */
  private readonly intake: EventIntake;
  /** The wired parts, as the roles above and the start/stop sequence and status read them. */
  private readonly parts: DaemonParts;

  private constructor(
    private readonly opts: DaemonOptions,
    lock: InstanceLock,
  ) {
    this.log.info({ home: opts.home }, 'starting');
    // The store first: a plugin's explicit trust is kept there.
    this.db = openDb(storePath(opts.home));
    this.policy = new PolicyState({ home: opts.home, log: opts.logger, db: this.db, parts: () => this.parts });
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
      onStored: (stored) => this.intake.afterStored(stored),
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
    this.commands = new CommandTasks({ tasks: this.tasks, env: opts.env, log: opts.logger, check: (task, command) => this.dispatch.checkRun(task, command) });
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
      notBefore: (repo, t) => this.dispatch.cooldownUntil(repo, t),
      holdCeilingMs: (why) => (why === 'storm' ? Number(opts.env.KAIROS_STORM_CEILING_MS) || STORM_HOLD_CEILING_MS : undefined),
      alreadyBatched: (id, trigger) => this.tasks.triggersHolding(id).has(trigger),
      onBatch: (batch, settled) => this.dispatch.onBatch(batch, settled),
      onSettled: (ids, events) =>
        this.guard.run('settle unmatched events', () => {
          this.events.markSettled(ids, new Date().toISOString());
          this.ambient.offerUnmatched(events);
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
      execute: (task) => this.dispatch.execute(task),
      gate: (task) => this.dispatch.gate(task),
      onDeferred: (task, reason, retryAt) =>
        this.log.info({ task: task.id, trigger: task.trigger, reason, retry_at: retryAt ? new Date(retryAt).toISOString() : null }, 'task held by the gate'),
      onFinished: (task) => void this.dispatch.report(task),
      onError: (err, task) => this.log.error({ err: err.message, task: task.id }, 'task bookkeeping failed'),
    });
    this.parts = {
      home: opts.home,
      startRepos: opts.repos,
      startedAt: this.startedAt,
      env: opts.env,
      log: opts.logger,
      lock,
      db: this.db,
      events: this.events,
      tasks: this.tasks,
      repoStore: this.repoStore,
      audit: this.audit,
      model: this.model,
      approvals: this.approvals,
      agents: this.agents,
      ambient: this.ambient,
      commands: this.commands,
      reporter: this.reporter,
      batching: this.batching,
      proposalNotifier: this.proposalNotifier,
      settler: this.settler,
      fileChanges: this.fileChanges,
      retention: this.retention,
      guard: this.guard,
      hooks: this.hooks,
      ownWrites: this.ownWrites,
      policy: this.policy,
      repos: this.repos,
      lastUserEdit: this.lastUserEdit,
      runner: this.runner,
      userPolicy: () => this.userPolicy,
      addRepo: (repo) => this.addRepo(repo),
      refreshPolicy: (repo, why) => this.refreshPolicy(repo, why),
      ingest: (drafts, alsoInTransaction) => this.ingest(drafts, alsoInTransaction),
      storeEvents: (drafts, alsoInTransaction) => this.intake.storeEvents(drafts, alsoInTransaction),
      stopping: () => this.stopping !== undefined,
      indexing: () => this.indexing,
      indexed: () => {
        this.indexing = false;
      },
      setWatching: (all) => {
        this.watchingAll = all;
      },
      expiry: () => this.expiry,
      setExpiry: (expiry) => {
        this.expiry = expiry;
      },
      policyWatch: () => this.policyWatch,
      setPolicyWatch: (watch) => {
        this.policyWatch = watch;
      },
    };
    this.dispatch = new TaskDispatch(this.parts);
    this.wiring = new RepoWiring(this.parts);
    this.intake = new EventIntake(this.parts);
  }

  private get log(): Logger {
    return this.opts.logger;
  }

  private get userPolicy(): Policy {
    return this.policy.userPolicy;
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
      await recoverAndWatch(d.parts);
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

  addRepo(repo: string): Promise<void> {
    return this.wiring.addRepo(repo);
  }

  removeRepo(repo: string): Promise<boolean> {
    return this.wiring.removeRepo(repo);
  }

  private refreshPolicy(repo: string, why: string): void {
    this.wiring.refreshPolicy(repo, why);
  }

  /** Re-reads the user's and every repository's policy; an invalid user policy keeps the old one. */
  reload(): { ok: boolean; error?: string } {
    return this.policy.reload();
  }

  /** Every event is stored before the pipeline sees it (event-intake.ts). */
  ingest(drafts: readonly unknown[], alsoInTransaction?: () => void): StoredEvent[] {
    return this.intake.ingest(drafts, alsoInTransaction);
  }

  /** A poke's note through the UserPromptSubmit hooks (the repository's, or the user's own without one). */
  submitNote(repo: string | undefined, note: string): Promise<{ blocked: string } | { note: string }> {
    return this.hooks.userPromptSubmit(repo, note);
  }

  poke(repo: string | undefined, note: string | undefined, trigger: string | undefined): StoredEvent[] {
    return this.intake.poke(repo, note, trigger);
  }

  status(): Record<string, unknown> {
    return daemonStatus(this.parts);
  }

  /** Runs the retention prune now (the control method `prune`; it also runs on its own schedule). */
  prune(): Promise<RetentionRun> {
    return this.retention.run();
  }

  /** Never rejects. `unwritten`: events held in memory (disk full) that could not be written before exit. */
  stop(reason: string): Promise<{ unwritten: number; errors: string[] }> {
    this.stopping ??= shutdown(this.parts, reason);
    return this.stopping;
  }

  /** After `kairos resume`, held tasks get another look. (Decisions reach hooks, logs and notifications through DecisionFollowUp.) */
  onApprovalsChanged(change: { type: string; approval?: Record<string, unknown> }): void {
    if (change.type === 'resumed') this.runner.retryDeferred();
  }

  private markOwnWrites(repo: string, paths: readonly string[]): void {
    for (const p of paths) this.ownWrites.mark(repo, p);
  }
}
