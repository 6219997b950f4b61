import type { Db } from './db.js';
import type { EventDraft, StoredEvent } from '../events/event.js';

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

function fromRow(r: EventRow): StoredEvent {
  const e = { id: r.id, type: r.type, repo: r.repo, at: r.at, origin: r.origin, data: JSON.parse(r.data) } as StoredEvent;
  if (r.path !== null) e.path = r.path;
  return e;
}

/** The append-only event log. Writes are batched into one transaction so a storm stays cheap. */
export class EventStore {
  private readonly insert;
  private readonly settle;
  constructor(private readonly db: Db) {
    this.insert = db.prepare(
      'INSERT INTO events (type, repo, at, path, origin, data) VALUES (@type, @repo, @at, @path, @origin, @data)',
    );
    this.settle = db.prepare('UPDATE events SET settled_at = ? WHERE id = ? AND settled_at IS NULL');
  }

  /** Stores all drafts in one transaction and returns them with their ids, in order. */
  appendMany(drafts: readonly EventDraft[]): StoredEvent[] {
    return this.db.transaction((list: readonly EventDraft[]) =>
      list.map((d) => {
        const path = 'path' in d ? d.path : null;
        const info = this.insert.run({
          type: d.type,
          repo: d.repo,
          at: d.at,
          path,
          origin: d.origin,
          data: JSON.stringify(d.data ?? {}),
        });
        return { ...d, id: Number(info.lastInsertRowid) } as StoredEvent;
      }),
    )(drafts);
  }

  markSettled(ids: readonly number[], at: string): void {
    this.db.transaction((list: readonly number[]) => {
      for (const id of list) this.settle.run(at, id);
    })(ids);
  }

  /** Events stored but not yet settled into a batch: replayed after a crash. */
  unsettled(): StoredEvent[] {
    const rows = this.db.prepare('SELECT * FROM events WHERE settled_at IS NULL ORDER BY id').all() as EventRow[];
    return rows.map(fromRow);
  }

  byIds(ids: readonly number[]): StoredEvent[] {
    const out: StoredEvent[] = [];
    // Chunked: SQLite limits the number of bound parameters in one statement.
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT * FROM events WHERE id IN (${chunk.map(() => '?').join(',')}) ORDER BY id`).all(...chunk) as EventRow[];
      out.push(...rows.map(fromRow));
    }
    return out;
  }

  /** Newest first, like `git log`. */
  list(q: EventQuery = {}): StoredEvent[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.repo) {
      where.push('repo = ?');
      args.push(q.repo);
    }
    if (q.afterId !== undefined) {
      where.push('id > ?');
      args.push(q.afterId);
    }
    if (q.types?.length) {
      where.push(`type IN (${q.types.map(() => '?').join(',')})`);
      args.push(...q.types);
    }
    const sql = `SELECT * FROM events ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY id DESC LIMIT ?`;
    args.push(q.limit ?? 100);
    return (this.db.prepare(sql).all(...args) as EventRow[]).map(fromRow);
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  }
}
