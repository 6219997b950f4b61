import path from 'node:path';
import Database from 'better-sqlite3';

/** Reads the daemon's store directly (read-only, WAL lets it run beside the daemon): quicker than a CLI call per poll. */
export function storeQuery<T>(home: string, sql: string, ...args: unknown[]): T[] {
  const db = new Database(path.join(home, 'kairos.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...args) as T[];
  } finally {
    db.close();
  }
}

export interface FileEventRow {
  id: number;
  type: string;
  path: string;
  origin: string;
}

export function fileEvents(home: string, where = '1'): FileEventRow[] {
  return storeQuery<FileEventRow>(home, `SELECT id, type, path, origin FROM events WHERE type LIKE 'file.%' AND ${where} ORDER BY id`);
}
