import type { Db } from './db.js';
import { readHead, type AuditHead, type HashedRow } from './audit-chain.js';

/**
 * The SQL of the audit log (src/policy/audit.ts): appending hash-chained rows, moving the head,
 * reading recent rows and pruning the chain's start (tables in src/store/audit-schema.ts; the hash
 * rules in src/store/audit-chain.ts). The two append statements are prepared once per log: every
 * step the layers evaluate writes through them.
 */

/** An audit row as stored; src/policy/audit.ts's AuditRow names the layer and verdict types. */
export interface StoredAuditRow {
  id: number;
  at: string;
  repo: string;
  task_id: number | null;
  trigger: string | null;
  origin: string;
  what: string;
  layer: string;
  verdict: string;
  reason: string | null;
  rule: string | null;
  queued: number;
  final: string | null;
  eval_id: string;
  prev_hash: string;
  hash: string;
}

export interface AuditRowQuery {
  repo?: string | undefined;
  taskId?: number | undefined;
  limit?: number | undefined;
}

export class AuditStore {
  private readonly insert;
  private readonly moveHeadStatement;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(
      `INSERT INTO audit (at, repo, task_id, trigger, origin, what, layer, verdict, reason, rule, queued, final, eval_id, prev_hash, hash)
       VALUES (@at, @repo, @task_id, @trigger, @origin, @what, @layer, @verdict, @reason, @rule, @queued, @final, @eval_id, @prev_hash, @hash)`,
    );
    this.moveHeadStatement = db.prepare('UPDATE audit_head SET last_id = ?, count = ?, hash = ?, updated_at = ? WHERE id = 1');
  }

  /**
   * Runs fn in a transaction that takes the write lock before fn reads the head (BEGIN IMMEDIATE), so
   * two connections can never link two rows to the same one. Inside a caller's transaction it joins
   * that one (which must then be IMMEDIATE, or already hold the write lock, for the same guarantee).
   */
  appending(fn: () => void): void {
    if (this.db.inTransaction) this.db.transaction(fn)();
    else this.db.transaction(fn).immediate();
  }

  head(): AuditHead | undefined {
    return readHead(this.db);
  }

  /** Inserts one linked row; returns its id. */
  insertRow(row: HashedRow & { prev_hash: string; hash: string }): number {
    return Number(this.insert.run(row).lastInsertRowid);
  }

  moveHead(lastId: number, count: number, hash: string, at: string): void {
    this.moveHeadStatement.run(lastId, count, hash, at);
  }

  /** Most recent first. */
  recent(q: AuditRowQuery): StoredAuditRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.repo !== undefined) {
      where.push('repo = ?');
      args.push(q.repo);
    }
    if (q.taskId !== undefined) {
      where.push('task_id = ?');
      args.push(q.taskId);
    }
    const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return this.db.prepare<(string | number)[], StoredAuditRow>(sql).all(...args, q.limit ?? 100);
  }

  /**
   * Removes the rows before `keepFromId` and moves the chain's start to that row (its prev_hash
   * becomes the start link), in one immediate transaction. Returns how many rows went.
   */
  prune(keepFromId: number): number {
    return this.db
      .transaction((): number => {
        const head = readHead(this.db);
        if (!head || keepFromId <= head.first_id) return 0;
        const from = Math.min(keepFromId, head.last_id + 1);
        const first = this.db.prepare<[number], { prev_hash: string }>('SELECT prev_hash FROM audit WHERE id = ?').get(from);
        const gone = this.db.prepare<[number, number], { n: number }>('SELECT count(*) AS n FROM audit WHERE id >= ? AND id < ?').get(head.first_id, from)?.n ?? 0;
        this.db
          .prepare('UPDATE audit_head SET first_id = ?, first_prev_hash = ?, count = count - ?, updated_at = ? WHERE id = 1')
          .run(from, first?.prev_hash ?? head.hash, gone, new Date().toISOString());
        this.db.prepare('DELETE FROM audit WHERE id < ?').run(from);
        return gone;
      })
      .immediate();
  }

}

/** Reads rows' hashes by id (undefined: gone by retention, or never there), one prepared statement for many reads. */
export function auditHashReader(db: Db): (id: number) => string | undefined {
  const hashOf = db.prepare<[number], { hash: string }>('SELECT hash FROM audit WHERE id = ?');
  return (id) => hashOf.get(id)?.hash;
}
