import type { Db } from './db.js';
import { isFinal, TASK_STATES } from './task-states.js';
import { StoreError } from '../core/errors.js';

/** How long stored history is kept; 0 keeps it forever. */
export interface RetentionSettings {
  events_days: number;
  tasks_days: number;
}

/** Also written in policies/default.yaml; these apply when no policy says. */
export const RETENTION_DEFAULTS: RetentionSettings = { events_days: 30, tasks_days: 90 };

export interface PruneOptions {
  now: Date;
  /** At most this many rows are looked at per transaction. */
  chunk?: number;
  /**
   * And a transaction ends once it has worked this long (default 5 ms), so a write from the watcher
   * waits at most about this plus the commit (and a WAL checkpoint, when one falls due).
   */
  chunkMs?: number;
  /** Called between chunks: the caller hands the event loop back to the watcher and the control socket. */
  pause(): Promise<void>;
  /** Asked between chunks; true ends the prune early (the daemon is stopping). */
  cancelled?(): boolean;
  /** Told how long each transaction took (for measurements). */
  onChunk?(phase: 'tasks' | 'events' | 'vacuum', ms: number): void;
}

export interface PruneResult {
  events: number;
  tasks: number;
  batches: number;
  /** Pages given back to the file system by the incremental vacuum. */
  vacuumed_pages: number;
  chunks: number;
  /** The longest single transaction: the most a concurrent write could have waited. */
  longest_chunk_ms: number;
  ms: number;
  cancelled: boolean;
}

const DAY_MS = 86_400_000;
/** Tasks in these states may still run or wait for a human: they and their events are kept. */
const LIVE_TASK_STATES = TASK_STATES.filter((s) => !isFinal(s));
const DEFAULT_CHUNK = 1000;
const DEFAULT_CHUNK_MS = 5;
const VACUUM_PAGES_PER_STEP = 512;

/**
 * Removes events and tasks older than the retention window, in small transactions with a pause
 * between them, then gives the freed pages back with an incremental vacuum.
 *
 * Never removed: unsettled events (a trigger still holds them, or they replay after a crash), events
 * and tasks a live task or an open approval points to, and audit rows (the audit chain is kept whole).
 * Rows are walked in id order, which is arrival order; the walk stops at the first chunk holding
 * nothing old enough, so a prune costs what it removes, not the size of the store.
 */
export async function pruneStore(db: Db, settings: RetentionSettings, o: PruneOptions): Promise<PruneResult> {
  const started = performance.now();
  const r: PruneResult = { events: 0, tasks: 0, batches: 0, vacuumed_pages: 0, chunks: 0, longest_chunk_ms: 0, ms: 0, cancelled: false };
  const chunk = o.chunk ?? DEFAULT_CHUNK;
  const budget = o.chunkMs ?? DEFAULT_CHUNK_MS;
  let phase: 'tasks' | 'events' | 'vacuum' = 'tasks';
  const timed = <T>(fn: () => T): T => {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      const ms = performance.now() - t0;
      r.chunks++;
      r.longest_chunk_ms = Math.max(r.longest_chunk_ms, ms);
      o.onChunk?.(phase, ms);
    }
  };
  const stop = (): boolean => (r.cancelled ||= o.cancelled?.() ?? false);

  if (settings.tasks_days > 0) {
    const cutoff = new Date(o.now.getTime() - settings.tasks_days * DAY_MS).toISOString();
    const tasks = new TaskPruner(db);
    let after = 0;
    while (!stop()) {
      const step = timed(() => db.transaction(() => tasks.step(after, chunk, cutoff, performance.now() + budget))());
      r.tasks += step.tasks;
      r.batches += step.batches;
      if (!step.more) break;
      after = step.last!;
      await o.pause();
    }
  }
  phase = 'events';
  if (settings.events_days > 0 && !stop()) {
    const cutoff = new Date(o.now.getTime() - settings.events_days * DAY_MS).toISOString();
    const events = new EventPruner(db);
    let after = 0;
    while (!stop()) {
      const step = timed(() => db.transaction(() => events.step(after, chunk, cutoff, performance.now() + budget))());
      r.events += step.deleted;
      if (!step.more) break;
      after = step.last!;
      await o.pause();
    }
  }
  phase = 'vacuum';
  if (r.events + r.tasks > 0 && !stop()) r.vacuumed_pages = await incrementalVacuum(db, o, timed, stop);
  r.ms = Math.round(performance.now() - started);
  r.longest_chunk_ms = Math.round(r.longest_chunk_ms * 10) / 10;
  return r;
}

