import type { Db } from './db.js';
import { EventDraft, type StoredEvent } from '../events/event.js';
import { StoreError } from '../core/errors.js';

interface EventRow {
  id: number;
  type: string;
  repo: string;
  at: string;
  path: string | null;
  origin: string;
  data: string;
}

export interface EventQuery {
  repo?: string | undefined;
  limit?: number | undefined;
  afterId?: number | undefined;
  types?: string[] | undefined;
}

/** A stored row back to its event, checked against the same schema its draft passed on the way in. */
function fromRow(r: EventRow): StoredEvent {
  const draft = { type: r.type, repo: r.repo, at: r.at, origin: r.origin, data: JSON.parse(r.data), ...(r.path !== null && { path: r.path }) };
  const parsed = EventDraft.safeParse(draft);
  if (!parsed.success) throw new StoreError(`event ${r.id} in the store does not match the event schema: ${parsed.error.message}`, { cause: parsed.error });
  const e: StoredEvent = { ...parsed.data, id: r.id };
  if (r.path !== null) e.path = r.path;
  return e;
}

/** The append-only event log. Writes are batched into one transaction so a storm stays cheap. */
export class EventStore {
  /** Rows in the table, counted once and then kept by this store's own writes (status asks often; COUNT(*) reads every row). */
  private total: number | undefined;
  /**
   * The transactions, made once: a steady writer (20 events/s, one per watcher delivery) stores one
   * event per call, and wrapping a new function per call showed in its profile.
   */
  private readonly appendTx;
  private readonly settleTx;
  constructor(private readonly db: Db) {
    // Positional parameters: binding by name costs a lookup per column per row.
    const insert = db.prepare<[string, string, string, string | null, string, string]>('INSERT INTO events (type, repo, at, path, origin, data) VALUES (?, ?, ?, ?, ?, ?)');
    const settle = db.prepare<[string, number]>('UPDATE events SET settled_at = ? WHERE id = ? AND settled_at IS NULL');
    this.appendTx = db.transaction((list: readonly EventDraft[]) =>
      list.map((d) => {
        const path = 'path' in d ? d.path : null;
        const info = insert.run(d.type, d.repo, d.at, path, d.origin, JSON.stringify(d.data ?? {}));
        return { ...d, id: Number(info.lastInsertRowid) } as StoredEvent;
      }),
    );
    this.settleTx = db.transaction((list: readonly number[], at: string) => {
      for (const id of list) settle.run(at, id);
    });
  }

  /** Stores all drafts in one transaction and returns them with their ids, in order. */
  appendMany(drafts: readonly EventDraft[]): StoredEvent[] {
    const stored = this.appendTx(drafts);
    // Counted after the transaction returns: an outer transaction that rolls back throws past this line
    // only when it is this one; a caller's enclosing transaction that fails later calls recount().
    if (this.total !== undefined) this.total += stored.length;
    return stored;
  }

  markSettled(ids: readonly number[], at: string): void {
    this.settleTx(ids, at);
  }

  /** Events stored but not yet settled into a batch: replayed after a crash. */
  unsettled(): StoredEvent[] {
    const rows = this.db.prepare<[], EventRow>('SELECT * FROM events WHERE settled_at IS NULL ORDER BY id').all();
    return rows.map(fromRow);
  }

  /**
   * Per path, whether the repository's last file event not yet acted on left the file present or
   * gone: events never settled (a start that follows a crash replays them) and events in a batch whose
   * task has not started (it runs at the start, and new events for its trigger join it). The watcher's
   * offline report leaves out what these already say.
   */
  pendingFileStates(repo: string): Map<string, 'present' | 'gone'> {
    const rows = this.db
      .prepare<[string, string], { path: string | null; type: string }>(
        `SELECT path, type FROM events
          WHERE repo = ? AND type IN ('file.added', 'file.changed', 'file.removed')
            AND (settled_at IS NULL OR id IN (SELECT be.event_id FROM tasks t JOIN batch_events be ON be.batch_id = t.batch_id WHERE t.state = 'queued' AND t.repo = ?))
          ORDER BY id`,
      )
      .all(repo, repo);
    const out = new Map<string, 'present' | 'gone'>();
    for (const r of rows) if (r.path !== null) out.set(r.path, r.type === 'file.removed' ? 'gone' : 'present');
    return out;
  }

  byIds(ids: readonly number[]): StoredEvent[] {
    const out: StoredEvent[] = [];
    // Chunked: SQLite limits the number of bound parameters in one statement.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.db.prepare<number[], EventRow>(`SELECT * FROM events WHERE id IN (${chunk.map(() => '?').join(',')}) ORDER BY id`).all(...chunk);
      out.push(...rows.map(fromRow));
    }
    return out;
  }

  /**
   * Newest first, like `git log`. One indexed query per type (events_type_id / events_repo_type_id),
   * merged here: `type IN (a, b) ORDER BY id DESC` would make SQLite collect and sort every match.
   */
  list(q: EventQuery = {}): StoredEvent[] {
    const limit = q.limit ?? 100;
    const types = q.types?.length ? [...new Set(q.types)] : [undefined];
    const rows = types.flatMap((type) => this.newest(q, type, limit));
    rows.sort((a, b) => b.id - a.id);
    return rows.slice(0, limit).map(fromRow);
  }

  private newest(q: EventQuery, type: string | undefined, limit: number): EventRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.repo) {
      where.push('repo = ?');
      args.push(q.repo);
    }
    if (type !== undefined) {
      where.push('type = ?');
      args.push(type);
    }
    if (q.afterId !== undefined) {
      where.push('id > ?');
      args.push(q.afterId);
    }
    const sql = `SELECT * FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    return this.db.prepare<unknown[], EventRow>(sql).all(...args, limit);
  }

  /** How many events are stored. Counted once per store object, then kept up to date by its writes and prunes. */
  count(): number {
    this.total ??= this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM events').get()?.n ?? 0;
    return this.total;
  }

  /** Forget the cached count (after a transaction around appendMany rolled back, or rows were deleted elsewhere). */
  recount(): void {
    this.total = undefined;
  }

  /** The newest event's id; 0 when there is none. */
  maxId(): number {
    return this.db.prepare<[], { id: number | null }>('SELECT max(id) AS id FROM events').get()?.id ?? 0;
  }

  /** Retention removed `n` rows. */
  noteDeleted(n: number): void {
    if (this.total !== undefined) this.total = Math.max(0, this.total - n);
  }
}

/** The notes of the `kairos poke` events of one batch, oldest first. */
export function pokeNotes(db: Db, batchId: number): string[] {
  return db
    .prepare<[number], string>("SELECT json_extract(e.data, '$.note') AS note FROM batch_events be JOIN events e ON e.id = be.event_id WHERE be.batch_id = ? AND e.type = 'manual' AND json_extract(e.data, '$.note') IS NOT NULL ORDER BY e.id")
    .pluck()
    .all(batchId);
}
