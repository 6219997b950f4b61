import type { Db } from './db.js';
import { mergeTaskData, readTaskData, type TaskData, type TaskDataPatch } from './task-data.js';
import { canMove, type TaskState } from './task-states.js';
import { z } from 'zod';
import { StoreError } from '../core/errors.js';

export interface TaskRow {
  id: number;
  repo: string;
  trigger: string;
  kind: string;
  batch_id: number | null;
  state: TaskState;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  command: string | null;
  exit_code: number | null;
  signal: string | null;
  duration_ms: number | null;
  output: string | null;
  reason: string | null;
  /** The task's JSON, parsed once as it is read (see task-data.ts); keys that failed to parse are left out. */
  data: TaskData;
  /** Why part of the stored JSON was left out of `data` (null: all of it is there). The stored text is kept as it is. */
  data_problem: string | null;
  /** Why the gate holds this queued task, until when (null: until resumed) and since when; null once it starts. */
  held_reason: string | null;
  held_until: string | null;
  held_since: string | null;
}

/** A queued task the gate holds, as `status` shows it. */
export interface HeldTask {
  id: number;
  repo: string;
  trigger: string;
  reason: string;
  until: string | null;
  since: string;
}

/** A row as SQLite returns it: `data` still text. */
type StoredTaskRow = Omit<TaskRow, 'data' | 'data_problem'> & { data: string };

/** `batches.paths`: the JSON array of the batch's paths, as createBatchTask writes it. */
const BatchPaths = z.array(z.string());

/** Told once per task (per store) when a row's JSON did not fully parse; the daemon logs it. */
export type BadTaskData = (taskId: number, problem: string) => void;

export class TaskStateError extends StoreError {
  override name = 'TaskStateError';
}

export interface NewBatch {
  repo: string;
  trigger: string;
  kind: 'command' | 'notify' | 'agent';
  command?: string | undefined;
  eventIds: readonly number[];
  paths: readonly string[];
  at: string;
}

export interface TaskFinish {
  exit_code?: number | null;
  signal?: string | null;
  duration_ms?: number;
  output?: string;
  reason?: string;
}

/** Tasks and the batches that caused them. Every state change is one transaction, checked against task-states.ts. */
export class TaskStore {
  private readonly reported = new Set<number>();

  constructor(
    private readonly db: Db,
    private readonly onBadData?: BadTaskData,
  ) {}

  /**
   * Records a settled batch and the task it fires, in one transaction. When a task of the same trigger
   * is still queued (not started), the batch joins it instead: the pending run will see every path.
   */
  createBatchTask(b: NewBatch): { taskId: number; batchId: number; joined: boolean } {
    return this.db.transaction(() => {
      const queued = this.db
        .prepare<[string, string], { id: number; batch_id: number | null }>("SELECT id, batch_id FROM tasks WHERE repo = ? AND trigger = ? AND state = 'queued' ORDER BY id LIMIT 1")
        .get(b.repo, b.trigger);
      const insEv = this.db.prepare('INSERT OR IGNORE INTO batch_events (batch_id, event_id, trigger) VALUES (?, ?, ?)');
      if (queued?.batch_id != null) {
        const paths = new Set<string>(this.batchPaths(queued.batch_id));
        for (const p of b.paths) paths.add(p);
        for (const id of b.eventIds) insEv.run(queued.batch_id, id, b.trigger);
        this.db
          .prepare('UPDATE batches SET paths = ?, event_count = (SELECT count(*) FROM batch_events WHERE batch_id = ?) WHERE id = ?')
          .run(JSON.stringify([...paths].sort()), queued.batch_id, queued.batch_id);
        return { taskId: queued.id, batchId: queued.batch_id, joined: true };
      }
      const batchId = Number(
        this.db
          .prepare('INSERT INTO batches (repo, trigger, created_at, event_count, paths) VALUES (?, ?, ?, ?, ?)')
          .run(b.repo, b.trigger, b.at, b.eventIds.length, JSON.stringify([...new Set(b.paths)].sort())).lastInsertRowid,
      );
      for (const id of b.eventIds) insEv.run(batchId, id, b.trigger);
      const taskId = Number(
        this.db
          .prepare(
            "INSERT INTO tasks (repo, trigger, kind, batch_id, state, created_at, command) VALUES (?, ?, ?, ?, 'queued', ?, ?)",
          )
          .run(b.repo, b.trigger, b.kind, batchId, b.at, b.command ?? null).lastInsertRowid,
      );
      this.logTransition(taskId, null, 'queued', b.at, null);
      return { taskId, batchId, joined: false };
    })();
  }