/**
 * Tasks with an approval someone may still answer (or that is being applied). Asked again for every chunk (a few rows: the open
 * approvals), so one created while the prune runs is respected.
 */
function openApprovalTasks(db: Db): Set<number> {
  // Written out, not bound: SQLite uses the partial index approvals_open_task only for this very term.
  const ids = db.prepare<[], string | null>("SELECT task_id FROM approvals WHERE state IN ('pending', 'applying')").pluck().all();
  return new Set(ids.filter((id): id is string => id !== null).map(Number));
}

/** Batches that must keep their events: those of a live task or of a task with an open approval. */
function protectedBatches(db: Db): Set<number> {
  const live = db
    .prepare<string[], number>(`SELECT batch_id FROM tasks WHERE state IN (${LIVE_TASK_STATES.map(() => '?').join(', ')}) AND batch_id IS NOT NULL`)
    .pluck()
    .all(...LIVE_TASK_STATES);
  const keep = new Set(live);
  const byId = db.prepare<[number], number | null>('SELECT batch_id FROM tasks WHERE id = ?').pluck();
  for (const id of openApprovalTasks(db)) {
    const b = byId.get(id);
    if (b != null) keep.add(b);
  }
  return keep;
}

class EventPruner {
  private readonly page;
  private readonly batchesOf;
  private readonly unlink;
  private readonly remove;
  constructor(private readonly db: Db) {
    this.page = db.prepare<[number, number], { id: number; at: string; settled_at: string | null }>('SELECT id, at, settled_at FROM events WHERE id > ? ORDER BY id LIMIT ?');
    this.batchesOf = db.prepare<[number], number>('SELECT batch_id FROM batch_events WHERE event_id = ?').pluck();
    this.unlink = db.prepare('DELETE FROM batch_events WHERE event_id = ?');
    this.remove = db.prepare('DELETE FROM events WHERE id = ?');
  }

  /** One transaction's work: rows after `after`, until `limit` rows or the `deadline` (at least one row). */
  step(after: number, limit: number, cutoff: string, deadline: number): { last: number | undefined; more: boolean; deleted: number } {
    const rows = this.page.all(after, limit);
    const keep = protectedBatches(this.db);
    let deleted = 0;
    let sawOld = false;
    let last: number | undefined;
    for (const e of rows) {
      last = e.id;
      if (e.at < cutoff) {
        sawOld = true;
        deleted += this.prune(e, keep);
      }
      if (performance.now() > deadline) return { last, more: true, deleted };
    }
    return { last, more: last !== undefined && sawOld, deleted };
  }

  private prune(e: { id: number; settled_at: string | null }, keep: Set<number>): number {
    if (e.settled_at === null) return 0;
    const batches = this.batchesOf.all(e.id);
    if (batches.some((b) => keep.has(b))) return 0;
    // The batch keeps its path list and event count; only the link to the gone event goes.
    if (batches.length) this.unlink.run(e.id);
    return this.remove.run(e.id).changes;
  }
}

