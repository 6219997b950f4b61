import fs from 'node:fs';
import path from 'node:path';

/**
 * `kairos doctor`'s SQLite check: does better-sqlite3 load, and does a database in WAL mode work
 * in this folder? The driver is imported here, on demand, so a broken native build is reported
 * by the doctor instead of stopping it from starting.
 */

export type SqliteProbe =
  | { kind: 'unloadable'; error: unknown }
  | { kind: 'unopenable'; error: unknown }
  | { kind: 'opened'; journalMode: string; version: string };

/** Creates a scratch database at `file` (its folder made if needed), writes a row, reads the SQLite version, and removes it. */
export async function probeSqlite(file: string): Promise<SqliteProbe> {
  let Database: typeof import('better-sqlite3');
  try {
    Database = (await import('better-sqlite3')).default;
  } catch (error) {
    return { kind: 'unloadable', error };
  }
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const db = new Database(file);
    try {
      // pragma() is typed unknown; `journal_mode` answers the mode's name.
      const journalMode = String(db.pragma('journal_mode = WAL', { simple: true }));
      db.exec('CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);');
      const version = db.prepare<[], { v: string }>('SELECT sqlite_version() AS v').get()?.v ?? 'unknown';
      return { kind: 'opened', journalMode, version };
    } finally {
      db.close();
    }
  } catch (error) {
    return { kind: 'unopenable', error };
  } finally {
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      try {
        fs.rmSync(file + suffix, { force: true });
      } catch {
        // nothing was created there
      }
    }
  }
}
