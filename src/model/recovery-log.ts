import type { Db } from '../store/db.js';
import type { Origin } from './origin.js';
import { windowKeys } from './windows.js';

/**
 * What recovery did, for `kairos spend` and the daily log: every step down the model ladder (for
 * the budget, or after repeated overloads), every retry waited for, every call given up.
 */

export interface LadderStepRecord {
  fromModel: string;
  /** null: no model, rules only. */
  toModel: string | null;
  reason: string;
  /** budget: the model did not fit what is left; overloaded: repeated 429/529. Default budget. */
  cause?: 'budget' | 'overloaded' | undefined;
  origin?: Origin | undefined;
  taskId?: string | undefined;
  trigger?: string | undefined;
  repo?: string | undefined;
}

export interface RecoveryRecord {
  kind: 'retry' | 'gave_up';
  origin: Origin;
  model: string;
  reason: string;
  waitedMs?: number | undefined;
  taskId?: string | undefined;
  trigger?: string | undefined;
  repo?: string | undefined;
}

export class RecoveryLog {
  constructor(private readonly db: Db) {}

  recordLadderStep(step: LadderStepRecord, now: number): void {
    this.db
      .prepare(
        `INSERT INTO spend_ladder_steps (at, from_model, to_model, reason, task_id, trigger, repo, cause, origin) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(now, step.fromModel, step.toModel, step.reason, step.taskId ?? null, step.trigger ?? null, step.repo ?? null, step.cause ?? 'budget', step.origin ?? null);
  }

  /**
   * The model a task fell back to after repeated overloads (the latest such step), so the task's
   * next calls start there instead of hammering the overloaded model again; undefined if none.
   */
  overloadFallback(taskId: string): string | undefined {
    const r = this.db
      .prepare(`SELECT to_model FROM spend_ladder_steps WHERE task_id = ? AND cause = 'overloaded' AND to_model IS NOT NULL ORDER BY id DESC LIMIT 1`)
      .get(taskId) as { to_model: string } | undefined;
    return r?.to_model;
  }

  /** A retry waited for, or a call given up, recorded for `kairos spend` and the daily log. */
  recordRecovery(e: RecoveryRecord, now: number): void {
    const keys = windowKeys(now);
    this.db
      .prepare(
        `INSERT INTO spend_recovery (at, kind, origin, model, reason, waited_ms, task_id, trigger, repo, day_key, month_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(now, e.kind, e.origin, e.model, e.reason, e.waitedMs ?? null, e.taskId ?? null, e.trigger ?? null, e.repo ?? null, keys.day, keys.month);
  }
}
