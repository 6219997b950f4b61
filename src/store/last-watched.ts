import Database from 'better-sqlite3';
import { storePath } from './db.js';

/**
 * The repositories the last run watched, read without writing anything (no migration, no journal
 * set-up, no lock): `kairos run` without --repo (the service unit, `kairos start` with no argument)
 * begins watching them before the daemon has loaded (src/cli/early-run.ts). Any problem (no store
 * yet, another version's, a damaged one) is an empty list: the daemon reads the store properly next
 * and says what is wrong with it.
 */
export function lastWatchedRepos(home: string): string[] {
  let db: Database.Database | undefined;
  try {
    db = new Database(storePath(home), { readonly: true, fileMustExist: true });
    return db
      .prepare<[], { path: unknown }>('SELECT path FROM repos WHERE watched = 1 ORDER BY path')
      .all()
      .flatMap((r) => (typeof r.path === 'string' ? [r.path] : []));
  } catch {
    return []; // only a start not begun early
  } finally {
    db?.close();
  }
}