  /**
   * A task that follows another: an agent asked to look at a failed command (same batch), or a
   * trigger's command run again after its proposal was applied (`after_apply: rerun`).
   */
  createFollowUp(f: { repo: string; trigger: string; kind: 'agent' | 'command'; command?: string; batchId: number | null; at: string; data: TaskDataPatch }): number {
    return this.db.transaction(() => {
      const id = Number(
        this.db
          .prepare("INSERT INTO tasks (repo, trigger, kind, batch_id, state, created_at, command, data) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?)")
          .run(f.repo, f.trigger, f.kind, f.batchId, f.at, f.command ?? null, JSON.stringify(f.data)).lastInsertRowid,
      );
      this.logTransition(id, null, 'queued', f.at, null);
      return id;
    })();
  }

  /** Triggers that already hold this event in a batch (so a replay does not batch it twice). */
  triggersHolding(eventId: number): Set<string> {
    const rows = this.db.prepare<[number], { trigger: string }>('SELECT trigger FROM batch_events WHERE event_id = ?').all(eventId);
    return new Set(rows.map((r) => r.trigger));
  }

  /** Moves a task from exactly `from` to `to`; throws if another actor moved it first. */
  move(id: number, from: TaskState, to: TaskState, at: string, finish: TaskFinish = {}): void {
    if (!canMove(from, to)) throw new TaskStateError(`task ${id}: ${from} → ${to} is not a legal move`);
    this.db.transaction(() => {
      const sets = ['state = @to'];
      // A task that leaves the queue is no longer held by anything.
      if (from === 'queued') sets.push('held_reason = NULL', 'held_until = NULL', 'held_since = NULL');
      if (to === 'running') sets.push('started_at = @at');
      if (to !== 'running') sets.push('finished_at = CASE WHEN @final THEN @at ELSE finished_at END');
      for (const k of ['exit_code', 'signal', 'duration_ms', 'output', 'reason'] as const) {
        if (finish[k] !== undefined) sets.push(`${k} = @${k}`);
      }
      const res = this.db.prepare(`UPDATE tasks SET ${sets.join(', ')} WHERE id = @id AND state = @from`).run({
        id,
        from,
        to,
        at,
        final: to === 'running' || to === 'proposed' || to === 'approved' ? 0 : 1,
        exit_code: finish.exit_code ?? null,
        signal: finish.signal ?? null,
        duration_ms: finish.duration_ms ?? null,
        output: finish.output ?? null,
        reason: finish.reason ?? null,
      });
      if (res.changes !== 1) {
        const now = this.get(id);
        throw new TaskStateError(`task ${id}: expected state '${from}', found '${now?.state ?? 'missing'}'`);
      }
      this.logTransition(id, from, to, at, finish.reason ?? null);
    })();
  }

  /** After a crash: a task caught running was interrupted; it is recorded, never silently re-run. */
  interruptRunning(at: string): TaskRow[] {
    return this.db.transaction(() => {
      const running = this.rows(this.db.prepare<[], StoredTaskRow>("SELECT * FROM tasks WHERE state = 'running'").all());
      for (const t of running) {
        this.move(t.id, 'running', 'interrupted', at, { reason: 'the daemon stopped while this task was running' });
      }
      return running;
    })();
  }

  /** Merges keys into the task's JSON `data` (e.g. the pid of its command, for crash recovery). */
  patchData(id: number, patch: TaskDataPatch): void {
    this.db.transaction(() => {
      const row = this.db.prepare<[number], { data: string }>('SELECT data FROM tasks WHERE id = ?').get(id);
      if (!row) return;
      // Merged into the stored text, not the parsed view: keys this version cannot read survive a patch.
      this.db.prepare('UPDATE tasks SET data = ? WHERE id = ?').run(mergeTaskData(row.data, patch), id);
    })();
  }

  /**
   * Records that the gate holds a queued task: why and until when (null: until `kairos resume`).
   * `held_since` keeps the first hold, so a task held all night says since when. No-op once started.
   */
  hold(id: number, reason: string, until: string | null, at: string): void {
    this.db
      .prepare("UPDATE tasks SET held_reason = ?, held_until = ?, held_since = COALESCE(held_since, ?) WHERE id = ? AND state = 'queued'")
      .run(reason, until, at, id);
  }

