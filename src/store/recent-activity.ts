import type { Db } from './db.js';

/**
 * What happened lately in one repository, as the deciding steps read it (src/pipeline/decide.ts,
 * src/pipeline/triage.ts): its newest user events and finished tasks. Task times are ISO strings in UTC.
 */

/** Did a rule's command of this repository finish after `sinceIso`? */
export function commandFinishedSince(db: Db, repo: string, sinceIso: string): boolean {
  return db.prepare(`SELECT 1 FROM tasks WHERE repo = ? AND kind = 'command' AND finished_at > ? LIMIT 1`).get(repo, sinceIso) !== undefined;
}

/** Did a task of this repository fail after `sinceIso`? */
export function taskFailedSince(db: Db, repo: string, sinceIso: string): boolean {
  return db.prepare(`SELECT 1 FROM tasks WHERE repo = ? AND state = 'failed' AND finished_at > ? LIMIT 1`).get(repo, sinceIso) !== undefined;
}

/** The type and path of the repository's newest user events, newest first. */
export function recentUserEvents(db: Db, repo: string, limit: number): Array<{ type: string; path: string | null }> {
  return db.prepare<[string, number], { type: string; path: string | null }>(`SELECT type, path FROM events WHERE repo = ? AND origin = 'user' ORDER BY id DESC LIMIT ?`).all(repo, limit);
}

export interface FinishedTaskSummary {
  trigger: string;
  state: string;
  exit_code: number | null;
  finished_at: string;
  output: string | null;
}

/** The repository's newest finished tasks, newest first. */
export function recentFinishedTasks(db: Db, repo: string, limit: number): FinishedTaskSummary[] {
  return db
    .prepare<[string, number], FinishedTaskSummary>(
      `SELECT trigger, state, exit_code, finished_at, output FROM tasks
       WHERE repo = ? AND finished_at IS NOT NULL ORDER BY id DESC LIMIT ?`,
    )
    .all(repo, limit);
}

/** The stored `data` of the newest `git.commit` events among `eventIds` (at most `limit`), newest first. */
export function commitEventData(db: Db, repo: string, eventIds: readonly number[], limit: number): string[] {
  const rows = db
    .prepare<[string, string, number], { data: string }>(`SELECT data FROM events WHERE repo = ? AND type = 'git.commit' AND id IN (SELECT value FROM json_each(?)) ORDER BY id DESC LIMIT ?`)
    .all(repo, JSON.stringify(eventIds), limit);
  return rows.map((r) => r.data);
}
