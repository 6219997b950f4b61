import type { Db } from './db.js';

/**
 * The rows of what model recovery did (src/model/recovery-log.ts): steps down the model ladder
 * (spend_ladder_steps) and retries or give-ups (spend_recovery), tables in src/store/spend-schema.ts.
 */

export interface LadderStepRow {
  fromModel: string;
  toModel: string | null;
  reason: string;
  taskId: string | null;
  trigger: string | null;
  repo: string | null;
  cause: 'budget' | 'overloaded';
  origin: string | null;
}

export interface RecoveryRow {
  kind: 'retry' | 'gave_up';
  origin: string;
  model: string;
  reason: string;
  waitedMs: number | null;
  taskId: string | null;
  trigger: string | null;
  repo: string | null;
  dayKey: string;
  monthKey: string;
}

export class SpendRecoveryStore {
  constructor(private readonly db: Db) {}

  insertLadderStep(s: LadderStepRow, now: number): void {
    this.db
      .prepare(
        `INSERT INTO spend_ladder_steps (at, from_model, to_model, reason, task_id, trigger, repo, cause, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(now, s.fromModel, s.toModel, s.reason, s.taskId, s.trigger, s.repo, s.cause, s.origin);
  }

  /** The model of the task's latest step down after repeated overloads, if any. */
  latestOverloadFallback(taskId: string): string | undefined {
    const r = this.db
      .prepare<[string], { to_model: string }>(`SELECT to_model FROM spend_ladder_steps WHERE task_id = ? AND cause = 'overloaded' AND to_model IS NOT NULL ORDER BY id DESC LIMIT 1`)
      .get(taskId);
    return r?.to_model;
  }

  insertRecovery(e: RecoveryRow, now: number): void {
    this.db
      .prepare(
        `INSERT INTO spend_recovery (at, kind, origin, model, reason, waited_ms, task_id, trigger, repo, day_key, month_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(now, e.kind, e.origin, e.model, e.reason, e.waitedMs, e.taskId, e.trigger, e.repo, e.dayKey, e.monthKey);
  }
}
