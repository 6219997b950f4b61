import type { Db } from '../store/db.js';
import { SpendRecoveryStore } from '../store/spend-recovery-store.js';
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
  private readonly store: SpendRecoveryStore;

  constructor(db: Db) {
    this.store = new SpendRecoveryStore(db);
  }

  recordLadderStep(step: LadderStepRecord, now: number): void {
    this.store.insertLadderStep(
      {
        fromModel: step.fromModel,
        toModel: step.toModel,
        reason: step.reason,
        taskId: step.taskId ?? null,
        trigger: step.trigger ?? null,
        repo: step.repo ?? null,
        cause: step.cause ?? 'budget',
        origin: step.origin ?? null,
      },
      now,
    );
  }

  /**
   * The model a task fell back to after repeated overloads (the latest such step), so the task's
   * next calls start there instead of hammering the overloaded model again; undefined if none.
   */
  overloadFallback(taskId: string): string | undefined {
    return this.store.latestOverloadFallback(taskId);
  }

  /** A retry waited for, or a call given up, recorded for `kairos spend` and the daily log. */
  recordRecovery(e: RecoveryRecord, now: number): void {
    const keys = windowKeys(now);
    this.store.insertRecovery(
      {
        kind: e.kind,
        origin: e.origin,
        model: e.model,
        reason: e.reason,
        waitedMs: e.waitedMs ?? null,
        taskId: e.taskId ?? null,
        trigger: e.trigger ?? null,
        repo: e.repo ?? null,
        dayKey: keys.day,
        monthKey: keys.month,
      },
      now,
    );
  }
}
