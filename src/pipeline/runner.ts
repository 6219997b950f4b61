import type { TaskRow, TaskStore } from '../store/task-store.js';
import { redactText } from '../policy/filter.js';
import { asError, messageOf } from '../core/errors.js';

export interface Execution {
  /** 'proposed': an agent task that ended with a proposal waiting for a human. */
  state: 'done' | 'failed' | 'proposed';
  exit_code?: number | null;
  signal?: string | null;
  duration_ms?: number;
  output?: string;
  reason?: string;
}

/**
 * The gate's answer for starting a task now: go, or wait (until `retryAt`, or until `resume()`), or
 * never (`skip`: the task is recorded as skipped with the reason, e.g. its trigger lost its trust).
 */
export type StartGate = { go: true } | { go: false; reason: string; retryAt?: number; skip?: boolean };

export interface RunnerOptions {
  tasks: TaskStore;
  maxConcurrent: number;
  /** Rate limits, quiet hours, edit back-off, pause: a task that may not start yet stays queued. */
  gate?(task: TaskRow): StartGate;
  onDeferred?(task: TaskRow, reason: string, retryAt: number | undefined): void;
  execute(task: TaskRow): Promise<Execution>;
  onFinished(task: TaskRow): void;
  onError(err: Error, task: TaskRow): void;
  now?: () => string;
}

/**
 * Runs queued tasks: at most `maxConcurrent` at once, and one at a time per trigger and repository,
 * so a slow `npm test` is never raced by its own next run. The queued → running move is a checked
 * transaction; a task someone else already moved is left alone.
 */
export class TaskRunner {
  private readonly waiting: number[] = [];
  private readonly active = new Map<number, { key: string; done: Promise<void> }>();
  /** Tasks the gate held back, with the timer that retries them. */
  private readonly deferred = new Map<number, NodeJS.Timeout | undefined>();
  private stopped = false;
  private readonly now: () => string;

  constructor(private readonly opts: RunnerOptions) {
    this.now = opts.now ?? (() => new Date().toISOString());
  }

  enqueue(taskId: number): void {
    if (this.stopped || this.waiting.includes(taskId) || this.active.has(taskId)) return;
    clearTimeout(this.deferred.get(taskId));
    this.deferred.delete(taskId);
    this.waiting.push(taskId);
    this.pump();
  }

  runningTaskIds(): number[] {
    return [...this.active.keys()];
  }

  deferredTaskIds(): number[] {
    return [...this.deferred.keys()];
  }

  /** Try every held-back task again now (after `kairos resume`, or a policy reload). */
  retryDeferred(): void {
    // A copy: a task held again is set back into `deferred`, and a live key iterator would visit it again, forever.
    // oxlint-disable-next-line unicorn/no-useless-spread -- the copy is the point (above)
    for (const id of [...this.deferred.keys()]) this.enqueue(id);
  }

  /** Stops starting new tasks and waits (bounded) for the running ones. */
  async stop(waitMs: number): Promise<void> {
    this.stopped = true;
    for (const t of this.deferred.values()) clearTimeout(t);
    this.deferred.clear();
    const all = Promise.all([...this.active.values()].map((a) => a.done));
    await Promise.race([all, new Promise((r) => setTimeout(r, waitMs))]);
  }

  private pump(): void {
    if (this.stopped) return;
    const busy = new Set([...this.active.values()].map((a) => a.key));
    for (let i = 0; i < this.waiting.length && this.active.size < this.opts.maxConcurrent; ) {
      const id = this.waiting[i]!;
      const task = this.opts.tasks.get(id);
      if (!task || task.state !== 'queued') {
        this.waiting.splice(i, 1);
        continue;
      }
      const key = `${task.repo}\0${task.trigger}`;
      if (busy.has(key)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      const gate = this.opts.gate?.(task) ?? { go: true };
      if (!gate.go) {
        if (gate.skip) this.skip(task, gate.reason);
        else this.defer(task, gate.reason, gate.retryAt);
        continue;
      }
      busy.add(key);
      this.active.set(id, { key, done: this.run(task) });
    }
  }

  private skip(task: TaskRow, reason: string): void {
    try {
      this.opts.tasks.move(task.id, 'queued', 'skipped', this.now(), { reason });
      this.opts.onFinished(this.opts.tasks.get(task.id)!);
    } catch (e) {
      this.opts.onError(asError(e), task);
    }
  }

  private defer(task: TaskRow, reason: string, retryAt: number | undefined): void {
    const timer = retryAt !== undefined ? setTimeout(() => this.enqueue(task.id), Math.max(0, retryAt - Date.now())) : undefined;
    timer?.unref();
    this.deferred.set(task.id, timer);
    // Kept in the task row: `kairos tasks` and `status` say why it waits and until when, not just "queued".
    try {
      this.opts.tasks.hold(task.id, reason, retryAt !== undefined ? new Date(retryAt).toISOString() : null, this.now());
    } catch (e) {
      this.opts.onError(asError(e), task);
    }
    this.opts.onDeferred?.(task, reason, retryAt);
  }

  private async run(task: TaskRow): Promise<void> {
    try {
      this.opts.tasks.move(task.id, 'queued', 'running', this.now());
    } catch (e) {
      this.active.delete(task.id);
      this.opts.onError(asError(e), task);
      return this.pump();
    }
    let result: Execution;
    try {
      result = await this.opts.execute(task);
    } catch (e) {
      result = { state: 'failed', reason: `internal error: ${messageOf(e)}` };
    }
    try {
      if (!this.stopped || this.opts.tasks.get(task.id)?.state === 'running') {
        const { state, ...finish } = result;
        // The store outlives the task and is shown by `kairos tasks`, MCP and reports: a command's
        // output and the task's reason are kept with secrets redacted.
        if (finish.output !== undefined) finish.output = redactText(finish.output);
        if (finish.reason !== undefined) finish.reason = redactText(finish.reason);
        this.opts.tasks.move(task.id, 'running', state, this.now(), finish);
        this.opts.onFinished(this.opts.tasks.get(task.id)!);
      }
    } catch (e) {
      this.opts.onError(asError(e), task);
    }
    this.active.delete(task.id);
    this.pump();
  }
}
