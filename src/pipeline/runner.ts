import type { TaskRow, TaskStore } from '../store/task-store.js';

export interface Execution {
  /** 'proposed': an agent task that ended with a proposal waiting for a human. */
  state: 'done' | 'failed' | 'proposed';
  exit_code?: number | null;
  signal?: string | null;
  duration_ms?: number;
  output?: string;
  reason?: string;
}

export interface RunnerOptions {
  tasks: TaskStore;
  maxConcurrent: number;
  execute(task: TaskRow): Promise<Execution>;
  onFinished(task: TaskRow): void;
  onError(err: Error, task: TaskRow): void;
  now?(): string;
}

/**
 * Runs queued tasks: at most `maxConcurrent` at once, and one at a time per trigger and repository,
 * so a slow `npm test` is never raced by its own next run. The queued → running move is a checked
 * transaction; a task someone else already moved is left alone.
 */
export class TaskRunner {
  private readonly waiting: number[] = [];
  private readonly active = new Map<number, { key: string; done: Promise<void> }>();
  private stopped = false;
  private readonly now: () => string;

  constructor(private readonly opts: RunnerOptions) {
    this.now = opts.now ?? (() => new Date().toISOString());
  }

  enqueue(taskId: number): void {
    if (this.stopped || this.waiting.includes(taskId) || this.active.has(taskId)) return;
    this.waiting.push(taskId);
    this.pump();
  }

  runningTaskIds(): number[] {
    return [...this.active.keys()];
  }

  /** Stops starting new tasks and waits (bounded) for the running ones. */
  async stop(waitMs: number): Promise<void> {
    this.stopped = true;
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
      busy.add(key);
      this.active.set(id, { key, done: this.run(task) });
    }
  }

  private async run(task: TaskRow): Promise<void> {
    try {
      this.opts.tasks.move(task.id, 'queued', 'running', this.now());
    } catch (e) {
      this.active.delete(task.id);
      this.opts.onError(e as Error, task);
      return this.pump();
    }
    let result: Execution;
    try {
      result = await this.opts.execute(task);
    } catch (e) {
      result = { state: 'failed', reason: `internal error: ${(e as Error).message}` };
    }
    try {
      if (!this.stopped || this.opts.tasks.get(task.id)?.state === 'running') {
        const { state, ...finish } = result;
        this.opts.tasks.move(task.id, 'running', state, this.now(), finish);
        this.opts.onFinished(this.opts.tasks.get(task.id)!);
      }
    } catch (e) {
      this.opts.onError(e as Error, task);
    }
    this.active.delete(task.id);
    this.pump();
  }
}