class TaskPruner {
  private readonly page;
  private readonly transitions;
  private readonly remove;
  private readonly batchStillUsed;
  private readonly batchEvents;
  private readonly batch;
  constructor(private readonly db: Db) {
    this.page = db.prepare<[number, number], { id: number; state: string; batch_id: number | null; created_at: string; finished_at: string | null }>(
      'SELECT id, state, batch_id, created_at, finished_at FROM tasks WHERE id > ? ORDER BY id LIMIT ?',
    );
    this.transitions = db.prepare('DELETE FROM task_transitions WHERE task_id = ?');
    this.remove = db.prepare('DELETE FROM tasks WHERE id = ?');
    this.batchStillUsed = db.prepare('SELECT 1 FROM tasks WHERE batch_id = ? LIMIT 1');
    this.batchEvents = db.prepare('DELETE FROM batch_events WHERE batch_id = ?');
    this.batch = db.prepare('DELETE FROM batches WHERE id = ?');
  }

  /** As EventPruner.step. */
  step(after: number, limit: number, cutoff: string, deadline: number): { last: number | undefined; more: boolean; tasks: number; batches: number } {
    const rows = this.page.all(after, limit);
    const awaited = openApprovalTasks(this.db);
    let tasks = 0;
    let batches = 0;
    let sawOld = false;
    let last: number | undefined;
    for (const t of rows) {
      if (last !== undefined && performance.now() > deadline) return { last, more: true, tasks, batches };
      last = t.id;
      if ((t.finished_at ?? t.created_at) >= cutoff) continue;
      sawOld = true;
      if ((LIVE_TASK_STATES as readonly string[]).includes(t.state) || awaited.has(t.id)) continue;
      this.transitions.run(t.id);
      tasks += this.remove.run(t.id).changes;
      // A batch may be shared (an agent follow-up of a command task): it goes with the last task of it.
      if (t.batch_id !== null && !this.batchStillUsed.get(t.batch_id)) {
        this.batchEvents.run(t.batch_id);
        batches += this.batch.run(t.batch_id).changes;
      }
    }
    return { last, more: last !== undefined && sawOld, tasks, batches };
  }
}

/** Gives free pages back to the file system a few hundred at a time (auto_vacuum = INCREMENTAL only). */
async function incrementalVacuum(db: Db, o: PruneOptions, timed: <T>(fn: () => T) => T, stop: () => boolean): Promise<number> {
  if (db.pragma('auto_vacuum', { simple: true }) !== 2) return 0;
  let freed = 0;
  for (;;) {
    const free = freelistCount(db);
    if (free === 0 || stop()) return freed;
    const n = Math.min(free, VACUUM_PAGES_PER_STEP);
    timed(() => db.pragma(`incremental_vacuum(${n})`));
    freed += free - freelistCount(db);
    await o.pause();
  }
}

/** The store's free pages. `pragma()` is typed unknown; SQLite answers this one with an integer. */
function freelistCount(db: Db): number {
  const n = db.pragma('freelist_count', { simple: true });
  if (typeof n !== 'number') throw new StoreError(`PRAGMA freelist_count answered ${String(n)}, not a number of pages`);
  return n;
}

/**
 * When the oldest event and the oldest task were created (ISO), undefined when there is none. Ids grow
 * with time, so the first row by id is the oldest (a task's finished_at is never before its created_at).
 */
export function oldestRows(db: Db): { eventAt: string | undefined; taskCreatedAt: string | undefined } {
  return {
    eventAt: db.prepare<[], string>('SELECT at FROM events ORDER BY id LIMIT 1').pluck().get(),
    taskCreatedAt: db.prepare<[], string>('SELECT created_at FROM tasks ORDER BY id LIMIT 1').pluck().get(),
  };
}

/**
 * A store created before incremental vacuum existed has auto_vacuum = NONE; switching needs one full
 * VACUUM (a rewrite of the file, needing as much free disk again). Returns what was done, for the log.
 */
export function ensureIncrementalVacuum(db: Db): 'already' | 'converted' {
  if (db.pragma('auto_vacuum', { simple: true }) === 2) return 'already';
  db.pragma('auto_vacuum = INCREMENTAL');
  db.exec('VACUUM');
  return 'converted';
}
