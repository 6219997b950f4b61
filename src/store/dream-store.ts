import type { Db } from './db.js';

/** The dream runs of src/pipeline/dream.ts (table dream_runs) and the event id a dream reads up to. */

export interface DreamRunRow {
  id: number;
  state: string;
  started_at: number;
  lock_expires_at: number | null;
  through_event_id: number | null;
}

export interface DreamRunEnd {
  state: 'done' | 'skipped' | 'failed';
  reason: string | null;
  finishedAt: number;
  throughEventId: number | null;
  lines: number | null;
  costMicros: number;
}

/** Records a dream that did not run, and why; returns its id. */
export function insertSkippedDream(db: Db, repo: string, now: number, reason: string): number {
  const info = db.prepare(`INSERT INTO dream_runs (repo, started_at, finished_at, state, reason) VALUES (?, ?, ?, 'skipped', ?)`).run(repo, now, now, reason);
  return Number(info.lastInsertRowid);
}

/** The repository's latest finished dream. */
export function lastDoneDream(db: Db, repo: string): DreamRunRow | undefined {
  return db.prepare<[string], DreamRunRow>(`SELECT * FROM dream_runs WHERE repo = ? AND state = 'done' ORDER BY started_at DESC LIMIT 1`).get(repo);
}

/** The id of the repository's newest user event, or null when it has none. */
export function newestUserEventId(db: Db, repo: string): number | null {
  return db.prepare<[string], { id: number | null }>(`SELECT MAX(id) AS id FROM events WHERE repo = ? AND origin = 'user'`).get(repo)?.id ?? null;
}

/**
 * Inserts the 'running' row, clearing a crashed run's expired lock first, in one IMMEDIATE
 * transaction (two daemons cannot both take it). Undefined when a live lock is held.
 */
export function takeDreamLock(db: Db, repo: string, now: number, ttlMs: number): number | undefined {
  return db
    .transaction((): number | undefined => {
      const held = db.prepare<[string], DreamRunRow>(`SELECT * FROM dream_runs WHERE repo = ? AND state = 'running'`).get(repo);
      if (held) {
        if ((held.lock_expires_at ?? 0) > now) return undefined;
        db.prepare(`UPDATE dream_runs SET state = 'failed', reason = 'did not finish (lock expired)', finished_at = ? WHERE id = ?`).run(now, held.id);
      }
      const info = db.prepare(`INSERT INTO dream_runs (repo, started_at, state, lock_expires_at) VALUES (?, ?, 'running', ?)`).run(repo, now, now + ttlMs);
      return Number(info.lastInsertRowid);
    })
    .immediate();
}

/** Ends a running dream and frees its lock. */
export function finishDream(db: Db, runId: number, end: DreamRunEnd): void {
  db.prepare(
    `UPDATE dream_runs SET state = ?, reason = ?, finished_at = ?, lock_expires_at = NULL, through_event_id = ?, lines = ?, cost_micros = ? WHERE id = ?`,
  ).run(end.state, end.reason, end.finishedAt, end.throughEventId, end.lines, end.costMicros, runId);
}

/** When the last finished dream started, and the newest run of any state (for `kairos status`). */
export function dreamHistory(db: Db, repo: string): { doneAt: number | undefined; latest: { started_at: number; state: string; reason: string | null } | undefined } {
  const done = db.prepare<[string], { started_at: number }>(`SELECT started_at FROM dream_runs WHERE repo = ? AND state = 'done' ORDER BY started_at DESC, id DESC LIMIT 1`).get(repo);
  const latest = db.prepare<[string], { started_at: number; state: string; reason: string | null }>(`SELECT started_at, state, reason FROM dream_runs WHERE repo = ? ORDER BY id DESC LIMIT 1`).get(repo);
  return { doneAt: done?.started_at, latest };
}
