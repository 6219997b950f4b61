import type Database from 'better-sqlite3';
import type { Db } from './db.js';

/**
 * Statements prepared once per connection and SQL text, then reused. Preparing is SQLite's parse and
 * plan (tens of µs for a small statement); a trigger's start ran a dozen prepares (create the task,
 * gate, move, record the pid, finish) and they showed in a busy folder's profile. Statements made
 * from a few fixed pieces (an optional WHERE) are few, so the cache stays small. Callers must not
 * change a cached statement's mode (pluck, raw, expand): it is shared.
 */
export class StatementCache {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Db) {}

  get<P extends unknown[] | {} = unknown[], R = unknown>(sql: string): Database.Statement<P, R> {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s as unknown as Database.Statement<P, R>;
  }
}
