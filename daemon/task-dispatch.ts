import type { SettledBatch } from '../src/pipeline/settle.js';
import type { Execution, StartGate } from '../src/pipeline/runner.js';
import { evaluateRunStep, gateTaskStart } from './task-gate.js';
import { recordHookBlock } from '../src/policy/audit.js';
import { parseDuration } from '../src/policy/duration.js';
import type { Trigger } from '../src/policy/schema.js';
import { TaskStateError, type TaskRow } from '../src/store/task-store.js';
import type { Logger } from '../src/report/logger.js';
import { AMBIENT_TRIGGER, ambientTaskTrigger } from './ambient.js';
import { isPaused } from '../src/pipeline/approvals.js';
import { followTask } from '../src/pipeline/task-follow.js';
import { enabledTriggers } from '../src/policy/effective.js';
import type { WatchedRepo } from './repo-wiring.js';
import { messageOf } from '../src/core/errors.js';
import type { DaemonParts } from './daemon-parts.js';

/** What task dispatch uses of the daemon's parts. */
export type TaskDispatchDeps = Pick<
  DaemonParts,
  'repos' | 'lastUserEdit' | 'db' | 'events' | 'tasks' | 'audit' | 'home' | 'log' | 'hooks' | 'guard' | 'reporter' | 'agents' | 'commands' | 'runner' | 'userPolicy' | 'refreshPolicy' | 'policy'
>;

/**
 * From a settled batch to a finished task: the batch is stored as a task, the gate decides when it
 * starts, the trigger's command or agent runs it, and its end is reported (with an agent follow-up).
 */
export class TaskDispatch {
  constructor(private readonly d: TaskDispatchDeps) {}

  private get log(): Logger {
    return this.d.log;
  }

  /** The trigger a task runs under: its policy trigger, or the instruction ambient triage gave it. */
  private triggerOf(task: TaskRow): Trigger | undefined {
    if (task.trigger === AMBIENT_TRIGGER) return ambientTaskTrigger(task);
    const r = this.d.repos.get(task.repo);
    return r && enabledTriggers(r.policy).find((t) => t.name === task.trigger);
  }

  gate(task: TaskRow): StartGate {
    const r = this.d.repos.get(task.repo);
    if (!r) return { go: true };
    this.d.refreshPolicy(task.repo, `task ${task.id} starting`);
    return gateTaskStart(task, { ...this.startContext(r, task), tasks: this.d.tasks, lastUserEdit: this.d.lastUserEdit.get(task.repo), paused: isPaused(this.d.db) });
  }

  /** A trigger's command, through the layers right before it runs: trust is read from disk again now. */
  checkRun(task: TaskRow, command: string): ReturnType<typeof evaluateRunStep> {
    const r = this.d.repos.get(task.repo);
    if (r) this.d.refreshPolicy(task.repo, `task ${task.id} running`);
    const poked = task.batch_id !== null && this.d.tasks.batchHasPoke(task.batch_id);
    const policy = r ? this.startContext(r, task) : { policy: this.d.userPolicy(), trust: 'untrusted' as const, fromRepo: true, audit: this.d.audit, kairosHome: this.d.home };
    return evaluateRunStep(task, command, { ...policy, paused: isPaused(this.d.db) && !poked });
  }

  private startContext(r: WatchedRepo, task: TaskRow) {
    // A trigger is the repository's own unless the user's policy (with plugins) has it; ambient tasks are Kairos's.
    const fromRepo = task.trigger !== AMBIENT_TRIGGER && !this.d.userPolicy().triggers.some((t) => t.name === task.trigger);
    return { policy: r.policy.policy, trust: r.policy.trust, fromRepo, audit: this.d.audit, kairosHome: this.d.home };
  }

  cooldownUntil(repo: string, t: Trigger): number {
    if (!t.cooldown) return 0;
    const last = this.d.tasks.lastStarted(repo, t.name);
    return last?.started_at ? Date.parse(last.started_at) + parseDuration(t.cooldown) : 0;
  }