  /** Queued tasks the gate holds, oldest first. */
  held(): HeldTask[] {
    const rows = this.db
      .prepare<[], { id: number; repo: string; trigger: string; held_reason: string; held_until: string | null; held_since: string }>(
        "SELECT id, repo, trigger, held_reason, held_until, held_since FROM tasks WHERE state = 'queued' AND held_reason IS NOT NULL ORDER BY id",
      )
      .all();
    return rows.map((r) => ({ id: r.id, repo: r.repo, trigger: r.trigger, reason: r.held_reason, until: r.held_until, since: r.held_since }));
  }

  queued(): TaskRow[] {
    return this.rows(this.db.prepare<[], StoredTaskRow>("SELECT * FROM tasks WHERE state = 'queued' ORDER BY id").all());
  }

  get(id: number): TaskRow | undefined {
    return this.row(this.db.prepare<[number], StoredTaskRow>('SELECT * FROM tasks WHERE id = ?').get(id));
  }

  batchPaths(batchId: number): string[] {
    const row = this.db.prepare<[number], { paths: string }>('SELECT paths FROM batches WHERE id = ?').get(batchId);
    return row ? BatchPaths.parse(JSON.parse(row.paths)) : [];
  }

  /**
   * True when the batch holds a manual poke: the user asked for this task themselves, now. Changes
   * that were waiting in the same batch (held by quiet hours, say) ride along with the request.
   */
  batchHasPoke(batchId: number): boolean {
    return !!this.db.prepare("SELECT 1 FROM batch_events be JOIN events e ON e.id = be.event_id WHERE be.batch_id = ? AND e.type = 'manual' LIMIT 1").get(batchId);
  }

  /** Task starts since `since` in a repository, for the gate's rate limits. */
  startsSince(repo: string, since: string): Array<{ trigger: string; at: Date }> {
    const rows = this.db.prepare<[string, string], { trigger: string; started_at: string }>('SELECT trigger, started_at FROM tasks WHERE repo = ? AND started_at >= ?').all(repo, since);
    return rows.map((r) => ({ trigger: r.trigger, at: new Date(r.started_at) }));
  }

  /** The last finished run of a trigger, for cool-downs and `notify: on_change`. */
  lastFinished(repo: string, trigger: string, beforeId?: number): TaskRow | undefined {
    return this.row(
      this.db
        .prepare<[string, string, number], StoredTaskRow>(`SELECT * FROM tasks WHERE repo = ? AND trigger = ? AND state IN ('done','failed') AND id < ? ORDER BY id DESC LIMIT 1`)
        .get(repo, trigger, beforeId ?? Number.MAX_SAFE_INTEGER),
    );
  }

  lastStarted(repo: string, trigger: string): TaskRow | undefined {
    return this.row(
      this.db.prepare<[string, string], StoredTaskRow>('SELECT * FROM tasks WHERE repo = ? AND trigger = ? AND started_at IS NOT NULL ORDER BY started_at DESC LIMIT 1').get(repo, trigger),
    );
  }

  list(q: { limit?: number | undefined; repo?: string | undefined; state?: string | undefined } = {}): TaskRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.repo) {
      where.push('repo = ?');
      args.push(q.repo);
    }
    if (q.state) {
      where.push('state = ?');
      args.push(q.state);
    }
    args.push(q.limit ?? 50);
    return this.rows(this.db.prepare<unknown[], StoredTaskRow>(`SELECT * FROM tasks ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`).all(...args));
  }

  /** Every task row leaves the store through here: its JSON parsed once, a bad one flagged (never thrown). */
  private row(r: StoredTaskRow | undefined): TaskRow | undefined {
    return r === undefined ? undefined : this.toTaskRow(r);
  }

  private toTaskRow(r: StoredTaskRow): TaskRow {
    const { data, problem } = readTaskData(r.data);
    if (problem !== null && this.onBadData && !this.reported.has(r.id)) {
      this.reported.add(r.id);
      this.onBadData(r.id, problem);
    }
    return { ...r, data, data_problem: problem };
  }

  private rows(stored: StoredTaskRow[]): TaskRow[] {
    return stored.map((r) => this.toTaskRow(r));
  }

  private logTransition(id: number, from: TaskState | null, to: TaskState, at: string, reason: string | null): void {
    this.db
      .prepare('INSERT INTO task_transitions (task_id, from_state, to_state, at, reason) VALUES (?, ?, ?, ?, ?)')
      .run(id, from, to, at, reason);
  }
}
