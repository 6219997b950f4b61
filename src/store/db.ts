import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { allMigrations } from './migrations.js';
import { isDamaged, StoreDamagedError } from './store-errors.js';
import './schemas.js';
import { messageOf } from '../core/errors.js';

export type Db = Database.Database;

/**
 * Opens (creating if needed) the SQLite store in WAL mode and applies pending migrations.
 * A file that is not a database, or is corrupt, throws StoreDamagedError (one line saying what to do).
 */
export function openDb(file: string): Db {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  let db: Db | undefined;
  try {
    db = new Database(file);
    configure(db);
    return db;
  } catch (e) {
    db?.close();
    if (isDamaged(e)) throw new StoreDamagedError(file, messageOf(e), { cause: e });
    throw e;
  }
}

function configure(db: Db): void {
  // A new store gives pages freed by retention back to the file system a few at a time; this can only
  // be chosen before the first table exists (an older store is converted by ensureIncrementalVacuum).
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' LIMIT 1").get()) db.pragma('auto_vacuum = INCREMENTAL');
  db.pragma('journal_mode = WAL');
  // NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the last commits).
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
}

export function migrate(db: Db): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const applied = new Set(
    db.prepare<[], { id: number }>('SELECT id FROM schema_migrations').all().map((r) => r.id),
  );
  for (const m of allMigrations()) {
    if (applied.has(m.id)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      m.run?.(db);
      db.prepare('INSERT INTO schema_migrations (id, name, applied_at) VALUES (?, ?, ?)').run(
        m.id,
        m.name,
        new Date().toISOString(),
      );
    })();
  }
}

/** The store file inside a Kairos home. */
export function storePath(home: string): string {
  return path.join(home, 'kairos.db');
}