  /** A settled batch is stored before its task runs; with the disk full, it waits behind the held events. */
  onBatch(batch: SettledBatch, settledIds: number[]): void {
    this.d.guard.run(`batch of ${batch.trigger.name}`, () => this.storeBatch(batch, settledIds));
  }

  private storeBatch(batch: SettledBatch, settledIds: number[]): void {
    const t = batch.trigger;
    const kind = t.run ? 'command' : t.ask ? 'agent' : 'notify';
    const at = new Date().toISOString();
    const { taskId, joined } = this.d.db.transaction(() => {
      const r = this.d.tasks.createBatchTask({ repo: batch.repo, trigger: t.name, kind, command: t.run, eventIds: batch.eventIds, paths: batch.paths, at });
      this.d.events.markSettled(settledIds, at);
      return r;
    })();
    this.log.info({ repo: batch.repo, trigger: t.name, task: taskId, events: batch.eventIds.length, joined }, 'batch settled');
    // Stored first; an EventSettled hook may still drop the run (recorded as skipped, not lost).
    const settled = this.d.hooks.eventSettled(batch.repo, t.name, batch.paths).catch((e: unknown) => {
      // Hooks that could not run did not block: the task runs, and the log says why no hook had a say.
      this.log.warn({ repo: batch.repo, task: taskId, err: messageOf(e) }, 'EventSettled hooks not run');
      return true;
    });
    void settled.then((go) => {
      if (go) return this.d.runner.enqueue(taskId);
      recordHookBlock(this.d.audit, { repo: batch.repo, taskId, trigger: t.name, origin: 'trigger', action: { type: 'task', kind } }, 'EventSettled', 'the settled batch was dropped');
      try {
        this.d.tasks.move(taskId, 'queued', 'skipped', new Date().toISOString(), { reason: 'dropped by an EventSettled hook' });
      } catch (e) {
        // Already started or joined by a later batch: it runs. Anything else is not that race: logged.
        if (!(e instanceof TaskStateError)) this.log.error({ task: taskId, err: messageOf(e) }, 'could not record the dropped batch');
      }
    }).catch((e: unknown) => this.log.error({ repo: batch.repo, trigger: t.name, task: taskId, err: e instanceof Error ? e.message : String(e) }, 'EventSettled hook step failed'));
  }

  execute(task: TaskRow): Promise<Execution> {
    const r = this.d.repos.get(task.repo);
    const trigger = r && this.triggerOf(task);
    // An ambient task's trigger is its stored instruction: unreadable data, not a policy change, is then why it has none.
    if (!r || !trigger) return Promise.resolve({ state: 'failed', reason: task.trigger === AMBIENT_TRIGGER && task.data_problem ? `its stored data is unreadable (${task.data_problem})` : 'its trigger is no longer in the policy' });
    const paths = task.batch_id ? this.d.tasks.batchPaths(task.batch_id) : [];
    if (task.kind === 'agent' && this.d.policy.recheckPluginTrust()) return this.execute(task);
    if (task.kind === 'agent') return this.d.agents.run(task, trigger, r.policy.policy, paths);
    return this.d.commands.run(task, trigger, r.policy.policy, paths);
  }

  async report(task: TaskRow): Promise<void> {
    // A click faster than the runner's bookkeeping decided the approval while the task was still running.
    if (task.state === 'proposed') this.d.db.transaction(() => followTask(this.d.db, task.id, new Date().toISOString(), 'caught up with its approval, decided while the task was finishing'))();
    const r = this.d.repos.get(task.repo);
    const trigger = r && this.triggerOf(task);
    await this.d.reporter.taskFinished(task, trigger, this.d.tasks.lastFinished(task.repo, task.trigger, task.id));
    const next = trigger && task.kind === 'command' ? this.d.agents.followUp(task, trigger) : undefined;
    if (next !== undefined) {
      this.log.info({ task: next, after: task.id, trigger: task.trigger }, 'agent task queued to look at the result');
      this.d.runner.enqueue(next);
    }
  }
}
